"""The validation gate and the statistics it records (docs/semantics.md: only a day that passed counts).

``gate`` runs inside a materialization, after the snapshot commit and before the materialization log:
each new snapshot partition (read at the exact Delta version just committed) is checked by the view's
Great Expectations suite, its per-feature statistics and drift are computed, and the alerts are
evaluated. A failure with severity "error" raises ValidationFailed (terminal); the materialization then
restores every table it touched, so the day is not materialized, nothing is published and the previous
online values stay served. Every attempt, passed or failed, is recorded in the view's quality table, with
its JSON result and GX Data Docs beside the Delta version it validated; statistics are written for
passing runs only.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypedDict

from pitstop.compute import stats as st
from pitstop.compute.aggregates import CREATED, DS, TS, ds_in, q
from pitstop.config import Config
from pitstop.errors import UsageError, ValidationFailed
from pitstop.jsontypes import JSONObject
from pitstop.plan import naming
from pitstop.plan.model import Monitoring, View
from pitstop.runtime.context import Context
from pitstop.runtime.tables import logged_days, snapshot_version
from pitstop.stores import delta
from pitstop.values import json_default, nan_to_null

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from pitstop.stores.gx_suite import Outcome

EXAMPLES = 5  # offending values and entity keys shown per failed check
SIDE_BY_SIDE_DAYS = 3  # a run of at most this many days computes its statistics while GX checks its suite
MAX_WARNINGS = 5  # warnings listed per day in a summary (all of them are in result.json)
QUALITY_SCHEMA = ("ds date, run_id string, validated_at timestamp, snapshot_version bigint, success boolean, "
                  "checks int, failed int, errors int, warnings int, summary string, result_path string, "
                  "by_hand boolean, run_success boolean, alerts array<struct<feature:string, metric:string, "
                  "against:string, value:double, threshold:double, severity:string>>")
STATS_SCHEMA = ("ds date, feature string, rows bigint, nulls bigint, null_fraction double, min double, max double, "
                "mean double, stddev double, quantiles array<double>, previous_ds date, psi_previous double, "
                "kl_previous double, baseline_first date, baseline_last date, baseline_days int, "
                "psi_baseline double, kl_baseline double, edges array<double>, histogram array<bigint>, "
                "baseline_histogram array<bigint>, snapshot_version bigint, run_id string")


def quality_path(config: Config, view: str, version: int) -> str:
    return delta.table_path(config.offline_store_path, naming.quality_table(view, version))


def stats_path(config: Config, view: str, version: int) -> str:
    return delta.table_path(config.offline_store_path, naming.stats_table(view, version))


def report_folder(config: Config, view: str, version: int, snapshot_version: int, run_id: str) -> str:
    """Where one attempt's results (ds=<D>.json per day) and Data Docs go: beside the snapshot version they
    validated."""
    return delta.table_path(config.offline_store_path,
                            naming.validation_report_folder(view, version, snapshot_version, run_id))


@dataclass
class AlertHit:
    feature: str
    metric: str
    against: str  # "previous" / "baseline" for drift, "" for null fraction and schema
    value: float
    threshold: float | None
    severity: str

    def describe(self) -> str:
        if self.metric == "schema":
            return f"schema: {self.feature}"
        where = f" vs {self.against}" if self.against else ""
        return f"{self.feature}: {self.metric}{where} {self.value:.4g} > {self.threshold:g}"


@dataclass
class DayResult:
    ds: date
    outcomes: list[Outcome]
    alerts: list[AlertHit] = field(default_factory=list)
    rows: int = 0
    result_path: str = ""  # the day's result.json
    docs_path: str = ""  # the run's GX Data Docs index.html

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def errors(self) -> list[Any]:
        """Failed error checks, checks that could not run at all (whatever their severity), error alerts."""
        return [o for o in self.failed if o.severity == "error" or o.error] + \
            [a for a in self.alerts if a.severity == "error"]

    @property
    def warnings(self) -> list[Any]:
        return [o for o in self.failed if o.severity == "warning" and not o.error] + \
            [a for a in self.alerts if a.severity == "warning"]

    @property
    def success(self) -> bool:
        return not self.errors


@dataclass
class GateResult:
    view: str
    version: int
    snapshot_version: int
    days: list[DayResult]
    by_hand: bool = False
    seconds: float = 0.0  # the gate's wall time: suite, statistics, drift and recording

    @property
    def success(self) -> bool:
        return all(d.success for d in self.days)

    def short(self) -> str:
        """One line for a passing run (plus its alerts); every day's detail for a failing one."""
        if not self.success:
            return self.describe()
        checks = len(self.days[0].outcomes) if self.days else 0
        alerts = [(d.ds, a) for d in self.days for a in d.alerts]
        warned = [(d.ds, o) for d in self.days for o in d.failed]
        lines = [f"validation passed: {len(self.days)} day(s) x {checks} checks (snapshot version "
                 f"{self.snapshot_version}) in {self.seconds:.1f}s; {len(alerts)} alert(s), {len(warned)} failed "
                 f"warning check(s)"]
        items = [(ds, f"alert {a.describe()}") for ds, a in alerts] + [(ds, o.describe(EXAMPLES)) for ds, o in warned]
        lines += [f"  ! [warning] {ds} {text}" for ds, text in items[:MAX_WARNINGS]]
        if len(items) > MAX_WARNINGS:
            lines.append(f"  ! ... and {len(items) - MAX_WARNINGS} more: `pitstop status`, `pitstop report "
                         f"{self.view}` or the days' result.json")
        return "\n".join(lines)

    def describe(self) -> str:
        lines = []
        for day in self.days:
            mark = "passed" if day.success else "FAILED"
            head = (f"validation {mark}: {self.view} v{self.version} ds {day.ds} (snapshot version "
                    f"{self.snapshot_version}, {day.rows:,} rows): {len(day.outcomes) - len(day.failed)} of "
                    f"{len(day.outcomes)} checks passed")
            if day.alerts:
                head += f", {len(day.alerts)} alert(s)"
            lines.append(head)
            errors, warnings = day.errors, day.warnings
            for item in errors:
                lines.append(f"  ✗ [error] {_item(item)}")
            for item in warnings[:MAX_WARNINGS]:
                lines.append(f"  ! [warning] {_item(item)}")
            if len(warnings) > MAX_WARNINGS:
                lines.append(f"  ! ... and {len(warnings) - MAX_WARNINGS} more warning(s), listed in result.json")
            if day.result_path:
                lines.append(f"  results: {day.result_path}; Data Docs: {day.docs_path}")
        return "\n".join(lines)


def _item(item: Any) -> str:
    return f"alert {item.describe()}" if isinstance(item, AlertHit) else item.describe(EXAMPLES)


def _expected_schema(view: View) -> dict[str, str]:
    """The snapshot columns in pitstop's type words (int64 covers Spark's byte .. long, as in the plan)."""
    cols = {k.name: k.dtype for k in view.join_keys}
    cols.update({f.name: f.dtype for f in view.features})
    cols[DS] = "date"
    cols["feature_timestamp" if view.kind == "aggregate" else "event_timestamp"] = "timestamp"
    return cols


def schema_violations(view: View, actual: dict[str, str]) -> list[str]:
    """Columns missing from the snapshot table or of another type than the plan says (``actual`` in pitstop's
    type words, see pitstop.stores.source_schema.spark_type_word)."""
    problems = []
    for name, dtype in _expected_schema(view).items():
        if name not in actual:
            problems.append(f"column {name} is missing")
        elif actual[name] != dtype:
            problems.append(f"column {name} is {actual[name]}, the plan says {dtype}")
    return problems


class StatsRow(TypedDict):
    """One row of a view's statistics table: one feature on one day, with its drift against the previous
    day and the baseline when there was enough data on both sides."""

    ds: date
    feature: str
    rows: int
    nulls: int
    null_fraction: float
    min: float | None
    max: float | None
    mean: float | None
    stddev: float | None
    quantiles: list[float] | None
    previous_ds: date | None
    psi_previous: float | None
    kl_previous: float | None
    baseline_first: date | None
    baseline_last: date | None
    baseline_days: int | None
    psi_baseline: float | None
    kl_baseline: float | None
    edges: list[float] | None
    histogram: list[int] | None
    baseline_histogram: list[int] | None


def evaluate_alerts(monitoring: Monitoring, row: Mapping[str, object]) -> list[AlertHit]:
    """The alerts one statistics row (one ds and feature) raises under the view's thresholds."""
    rules = monitoring.alerts.get(str(row["feature"]), {})
    hits = []
    checks: list[tuple[str, str, object]] = [("null_fraction", "", row.get("null_fraction"))]
    for metric in ("psi", "kl"):
        for against in ("previous", "baseline"):
            checks.append((metric, against, row.get(f"{metric}_{against}")))
    for metric, against, value in checks:
        rule = rules.get(metric)
        if rule is None or not isinstance(value, int | float) or math.isnan(value):
            continue
        if value > rule.max:
            hits.append(AlertHit(str(row["feature"]), metric, against, float(value), rule.max, rule.severity))
    return hits


def rows_from_log(path: str, version: int, days: list[date]) -> dict[date, int] | None:
    """The rows of each of ``days`` in a LOCAL snapshot table at ``version``, summed from the Delta log's file
    statistics (numRecords) without a Spark job; None when the table is not local or not partitioned by ds, or a
    file of those days has no row count or has a deletion vector (whose deleted rows the count includes)."""
    if not delta.is_local(path):
        return None
    from pitstop.errors import UnsupportedDeltaTable
    from pitstop.stores import delta_log

    try:
        log = delta_log.snapshot(path, version=version)
    except (FileNotFoundError, UnsupportedDeltaTable):
        return None
    if any(DS not in (add.get("partitionValues") or {}) for add in log.files):
        return None
    counts = {day: delta_log.rows_in(log, {DS: day.isoformat()}) for day in days}
    return None if any(n is None for n in counts.values()) else {day: int(n or 0) for day, n in counts.items()}


def _statistics(view: View, table: DataFrame, days: list[date], materialized: list[date], *,
                path: str = "", version: int = 0) -> list[StatsRow]:
    """Statistics and drift of ``days`` (rows for every feature, also on an empty day) of ``table``, the
    snapshot table at ``path`` and ``version`` (whose log may count the reference days' rows)."""
    from pyspark import StorageLevel

    monitoring = view.monitoring
    plan = st.comparisons(days, sorted(set(materialized) | set(days)), monitoring.baseline_days)
    references = sorted({d for c in plan for d in c.reference} - set(days))
    # exact statistics of the run's days in one compiled scan; quantiles and drift from a sample of at most
    # about SAMPLE_ROWS rows a day (cached: bounded by days x SAMPLE_ROWS whatever the data's size)
    basic = st.feature_statistics(st.profile(table.where(ds_in(days)), view.features))
    rows_per_day = {day: b["rows"] for (day, _), b in basic.items()}
    if references:  # the reference days' sizes only: from the log's file statistics, else a count (no column read)
        logged = rows_from_log(path, version, references) if path else None
        if logged is None:
            counted = table.where(ds_in(references)).groupBy(DS).count().collect()
            logged = {r[DS]: int(r["count"]) for r in counted}
        rows_per_day.update(logged)
    identity = [k.name for k in view.join_keys] + [c for c in (TS, CREATED) if c in table.columns]
    numeric = [f.name for f in view.features if f.dtype in st.NUMERIC_DTYPES]
    needed = table.where(ds_in(sorted(set(days) | set(references)))).select(
        DS, *[q(c) for c in dict.fromkeys(identity + numeric)])
    sampled = st.sample(needed, identity, rows_per_day).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        values = st.long_values(sampled, view.features)
        sketched = st.sketches(values).cache()
        try:
            quantiles = st.quantiles(sketched)
            hists = st.histograms(values, plan, sketched) if plan else {}
        finally:
            sketched.unpersist()
    finally:
        sampled.unpersist()
    by_target = {(c.target, c.kind): c for c in plan}
    rows = []
    for day in days:
        for f in view.features:
            b = basic.get((day, f.name)) or st.Profile(rows=0, nulls=0, min=None, max=None, mean=None, stddev=None)
            n, nulls = b["rows"], b["nulls"]
            row = StatsRow(
                ds=day, feature=f.name, rows=n, nulls=nulls, null_fraction=nulls / n if n else 0.0,
                min=b["min"], max=b["max"], mean=b["mean"], stddev=b["stddev"],
                quantiles=quantiles.get((day, f.name)),
                previous_ds=None, psi_previous=None, kl_previous=None, baseline_first=None,
                baseline_last=None, baseline_days=None, psi_baseline=None, kl_baseline=None,
                edges=None, histogram=None, baseline_histogram=None,
            )
            for kind in ("previous", "baseline"):
                comp = by_target.get((day, kind))
                hist = hists.get((day, kind, f.name))
                if comp is None:
                    continue
                if kind == "previous":
                    row["previous_ds"] = comp.reference[0]
                else:
                    row["baseline_first"], row["baseline_last"] = comp.reference[0], comp.reference[-1]
                    row["baseline_days"] = len(comp.reference)
                if hist is None or min(sum(hist["current"]), sum(hist["reference"])) < monitoring.min_rows:
                    continue
                psi, kl = st.psi(hist["current"], hist["reference"]), st.kl(hist["current"], hist["reference"])
                if kind == "previous":
                    row["psi_previous"], row["kl_previous"] = psi, kl
                else:
                    row["psi_baseline"], row["kl_baseline"] = psi, kl
                    row["edges"], row["histogram"] = hist["edges"], hist["current"]
                    row["baseline_histogram"] = hist["reference"]
            rows.append(row)
    return rows


def gate(ctx: Context, view_name: str, days: list[date], *,
         snapshot_path: str, snapshot_version: int, run_id: str, materialized: list[date],
         by_hand: bool = False) -> tuple[GateResult, list[StatsRow]]:
    """Validate ``days`` of a view's snapshot table at ``snapshot_version``; record the attempt. Returns the
    result and the statistics rows (to be written with ``write_statistics`` once the run succeeds)."""
    import time

    from pitstop.stores import gx_suite

    began = time.monotonic()
    view = ctx.plan.views[view_name]
    table = delta.read(ctx.spark, snapshot_path, version=snapshot_version)
    if table is None:
        raise UsageError(f"view {view_name!r} has no snapshot table at {snapshot_path}: materialize it first")
    keys = [k.name for k in view.join_keys]
    validator = gx_suite.Validator(view.suite, keys, f"{view_name}__v{view.version}")
    from pitstop.stores.source_schema import spark_type_word

    actual = {f.name: spark_type_word(f.dataType.typeName()) for f in table.schema.fields}
    schema_problems = schema_violations(view, actual)
    folder = report_folder(ctx.config, view_name, view.version, snapshot_version, run_id)
    # not cached: GX runs a few Spark jobs per check, each reading only its columns of the days'
    # partitions, which the Delta table serves as well as a cache would (a cache of a long backfill's
    # snapshots, every column, would not fit in memory and spill all of it to disk first)
    in_days = table.where(ds_in(days))
    statistics_of = partial(_statistics, view, table, days, materialized, path=snapshot_path, version=snapshot_version)
    if len(days) <= SIDE_BY_SIDE_DAYS:
        # a short run's Spark jobs are small, and their fixed cost dominates: the statistics run in a second
        # thread while GX checks the suite (Spark runs the two threads' jobs side by side on one session)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1, thread_name_prefix="pitstop-statistics") as pool:
            pending = pool.submit(statistics_of)
            with _docs_folder(folder) as docs:
                checked = validator.run_days(in_days, days, docs_dir=docs)
            statistics = pending.result()
    else:  # a backfill: one after the other, so that the sample's cache and GX's scans never share memory
        statistics = statistics_of()
        with _docs_folder(folder) as docs:
            checked = validator.run_days(in_days, days, docs_dir=docs)
    results = []
    for day in days:
        outcomes, raws = checked[day]
        alerts = [a for row in statistics if row["ds"] == day for a in evaluate_alerts(view.monitoring, row)]
        alerts += [AlertHit(p, "schema", "", 1.0, None, view.monitoring.schema.severity)
                   for p in schema_problems]
        rows = next((int(r["rows"]) for r in statistics if r["ds"] == day), 0)
        result = DayResult(day, outcomes, alerts, rows, f"{folder}/ds={day}.json", f"{folder}/docs/index.html")
        _write_result(result, view_name, view, raws, snapshot_version, run_id,
                      [r for r in statistics if r["ds"] == day])
        results.append(result)
    gate_result = GateResult(view_name, view.version, snapshot_version, results, by_hand)
    _record(ctx.spark, ctx.config, view_name, view, gate_result, run_id)
    gate_result.seconds = time.monotonic() - began
    return gate_result, statistics


def _local(path: str) -> str:
    return path[len("file:"):] if path.startswith("file:") else path


def _write_result(day: DayResult, view_name: str, view: View, raws: list[JSONObject],
                  snapshot_version: int, run_id: str, statistics: list[StatsRow]) -> None:
    doc = {
        "view": view_name, "view_version": view.version, "ds": day.ds.isoformat(),
        "snapshot_version": snapshot_version, "run_id": run_id, "success": day.success, "rows": day.rows,
        "checks": [o.to_json() for o in day.outcomes],
        "alerts": [asdict(a) for a in day.alerts],
        "statistics": statistics,
        "great_expectations": raws,
        "data_docs": day.docs_path,
    }
    text = json.dumps(nan_to_null(doc), indent=2, sort_keys=True, default=partial(json_default, strict=False),
                      allow_nan=False) + "\n"
    if delta.is_local(day.result_path):
        path = _local(day.result_path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:  # object storage: written through the Spark session's Hadoop file system
        from pitstop.stores.files import write_text

        write_text(day.result_path, text)


@contextmanager
def _docs_folder(folder: str) -> Iterator[str]:
    """Where GX writes the Data Docs: the run's folder itself when it is local, else a temporary folder
    copied there afterwards."""
    if delta.is_local(folder):
        yield _local(folder) + "/docs"
        return
    import tempfile

    from pitstop.stores.files import upload_folder

    with tempfile.TemporaryDirectory(prefix="pitstop-docs-") as tmp:
        yield tmp
        upload_folder(tmp, folder + "/docs")


def _record(spark: SparkSession, config: Config, view_name: str, view: View, result: GateResult,
            run_id: str) -> None:
    now = datetime.now(UTC)  # aware: Spark stores the instant (a naive value would be read as local time)
    rows = []
    for day in result.days:
        rows.append((day.ds, run_id, now, result.snapshot_version, day.success, len(day.outcomes), len(day.failed),
                     len(day.errors), len(day.warnings), _day_summary(result, day), day.result_path, result.by_hand,
                     result.success,
                     [(a.feature, a.metric, a.against, a.value, a.threshold, a.severity) for a in day.alerts]))
    frame = spark.createDataFrame(rows, QUALITY_SCHEMA)
    path = quality_path(config, view_name, view.version)
    delta.append(frame, path, properties={"pitstop.view": view_name, "pitstop.view_version": str(view.version)})


def _day_summary(result: GateResult, day: DayResult) -> str:
    single = GateResult(result.view, result.version, result.snapshot_version, [day], result.by_hand)
    return single.describe()


def write_statistics(spark: SparkSession, path: str, view_name: str, view: View,
                     statistics: list[StatsRow], snapshot_version: int, run_id: str) -> None:
    """Replace the statistics of the validated days (idempotent per ds) once the run has passed."""
    if not statistics:
        return
    columns = [c.split()[0] for c in STATS_SCHEMA.split(", ")]
    rows = [tuple({**r, "snapshot_version": snapshot_version, "run_id": run_id}[c] for c in columns)
            for r in statistics]
    frame = spark.createDataFrame(rows, STATS_SCHEMA).coalesce(1)
    days = sorted({r["ds"] for r in statistics})
    delta.replace(frame, path, ds_in(days), partition_by=None,
                  properties={"pitstop.view": view_name, "pitstop.view_version": str(view.version)})


def raise_if_failed(result: GateResult, *, by_hand: bool = False) -> None:
    if result.success:
        return
    failed = [d for d in result.days if not d.success]
    if by_hand:
        raise ValidationFailed(f"{result.view} ds {', '.join(str(d.ds) for d in failed)} fails its gate as the "
                               f"snapshot table holds it at version {result.snapshot_version} (nothing changed: "
                               f"validate reports only)", view=result.view, version=result.version,
                               days=[d.ds for d in failed], snapshot_version=result.snapshot_version)
    raise ValidationFailed(
        f"{result.describe()}\n"
        f"the gate stopped {result.view} v{result.version} before publishing: {len(failed)} of {len(result.days)} "
        f"day(s) failed ({', '.join(str(d.ds) for d in failed)}). This run committed nothing: every table was "
        f"restored to its state before the run, so none of its {len(result.days)} day(s) counts as materialized "
        f"by it (a day materialized before keeps its earlier snapshot) and nothing was published (the previous "
        f"online values stay served). "
        f"The rejected snapshot stays readable through time travel: "
        f"SELECT * FROM pitstop.{result.view}__v{result.version} VERSION AS OF {result.snapshot_version} "
        f"WHERE ds = DATE '{failed[0].ds}'. Fix the data (or the expectation, then `pitstop apply`) and rerun.",
        view=result.view, version=result.version, days=[d.ds for d in failed],
        snapshot_version=result.snapshot_version)


def validate_by_hand(ctx: Context, view_name: str, ds: date,
                     version: int | None = None) -> GateResult:
    """`pitstop validate VIEW --ds D`: the gate on a day as the snapshot table holds it now (or at
    ``version``). Recorded like any attempt; the materialization log is left as it is."""
    import uuid

    view = ctx.view(view_name)
    tables = ctx.tables(view)
    current = delta.latest_version(ctx.spark, tables.snapshots)
    if current is None:
        raise UsageError(f"view {view_name!r} has no snapshot table yet: run `pitstop materialize {view_name} "
                         f"--start {ds} --end {ds}`")
    chosen = current if version is None else version
    if not 0 <= chosen <= current:
        raise UsageError(f"--version {version} does not exist: the snapshot table's versions are 0..{current}")
    logged = logged_days(ctx.spark, tables.log)["snapshot"]
    if ds not in logged:
        table = delta.read(ctx.spark, tables.snapshots, version=chosen)
        if table is None or table.where(f"ds = DATE '{ds}'").limit(1).count() == 0:
            have = ", ".join(str(d) for d in sorted(logged)[-5:]) or "none"
            raise UsageError(f"view {view_name!r} has no snapshot of {ds} at version {chosen} (newest materialized "
                             f"days: {have}); give --version V of a rejected run (its failure message names it) or "
                             f"materialize the day first")
    else:
        written = snapshot_version(ctx.spark, tables, view_name, ds)
        if chosen < written:
            raise UsageError(f"version {chosen} of {view_name!r} predates the snapshot of {ds}, which version "
                             f"{written} wrote; give --version {written} or later (default: the current one)")
    materialized = sorted(logged - {ds})
    result, _ = gate(ctx, view_name, [ds], snapshot_path=tables.snapshots, snapshot_version=chosen,
                     run_id="hand-" + uuid.uuid4().hex[:8], materialized=[d for d in materialized if d < ds],
                     by_hand=True)
    return result
