"""Materialize views for a range of days: tiles -> snapshots (aggregates) or copied rows (latest values).

The job's whole world is (plan, view, first ds, last ds) plus config: no clock, no "latest partition".
Each run writes one commit per table (a table's first run also creates it), every write replaces exactly
the partitions it owns (re-running a day changes nothing), and the materialization log is written last:
a day counts as materialized only once its snapshot is committed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pitstop.compute import aggregates as agg
from pitstop.errors import (
    JobFailed,
    PitstopError,
    PlanError,
    SourceError,
    SourceNotReady,
    UnsupportedDeltaTable,
    UsageError,
)
from pitstop.jsontypes import JSONObject
from pitstop.plan import naming
from pitstop.plan.model import Plan, View
from pitstop.runtime import quality
from pitstop.runtime.context import Context
from pitstop.runtime.reporter import Reporter
from pitstop.runtime.tables import ViewTables, logged_days
from pitstop.stores import delta, files, gx_suite
from pitstop.stores.sources import read_source

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

LOG_SCHEMA = "ds date, kind string, rows bigint, run_id string"
CHUNK_DAYS = 30  # a backfill computes at most this many days of snapshots at a time


class Validation(Protocol):
    """The validation gate's result as a run summary shows it (pitstop.runtime.quality.GateResult; a
    protocol, so this module does not import the modules that import it)."""

    @property
    def success(self) -> bool: ...

    def short(self) -> str: ...


class Publication(Protocol):
    """A publish's result as a run summary shows it (pitstop.runtime.publish.PublishResult)."""

    def describe(self) -> str: ...


@dataclass
class RunSummary:
    view: str
    start: date
    end: date
    kind: str = "aggregate"  # the view's kind: "aggregate" | "latest"
    snapshot_days: list[date] = field(default_factory=list)
    tile_days: list[date] = field(default_factory=list)
    cascaded: list[date] = field(default_factory=list)
    skipped_cascade: list[date] = field(default_factory=list)
    events: int = 0
    events_per_day: dict[date, int] = field(default_factory=dict)  # events read, by the day of their event time
    source: str = ""  # what the days check found in the source (first event, readiness)
    forced: bool = False  # the days check was skipped (--force)
    invalid_rows: int = 0
    rows_written: int = 0
    snapshot_rows: dict[date, int] = field(default_factory=dict)  # each new snapshot day's rows, as the gate counted
    seconds: float = 0.0
    running_total_from: date | None = None  # lifetime windows: the saved running total reused, if any
    lifetime: bool = False
    published: Publication | None = None  # when the run published to the online store
    validation: Validation | None = None  # the validation gate's result
    phases: dict[str, float] = field(default_factory=dict)  # where the run's seconds went, in order

    def describe(self) -> str:
        lines = [f"{self.view}: materialized {len(self.snapshot_days)} day(s) {self.start} .. {self.end} "
                 f"in {self.seconds:.1f}s; {self.events:,} events read, {self.rows_written:,} rows written"]
        if self.forced:
            lines.append("  --force: the source's readiness and first event were not checked")
        elif self.source:
            lines.append(f"  {self.source}")
        if self.snapshot_days:
            lines.append("  events read per day: " + _per_day(self.snapshot_days, self.events_per_day))
        if self.tile_days:
            what = "source rows (re)copied" if self.kind == "latest" else "tiles (re)computed"
            lines.append(f"  {what} for {len(self.tile_days)} day(s): {_ranges(self.tile_days)}")
        if self.lifetime:
            lines.append(f"  lifetime windows: saved running total through {self.running_total_from} reused"
                         if self.running_total_from else
                         "  lifetime windows: running total merged from all earlier tiles (no valid saved total)")
        if self.invalid_rows:
            lines.append(f"  {self.invalid_rows:,} source row(s) with a null join key or event timestamp "
                         f"were excluded")
        if self.cascaded:
            lines.append(f"  cascaded to later snapshots whose windows include a recomputed day: "
                         f"{_ranges(self.cascaded)}")
        if self.validation is not None:
            lines += ["  " + line for line in self.validation.short().splitlines()]
        if self.published is not None:
            lines.append("  " + self.published.describe())
        if self.phases:
            lines.append("  time: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in self.phases.items()))
        if self.skipped_cascade:
            lines.append(f"  WARNING --no-cascade: these materialized snapshots include recomputed days and were "
                         f"NOT recomputed: {_ranges(self.skipped_cascade)}")
        return "\n".join(lines)


class _Phases:
    """``with clock("name"):`` adds the block's seconds to ``phases[name]``."""

    def __init__(self, phases: dict[str, float]) -> None:
        self.phases = phases

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.monotonic() - began


def contiguous_runs(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days grouped into (first, last) runs of consecutive days."""
    runs: list[tuple[date, date]] = []
    for d in sorted(days):
        if runs and d == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


def _per_day(days: list[date], counts: dict[date, int], show: int = 10) -> str:
    """``2026-10-30 1,234, 2026-10-31 0``; a long range shows its first and last days."""
    shown = [f"{d} {counts.get(d, 0):,}" for d in days]
    if len(shown) > show:
        quiet = sum(1 for d in days if not counts.get(d))
        gap = f"... ({len(days) - show} more days; {quiet} of all {len(days)} without events)"
        shown = [*shown[:show // 2], gap, *shown[-(show // 2):]]
    return ", ".join(shown)


def _ranges(days: list[date]) -> str:
    return ", ".join(str(lo) if lo == hi else f"{lo}..{hi}" for lo, hi in contiguous_runs(days))


def _days(lo: date, hi: date) -> list[date]:
    return agg.snapshot_days(lo, hi) if lo <= hi else []


def materialized_days(ctx: Context, view_name: str) -> list[date]:
    view = ctx.view(view_name)
    return sorted(logged_days(ctx.spark, ctx.tables(view).log)["snapshot"])


def check_days(ctx: Context, view_name: str, start: date, end: date) -> str:
    """Refuse days a view cannot honestly be computed for, before any Spark work (pyarrow reads of parquet
    footers and the Delta log only): a day before the view's ``start_date``, a day before the source's first
    event, or a day whose source is not ready under the view's ``readiness`` rule (the same check the DAG's
    ``wait_for_source`` task makes: data through S(end) = end + 1 day, 00:00 UTC).

    Returns one line describing the source for the run summary; raises SourceNotReady (terminal) with what
    the source holds, what the days need and how to proceed (``--force`` computes them anyway)."""
    from pitstop.stores.readiness import check, first_event_time

    if start > end:
        raise UsageError(f"--start {start} is after --end {end}: give a range with start <= end")
    view = ctx.view(view_name)
    src = view.source
    location = naming.source_location(src.path, ctx.config.repo)
    if "://" not in location and not Path(location).exists():
        raise SourceError(f"view {view_name!r}: source {src.name!r} has no data at {location}; create it "
                          f"(for the demo: `pitstop demo-data`) or fix the path in feature_defs and re-apply")
    force = "rerun with --start/--end inside that range, or with --force (API: force=True) to compute them anyway"
    start_date = view.dag.start_date
    if start_date is not None and start < start_date:
        raise SourceNotReady(f"view {view_name!r}: {start} is before the view's start_date {start_date}; days from "
                             f"{start_date} on can be materialized: {force}", view=view_name, start=start, end=end)
    try:
        first = first_event_time(src, location, ctx.config.arrow_s3())
        ready = check(src, location, _snapshot_time(end), ctx.config.arrow_s3())
    except UnsupportedDeltaTable as exc:
        raise UnsupportedDeltaTable(f"view {view_name!r}: {exc}; or rerun with --force (API: force=True) to compute "
                                    f"the days without the check") from exc
    except (OSError, ValueError) as exc:
        raise SourceError(f"view {view_name!r}: source {src.name!r} at {location} cannot be checked: "
                          f"{type(exc).__name__}: {exc}. Fix the source (or its path in feature_defs)") from exc
    if first is None:
        raise SourceNotReady(f"view {view_name!r}: source {src.name!r} at {location} holds no events yet "
                             f"({src.timestamp_field} has no value), so no day can be computed from it; load "
                             f"the data first, or rerun with --force (API: force=True)", view=view_name, start=start,
                             end=end)
    first_day = first.date()
    if start < first_day:
        raise SourceNotReady(f"view {view_name!r}: {start} is before the first event of source {src.name!r} "
                             f"({first.isoformat()}, day {first_day}), so those days would be computed from no "
                             f"data; {force} (e.g. --start {max(first_day, start)})", view=view_name, start=start,
                             end=end)
    if not ready.ready:
        raise SourceNotReady(f"view {view_name!r}: source {src.name!r} is not ready for {end}: the day needs "
                             f"data through {_snapshot_time(end).isoformat()} (readiness={src.readiness!r}), "
                             f"and {ready.detail}. Wait for the data, or {force}", view=view_name, start=start, end=end)
    return f"source {src.name}: first event {first.isoformat()}; {ready.detail}"


def _snapshot_time(day: date) -> datetime:
    """S(day): the next day's midnight, UTC."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def materialize(ctx: Context, view_name: str, start: date, end: date, *, cascade: bool = True,
                reporter: Reporter | None = None) -> RunSummary:
    """Compute the view for [start, end] into Delta, validate, log; warnings and progress go to ``reporter``
    (default: a plain one on stderr)."""
    check_range(start, end)
    view = ctx.view(view_name)
    began = time.monotonic()
    summary = RunSummary(view_name, start, end, kind=view.kind)
    tables = ctx.tables(view)
    clock = _Phases(summary.phases)
    with clock("Spark start-up"):  # zero when the session (or the warm engine's) is up already
        ctx.spark  # noqa: B018
    with clock("source"):
        source = read_source(ctx.spark, view_name, view, ctx.config.repo)
    gx_suite.preload()  # the gate needs GX: its import overlaps the compute below
    run_id = uuid.uuid4().hex[:12]
    meta = {"pitstop_run": run_id, "ds_start": start.isoformat(), "ds_end": end.isoformat(),
            "plan_fingerprint": ctx.plan.fingerprint}
    with clock("table versions"):
        before = {path: delta.latest_version(ctx.spark, path) for path in tables.written}
    try:
        with clock("compute and write"):
            if view.kind == "latest":
                _materialize_latest(ctx.spark, view, source, tables, start, end, summary, meta)
            else:
                _materialize_aggregate(ctx.spark, view, source, tables, start, end, summary, meta, cascade,
                                       reporter or Reporter())
        with clock("validation"):
            _validate(ctx, view_name, view, tables, summary, run_id)
        with clock("log"):
            _write_log(ctx.spark, view, tables, summary, run_id, meta)
    except BaseException as exc:
        # Delta commits each table atomically but has no multi-table transaction: give back every table
        # this run already committed to its content before the run
        problems = _restore_all(ctx.spark, before)
        if isinstance(exc, PitstopError) or not isinstance(exc, Exception) or not is_spark_error(exc):
            raise
        restored = ("every table was restored to its state before the run" if not problems
                    else "restoring failed for: " + "; ".join(problems))
        raise JobFailed(f"materializing {view_name} {start}..{end} failed in Spark: {first_line(exc)}\n"
                        f"  {restored}; fix the cause if it is in the data or the filter, then rerun", view=view_name,
                        start=start, end=end) from exc
    summary.seconds = time.monotonic() - began
    return summary


def _validate(ctx: Context, view_name: str, view: View, tables: ViewTables,
              summary: RunSummary, run_id: str) -> None:
    """The gate: the new snapshot partitions, read at the version just committed, checked before the log
    counts them; a failure raises ValidationFailed and the caller restores every table."""
    version = delta.latest_version(ctx.spark, tables.snapshots)
    assert version is not None  # written just before
    earlier = sorted(logged_days(ctx.spark, tables.log)["snapshot"])
    result, statistics = quality.gate(ctx, view_name, summary.snapshot_days,
                                      snapshot_path=tables.snapshots, snapshot_version=version, run_id=run_id,
                                      materialized=earlier)
    summary.validation = result
    summary.snapshot_rows = {day.ds: day.rows for day in result.days}  # exact, at the version just committed
    quality.raise_if_failed(result)
    quality.write_statistics(ctx.spark, tables.stats, view_name, view, statistics, version, run_id)


def _write_log(spark: SparkSession, view: View, tables: ViewTables, summary: RunSummary, run_id: str,
               meta: JSONObject) -> None:
    """The materialization log, written last: a day counts only once its snapshot is committed."""
    log_rows = [(d, "snapshot", n, run_id) for d, n in _rows_per_day(summary)]
    # the days whose tiles (aggregates) or source rows (latest values) this run (re)computed
    kind = "rows" if view.kind == "latest" else "tiles"
    log_rows += [(d, kind, summary.events_per_day.get(d, 0) if kind == "rows" else 0, run_id)
                 for d in summary.tile_days]
    log_df = spark.createDataFrame(log_rows, LOG_SCHEMA)
    predicate = f"(kind = 'snapshot' AND {agg.ds_in(summary.snapshot_days)})"
    if summary.tile_days:
        predicate += f" OR (kind = '{kind}' AND {agg.ds_in(summary.tile_days)})"
    delta.replace(log_df, tables.log, predicate, metadata=meta, properties=tables.properties)


def _restore_all(spark: SparkSession, before: dict[str, int | None]) -> list[str]:
    """Restore every table whose version moved since ``before``; a table the run created goes back to its
    empty first version. Returns what could not be restored."""
    problems = []
    for path, version in before.items():
        try:
            now = delta.latest_version(spark, path)
            target = 0 if version is None else version
            if now is not None and now != target:
                delta.restore(spark, path, target)
        except Exception as exc:  # reported together with the run's own error, never swallowed
            problems.append(f"{path}: {first_line(exc)}")
    return problems


def is_spark_error(exc: BaseException) -> bool:
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return isinstance(exc, (PySparkException, Py4JError))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _rows_per_day(summary: RunSummary) -> list[tuple[date, int]]:
    """Each new snapshot day's rows, as the gate counted them at the version this run committed."""
    summary.rows_written = sum(summary.snapshot_rows[d] for d in summary.snapshot_days)
    return [(d, summary.snapshot_rows[d]) for d in sorted(summary.snapshot_days)]


def _count_null_timestamps(source: DataFrame, view: View) -> int:
    """Source rows without an event time (parquet statistics skip the row groups that have none)."""
    return int(source.where(f"{agg.q(view.source.timestamp_field)} IS NULL").count())


def _count_invalid(source: DataFrame, view: View, lo: date, hi: date) -> int:
    ts = agg.q(view.source.timestamp_field)
    in_range = (f"(CAST({ts} AS TIMESTAMP) >= TIMESTAMP '{lo} 00:00:00' AND "
                f"CAST({ts} AS TIMESTAMP) < TIMESTAMP '{hi + timedelta(days=1)} 00:00:00')")
    keys_null = " OR ".join(f"{agg.q(k.name)} IS NULL" for k in view.join_keys)
    return int(source.where(f"({in_range} AND ({keys_null})) OR {ts} IS NULL").count())


def _materialize_latest(spark: SparkSession, view: View, source: DataFrame, tables: ViewTables,
                        start: date, end: date, summary: RunSummary, meta: JSONObject) -> None:
    """A latest-value view's rows table holds the source's rows of EVERY day up to the newest materialized
    one, not only of the materialized days: the state at S(D) is the newest row per key from the whole
    history before S(D). The view's first run seeds the table with every source row before S(end); a later
    run copies its days plus the lateness horizon, and any day between the table's newest copied day and
    its range (a run after a gap), so it reads only new days from the source. The log records the copied
    days (kind 'rows'); a table without them (written by an older pitstop) is seeded again."""
    copied = logged_days(spark, tables.log).get("rows", set())
    if copied:
        first = min(start - timedelta(days=int(view.lateness_days)), max(copied) + timedelta(days=1))
    else:
        first = _source_first_day(source, view, start)
    rows = agg.select_rows(source, view, [f.name for f in view.features], first, end) \
        .where(f"NOT ({agg.null_key_condition(view)})")
    summary.invalid_rows = _count_invalid(source, view, first, end)
    summary.snapshot_days = _days(start, end)
    summary.tile_days = _days(first, end)
    delta.replace(rows, tables.snapshots, f"ds >= DATE '{first}' AND ds <= DATE '{end}'", partition_by=[agg.DS],
                  metadata={**meta, "rows_first": first.isoformat()}, properties=tables.properties)
    table = delta.read(spark, tables.snapshots)
    assert table is not None  # written just above
    counts = table.where(f"ds >= DATE '{first}' AND ds <= DATE '{end}'").groupBy(agg.DS).count().collect()
    summary.events_per_day = {r[agg.DS]: int(r["count"]) for r in counts}
    summary.events = sum(summary.events_per_day.values())


def _materialize_aggregate(spark: SparkSession, view: View, source: DataFrame, tables: ViewTables,
                           start: date, end: date, summary: RunSummary, meta: JSONObject,
                           cascade: bool, reporter: Reporter) -> None:
    assert tables.tiles is not None
    bounded = [f.window_days for f in view.features if f.window_days is not None]
    lifetime = any(f.window_days is None for f in view.features)
    reach = max(bounded) if bounded else 1
    lateness = int(view.lateness_days)
    logged = logged_days(spark, tables.log)
    tiled, snapshotted = logged["tiles"], logged["snapshot"]

    # days whose tiles this run (re)computes from the source: the range plus the lateness horizon, and
    # any day the windows need that was never tiled (a backfill reaching before --start)
    retile = set(_days(start - timedelta(days=lateness), end))
    if lifetime:
        first_needed = min(tiled) if tiled else _source_first_day(source, view, start)
    else:
        first_needed = start - timedelta(days=reach - 1)
    needed = set(_days(min(first_needed, start), end))
    todo = sorted(retile | {d for d in needed if d not in tiled})
    tiles_version = delta.latest_version(spark, tables.tiles)
    running = RunningTotal(spark, view, tables, tiles_version, todo) if lifetime else None
    summary.lifetime = lifetime
    summary.running_total_from = running.saved_day if running is not None else None
    if todo:
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        events = agg.prepare_events(source, view, todo[0], todo[-1]).where(agg.ds_in(todo))
        # one pass over the raw events: tiles (null-key groups included) are cached, counted, then written
        tiles = agg.compute_tiles(events, view).persist(StorageLevel.MEMORY_AND_DISK)
        null_key = agg.null_key_condition(view)
        per_day = tiles.groupBy(agg.DS).agg(
            F.expr("sum(rows__count)").alias("n"),
            F.expr(f"sum(CASE WHEN {null_key} THEN rows__count ELSE 0 END)").alias("bad")).collect()
        summary.events_per_day = {r[agg.DS]: int(r.n or 0) - int(r.bad or 0) for r in per_day}
        summary.events = sum(int(r.n or 0) for r in per_day)
        summary.invalid_rows = sum(int(r.bad or 0) for r in per_day) + _count_null_timestamps(source, view)
        delta.replace(tiles.where(f"NOT ({null_key})"), tables.tiles, agg.ds_in(todo), partition_by=[agg.DS],
                      metadata={**meta, "tiles_first": todo[0].isoformat(), "tiles_last": todo[-1].isoformat()},
                      properties=tables.properties)
        tiles.unpersist()
        tiles_version = delta.latest_version(spark, tables.tiles)
    summary.tile_days = todo

    # later materialized snapshots whose windows include a recomputed day
    recomputed = [d for d in todo if d <= end]
    later = sorted(d for d in snapshotted if d > end and recomputed and
                   (lifetime or d - timedelta(days=reach - 1) <= max(recomputed)))
    if cascade:
        summary.cascaded = later
    else:
        summary.skipped_cascade = later
        if later:
            reporter.warn(f"--no-cascade: {summary.view} snapshots {_ranges(later)} include recomputed days "
                          f"and keep their old values")
    days = _days(start, end) + summary.cascaded
    summary.snapshot_days = days
    all_tiles = delta.read(spark, tables.tiles, version=tiles_version)  # this run's tiles, whatever commits next
    assert all_tiles is not None
    if running is not None:
        running.tiles = all_tiles
    chunks = [days[i:i + CHUNK_DAYS] for i in range(0, len(days), CHUNK_DAYS)]
    try:
        if len(chunks) == 1:
            snapshots = _snapshots(all_tiles, view, days, running)
            delta.replace(snapshots, tables.snapshots, agg.ds_in(days), partition_by=[agg.DS], metadata=meta,
                          properties=tables.properties)
        else:
            _chunked_snapshots(spark, all_tiles, view, tables, chunks, running, summary, meta, reporter)
        if running is not None:
            running.save(days[-1] - timedelta(days=lateness), tiles_version, meta)
    finally:
        if running is not None:
            running.release()


def _chunked_snapshots(spark: SparkSession, all_tiles: DataFrame, view: View, tables: ViewTables,
                       chunks: list[list[date]], running: RunningTotal | None, summary: RunSummary,
                       meta: JSONObject, reporter: Reporter) -> None:
    """A long range computed chunk by chunk into a staging folder (bounded memory, progress through the
    reporter: a live bar in a terminal, a line per chunk in logs),
    then published from there in the ONE snapshot commit of this run."""
    from pyspark import StorageLevel
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    days = [d for chunk in chunks for d in chunk]
    reach = max([f.window_days for f in view.features if f.window_days is not None], default=1)
    # the tiles every chunk's windows read, read once
    tiles = all_tiles.where(f"ds >= DATE '{days[0] - timedelta(days=reach - 1)}'").persist(
        StorageLevel.MEMORY_AND_DISK)
    staging = delta.table_path(tables.root, f"_staging/{meta['pitstop_run']}")
    try:
        with reporter.progress(summary.view, len(chunks), unit="chunk") as progress:
            for number, chunk in enumerate(chunks, 1):
                observed = Observation(f"chunk{number}")
                part = _snapshots(tiles, view, chunk, running).observe(observed, F.count(F.lit(1)).alias("rows"))
                part.repartition(agg.DS).write.mode("append").partitionBy(agg.DS).parquet(staging)
                progress.step(f"{chunk[0]}..{chunk[-1]}", rows=int(observed.get["rows"]))
        columns = _snapshots(tiles, view, chunks[0], running).columns
        # the staging folder holds one file per day already: copied without a second shuffle
        delta.replace(spark.read.parquet(staging).select(*columns), tables.snapshots, agg.ds_in(days),
                      partition_by=[agg.DS], metadata=meta, properties=tables.properties, grouped=True)
    finally:
        tiles.unpersist()
        files.remove_folder(staging)


class RunningTotal:
    """The running total of a view's lifetime windows: every tile up to a day, merged per key.

    Each run saves it (the state table) at its last snapshot day minus the view's lateness: the day before
    the first day the next daily run re-tiles. A run reuses the saved total only if it was computed from
    the tiles table version the run starts from and the run rewrites no tile of a day up to it; otherwise
    (a backfill of the past, a run that died between its commits) it merges the tiles again: slower, never
    wrong. Within a run, every total computed is a starting point for later days."""

    def __init__(self, spark: SparkSession, view: View, tables: ViewTables, tiles_version: int | None,
                 retiled: list[date]) -> None:
        self.view, self.tables = view, tables
        self.tiles: DataFrame | None = None  # the run's tiles, set once they are committed
        self.totals: dict[date, DataFrame] = {}
        meta = delta.last_commit_metadata(spark, tables.state)
        if tiles_version is not None and meta.get("tiles_version") == tiles_version and "state_ds" in meta:
            saved_day = date.fromisoformat(meta["state_ds"])
            if not retiled or min(retiled) > saved_day:
                state = delta.read(spark, tables.state)
                assert state is not None
                self.totals[saved_day] = state.drop(agg.DS)
        self.saved_day = min(self.totals, default=None)

    def through(self, day: date) -> DataFrame:
        """Every tile up to and including ``day``, merged per key."""
        from pyspark import StorageLevel

        assert self.tiles is not None, "set RunningTotal.tiles to the committed tiles first"
        if day in self.totals:
            return self.totals[day]
        anchor = max((d for d in self.totals if d < day), default=None)
        if anchor is None:
            total = agg.merge_base(self.tiles.where(f"ds <= DATE '{day}'"), self.view)
        else:
            earlier = self.totals[anchor]
            later = self.tiles.where(f"ds > DATE '{anchor}' AND ds <= DATE '{day}'").select(*earlier.columns)
            total = agg.merge_base(earlier.unionByName(later), self.view)
        self.totals[day] = total.persist(StorageLevel.MEMORY_AND_DISK)
        return self.totals[day]

    def save(self, day: date, tiles_version: int | None, meta: JSONObject) -> None:
        from pyspark.sql import functions as F

        total = self.through(day).withColumn(agg.DS, F.lit(day.isoformat()).cast("date"))
        delta.replace(total, self.tables.state, "true", properties=self.tables.properties,
                      metadata={**meta, "state_ds": day.isoformat(), "tiles_version": tiles_version})

    def release(self) -> None:
        for frame in self.totals.values():
            frame.unpersist()


def _snapshots(tiles: DataFrame, view: View, days: list[date], running: RunningTotal | None) -> DataFrame:
    """Snapshots for the given days, computed per contiguous run of days and unioned."""
    frames = []
    for lo, hi in contiguous_runs(days):
        base = running.through(lo - timedelta(days=1)) if running is not None else None
        frames.append(agg.compute_snapshots(tiles, view, lo, hi, base))
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def _source_first_day(source: DataFrame, view: View, start: date) -> date:
    """The first day with events, for lifetime windows on a view's first run."""
    ts = agg.q(view.source.timestamp_field)
    first = source.selectExpr(f"to_date(min(CAST({ts} AS TIMESTAMP))) AS d").first()  # the UTC day, in Spark
    if first is None or first.d is None:
        return start
    first_day: date = first.d
    return min(first_day, start)


def check_range(start: date, end: date) -> None:
    """The day range's own check, made before any Spark session starts."""
    if start > end:
        raise UsageError(f"--start {start} is after --end {end}: give a range with start <= end")


def check_view_names(plan: Plan, views: list[str]) -> None:
    for name in views:
        if name not in plan.views:
            raise PlanError(f"unknown view {name!r}; views in the plan: {', '.join(sorted(plan.views))}")


def snapshot(ctx: Context, view_name: str, ds: date, *,
             version: int | None = None, event_time: bool = False, within_ttl: bool = False) -> DataFrame:
    """One day's snapshot: join keys, feature_timestamp = S(ds), features. Keys without a row have
    empty-window values (0 for count-likes, null otherwise). For a latest-value view: the newest row
    per key with event time before S(ds) (with its event_timestamp too if ``event_time``); with
    ``within_ttl`` (publishing) only partitions that can hold a row younger than the view's ttl at S(ds)
    are read, since an older row reads as nulls anyway. ``version`` reads the snapshot table as of that
    Delta version."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    view = ctx.view(view_name)
    tables = ctx.tables(view)
    done = logged_days(ctx.spark, tables.log)["snapshot"]
    if ds not in done:
        have = _ranges(sorted(done)) if done else "none"
        raise UsageError(f"view {view_name!r} has no materialized snapshot for {ds}; materialized days: {have}. "
                         f"Run `pitstop materialize {view_name} --start {ds} --end {ds}`")
    table = delta.read(ctx.spark, tables.snapshots, version=version)
    assert table is not None
    keys = [k.name for k in view.join_keys]
    names = [f.name for f in view.features]
    if view.kind == "aggregate":
        return table.where(f"ds = DATE '{ds}'").select(*keys, agg.FEATURE_TS, *names)
    order = [F.col(agg.TS).desc()]
    if agg.CREATED in table.columns:
        order.append(F.col(agg.CREATED).desc_nulls_last())
    order += [F.col(agg.q(n)).desc_nulls_last() for n in names]
    rows = table.where(f"ds <= DATE '{ds}'")
    if within_ttl and view.ttl_seconds is not None:
        oldest = (datetime.combine(ds + timedelta(days=1), datetime.min.time())
                  - timedelta(seconds=view.ttl_seconds)).date()
        rows = rows.where(f"ds >= DATE '{oldest}'")  # partition pruning: the day of S(ds) - ttl and later
    newest = (rows
              .withColumn("_rank", F.row_number().over(Window.partitionBy(*[agg.q(k) for k in keys]).orderBy(*order)))
              .where("_rank = 1"))
    extra = [agg.TS] if event_time else []
    return newest.select(*keys, F.lit(ds + timedelta(days=1)).cast("timestamp").alias(agg.FEATURE_TS), *extra,
                         *names)


def history(ctx: Context, view_name: str) -> list[JSONObject]:
    view = ctx.view(view_name)
    path = ctx.tables(view).snapshots
    if not delta.exists(ctx.spark, path):
        return []
    return delta.history(ctx.spark, path)
