"""FeatureStore: the Python entry point to a feature repository, and the one composition root.

It holds the configuration, the compiled plan (read once, lazily; read again only when the file changes),
the Spark session (started on first use), the online reader and the reporter. Every CLI command and every
Spark job of jobs/ is a thin call into it (through ``pitstop.runtime.commands`` where the CLI and a job
share a command).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop.config import Config, load_config
from pitstop.jsontypes import JSONObject
from pitstop.plan.model import Plan, TrainingSetSpec, View
from pitstop.runtime import catalog, registry
from pitstop.runtime.context import Context
from pitstop.runtime.reporter import Reporter

if TYPE_CHECKING:
    from datetime import datetime

    from pyspark.sql import DataFrame, SparkSession

    from pitstop.runtime.consistency import ConsistencyReport
    from pitstop.runtime.doctor import Check
    from pitstop.runtime.materialize import RunSummary
    from pitstop.runtime.online import OnlineReader, OnlineResponse
    from pitstop.runtime.publish import PublishResult
    from pitstop.runtime.quality import GateResult
    from pitstop.runtime.training_set import TrainingSet


class FeatureStore:
    """A feature repository (the folder holding pitstop.yaml).

    >>> store = FeatureStore("path/to/repo")    # doctest: +SKIP
    >>> store.apply()                          # doctest: +SKIP
    """

    def __init__(self, repo: str | Path | None = None, *, env: Mapping[str, str] | None = None,
                 reporter: Reporter | None = None) -> None:
        self.config: Config = load_config(Path(repo) if repo is not None else None, env)
        self.reporter: Reporter = reporter or Reporter()
        self._spark: SparkSession | None = None
        self._reader: tuple[int, OnlineReader] | None = None
        self._plan: tuple[tuple[int, int], Plan] | None = None
        self._context: Context | None = None
        self.sql_tables: list[str] = []  # what the last ``sql`` call registered

    @property
    def spark(self) -> SparkSession:
        """The Spark session (built from config on first use, with Delta Lake and UTC)."""
        if self._spark is None:
            from pitstop.stores.engine import session_for

            self._spark = session_for(self.config)
        return self._spark

    def use_spark(self, spark: SparkSession) -> None:
        """Use an existing session (a notebook's, a test's) instead of building one."""
        self._spark = spark

    @property
    def repo(self) -> Path:
        return self.config.repo

    def plan(self, *, prune: bool = False) -> registry.PlanResult:
        """Compile feature_defs and diff against the checked-in plan (writes nothing)."""
        return registry.plan(self.config, prune=prune)

    def apply(self, *, prune: bool = False) -> registry.PlanResult:
        """Compile and write dags/pitstop_plan.json; refuses value changes without a version bump."""
        result = registry.apply(self.config, prune=prune)
        self._plan = None
        return result

    def load_plan(self) -> Plan:
        """The checked-in plan, read once and kept while its file is unchanged (its size and modification time);
        callers must not modify it."""
        path = self.config.plan_path
        try:
            info = path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = (0, -1)
        if self._plan is None or self._plan[0] != stamp:
            self._plan = (stamp, registry.load_plan(self.config))
        return self._plan[1]

    def context(self) -> Context:
        """The configuration, the current plan and this store's Spark session (started when an operation
        first needs it) as the one value the runtime operations take; renewed when the plan file changes."""
        plan = self.load_plan()
        if self._context is None or self._context.plan is not plan:
            self._context = Context(self.config, plan, start_spark=lambda: self.spark)
        return self._context

    def check_views(self, views: Sequence[str]) -> None:
        """Views named by a caller, checked against the plan before any Spark session starts (the error the
        command would give once Spark is up)."""
        for view in views:
            self.load_plan().view(view)

    def prune_online(self) -> dict[str, int]:
        """Remove the online keys of view versions the plan no longer defines; {view__vN: keys removed}."""
        from pitstop.runtime.publish import prune_online

        return prune_online(self.context())

    def list_views(self) -> list[catalog.ViewSummary]:
        return catalog.list_views(self.load_plan())

    def describe(self, view: str) -> View:
        return self.load_plan().view(view)

    def materialize(self, views: Sequence[str] | str, start: date | str, end: date | str, *,
                    cascade: bool = True, publish: bool = True, force: bool = False) -> list[RunSummary]:
        """Compute the views for the days [start, end] into Delta (one Spark application, one commit
        per table per view), then publish each online view's newest materialized day to Redis
        (``publish=False`` / ``--no-publish`` skips that). ``cascade=False`` leaves later snapshots
        untouched (with a warning).

        Before Spark starts, every view's days are checked against its source: a day before the view's
        start_date or the source's first event, or whose source is not ready under the view's readiness
        rule, is refused (SourceNotReady, terminal); ``force=True`` (``--force``) skips that check."""
        from pitstop.runtime.materialize import check_days, check_range, check_view_names, materialize

        ctx = self.context()
        plan = ctx.plan
        names = [views] if isinstance(views, str) else list(views)
        check_view_names(plan, names)
        first, last = _day(start), _day(end)
        check_range(first, last)  # also with force: every check that needs no data comes before Spark starts
        checked = {name: "" if force else check_days(ctx, name, first, last) for name in names}
        summaries = []
        for name in names:
            summary = materialize(ctx, name, first, last, cascade=cascade, reporter=self.reporter)
            summary.source, summary.forced = checked[name], force
            if publish and plan.views[name].online:
                from pitstop.runtime.publish import publish as publish_view

                summary.published = publish_view(ctx, name)
            summaries.append(summary)
        return summaries

    def publish(self, views: Sequence[str] | str, ds: date | str | None = None) -> list[PublishResult]:
        """Publish ds (default: each view's newest materialized day) into the online store: written from the
        executors into a new generation, then switched to atomically; an older ds never replaces a newer."""
        from pitstop.runtime.materialize import check_view_names
        from pitstop.runtime.publish import publish

        ctx = self.context()
        names = [views] if isinstance(views, str) else list(views)
        check_view_names(ctx.plan, names)
        day = None if ds is None else _day(ds)
        return [publish(ctx, name, day) for name in names]

    def get_online_features(self, features: Sequence[str], entity_rows: Sequence[Mapping[str, Any]], *,
                            full_feature_names: bool = False) -> OnlineResponse:
        """Features of the latest published snapshots for the given entities, in one Redis round trip.
        No Spark: this reads only the plan and Redis."""
        return self.online_reader().read(features, entity_rows, full_feature_names=full_feature_names)

    def get_online_features_once(self, features: Sequence[str], entities: Sequence[str], *,
                                 full_feature_names: bool = False) -> OnlineResponse:
        """`pitstop get`: entities given as text ("user_id=1", "account_id=1,device=12"; typed from the plan),
        read in one round trip on a connection opened for this read only (a plain redis:// URL needs no
        redis-py import)."""
        from pitstop.runtime.online import OnlineReader, parse_entity

        plan = self.load_plan()
        rows = [parse_entity(text, plan, features) for text in entities]
        reader = OnlineReader(self.config, plan, one_shot=True)
        try:
            return reader.read(features, rows, full_feature_names=full_feature_names)
        finally:
            reader.close()

    def online_layout(self, view: str) -> JSONObject:
        """What a reader outside Python passes the online read script for ``view``, and what it returns."""
        from pitstop.runtime.online import read_layout

        return read_layout(self.load_plan(), view)

    def online_reader(self) -> OnlineReader:
        """A reader kept across calls (one connection pool, parsed requests cached); renewed when the plan
        file changes."""
        from pitstop.runtime.online import OnlineReader

        stamp = self.config.plan_path.stat().st_mtime_ns if self.config.plan_path.exists() else 0
        if self._reader is None or self._reader[0] != stamp:
            if self._reader is not None:
                self._reader[1].close()
            self._reader = (stamp, OnlineReader(self.config, self.load_plan()))
        return self._reader[1]

    def get_historical_features(self, entity_df: Any, features: Sequence[str], *, accuracy: str = "snapshot",
                                full_feature_names: bool = False,
                                timestamp_column: str = "event_timestamp") -> DataFrame:
        """A point-in-time-correct training set (docs/semantics.md) as a Spark DataFrame: every spine row, every
        spine column, one column per feature. ``entity_df``: a Spark or pandas DataFrame, a path (parquet,
        csv, Delta) or a Spark SQL query, holding the join keys and ``timestamp_column``. Use
        ``training_set`` for the SQL it runs and the manifest that rebuilds it."""
        return self.training_set(entity_df, features, accuracy=accuracy, full_feature_names=full_feature_names,
                                 timestamp_column=timestamp_column).df

    def training_set(self, entity_df: Any, features: Sequence[str], *, accuracy: str = "snapshot",
                     full_feature_names: bool = False, timestamp_column: str = "event_timestamp") -> TrainingSet:
        """Like ``get_historical_features``, with the standalone SQL (``.printable_sql()``) and the manifest
        (``.manifest``: the Delta version of every table read); write it with ``pitstop.runtime.training_set.
        write`` or the CLI's ``pitstop training-set``."""
        from pitstop.runtime.training_set import get_historical_features

        self.check_training_set(entity_df, features, timestamp_column=timestamp_column,
                                full_feature_names=full_feature_names, accuracy=accuracy)
        return get_historical_features(self.context(), entity_df, list(features),
                                       timestamp_column=timestamp_column, full_feature_names=full_feature_names,
                                       accuracy=accuracy)

    def check_training_set(self, entity_df: Any, features: Sequence[str], *, accuracy: str = "snapshot",
                           full_feature_names: bool = False, timestamp_column: str = "event_timestamp") -> None:
        """Every check of a training-set request that needs no data (features, spine columns and types, name
        clashes), answered before the Spark session starts."""
        from pitstop.runtime.training_set import check_request

        check_request(self.load_plan(), entity_df, list(features), timestamp_column=timestamp_column,
                      full_feature_names=full_feature_names, accuracy=accuracy)

    def training_set_from_manifest(self, manifest: JSONObject | str) -> TrainingSet:
        """Rebuild a training set exactly from its manifest (a loaded one, or its file or folder)."""
        from pitstop.runtime.training_set import from_manifest, load_manifest

        ctx = self.context()
        ctx.spark  # noqa: B018 (a manifest on s3a:// is read through the session's Hadoop configuration)
        loaded = load_manifest(manifest) if isinstance(manifest, str) else manifest
        return from_manifest(ctx, loaded)

    def build_training_set(self, name: str, run_id: str) -> tuple[TrainingSetSpec, JSONObject]:
        """A TrainingSet definition's run: its spine SQL joined point in time and written to
        ``<output>/<run_id>`` with the manifest; returns (the plan's entry, the manifest). Relative paths (in the
        spine SQL, the output) are relative to the repository."""
        import os
        import re

        from pitstop.errors import UsageError
        from pitstop.runtime.training_set import write

        plan = self.load_plan()
        entry = plan.training_sets.get(name)
        if entry is None:
            raise UsageError(f"no training set {name!r} in the plan; training sets: "
                             f"{', '.join(sorted(plan.training_sets)) or 'none'}")
        os.chdir(self.repo)
        result = self.training_set(entry.spine_sql, list(entry.features), timestamp_column=entry.timestamp_column,
                                   full_feature_names=entry.full_feature_names)
        folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("_")
        out = f"{entry.output.rstrip('/')}/{folder}"
        return entry, write(result, out, entry.format, overwrite=True)

    def validate(self, view: str, ds: date | str, version: int | None = None) -> GateResult:
        """The validation gate on a day as the snapshot table holds it now (or at Delta ``version``); recorded
        like any attempt, nothing else changes. ``raise_if_failed`` turns a failure into ValidationFailed."""
        from pitstop.runtime.quality import validate_by_hand

        self.check_views([view])
        return validate_by_hand(self.context(), view, _day(ds), version)

    def check_consistency(self, views: Sequence[str] | str, sample: int = 1000) -> list[ConsistencyReport]:
        """Compare ``sample`` entities of each view between Redis and the Delta snapshot they were published
        from, and record each result (shown by `pitstop status`)."""
        from pitstop.runtime.consistency import check, record

        names = [views] if isinstance(views, str) else list(views)
        self.check_views(names)
        ctx = self.context()
        reports = [check(ctx, name, sample) for name in names]
        for report in reports:
            record(ctx, report)
        return reports

    def status(self, now: datetime | None = None) -> list[JSONObject]:
        """One row per view: what is materialized, published, validated and consistent (no Spark)."""
        from pitstop.runtime.status import gather_status

        return gather_status(self.context(), now)

    def report(self, view: str, out: str | Path, now: datetime | None = None) -> tuple[int, int]:
        """Write the HTML report of a view (its statistics over time and validation history) to ``out``;
        returns (days of statistics, validation attempts)."""
        from datetime import UTC
        from datetime import datetime as clock

        from pitstop.runtime.report import render_report
        from pitstop.runtime.status import report_inputs

        entry = self.load_plan().view(view)
        stats, attempts = report_inputs(self.config, view, entry)
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_report(view, entry, stats, attempts, generated_at=now or clock.now(UTC)),
                          encoding="utf-8")
        return len({r["ds"] for r in stats}), len(attempts)

    def sql(self, query: str) -> DataFrame:
        """Spark SQL with every materialized view version registered as ``pitstop.<view>__v<N>``; a query
        Spark refuses is a UsageError naming the tables."""
        from pitstop.runtime.training_set import register_tables

        self.sql_tables = register_tables(self.context())
        try:
            return self.spark.sql(query)
        except Exception as exc:
            error = sql_error(exc, self.sql_tables)
            if error is exc:
                raise
            raise error from None

    def vacuum(self, views: Sequence[str] = (), retain_hours: int | None = None) -> tuple[list[str], int]:
        """Delta VACUUM of the views' tables (default: every view), keeping the files of versions younger than
        ``retain_hours`` (default: offline_store.retention_hours); returns (tables vacuumed, hours kept)."""
        from pitstop.runtime.training_set import vacuum

        self.check_views(views)
        hours = self.config.retention_hours if retain_hours is None else retain_hours
        return vacuum(self.context(), list(views) or None, hours), hours

    def doctor(self, only: Sequence[str] = ()) -> list[Check]:
        """Check Java, Spark with Delta Lake (a real table) and Redis."""
        from pitstop.runtime.doctor import run_checks

        return run_checks(self.config, tuple(only))

    def snapshot(self, view: str, ds: date | str) -> DataFrame:
        """One materialized day of a view as a DataFrame (join keys, feature_timestamp, features)."""
        from pitstop.runtime.materialize import snapshot

        return snapshot(self.context(), view, _day(ds))

    def export_snapshot(self, view: str, ds: date | str, out: str | Path) -> int:
        """Write one materialized day of a view to a parquet file (timestamps as TIMESTAMP(MICROS), adjusted
        to UTC, like every parquet file pitstop writes); returns its rows."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.check_views([view])
        table = self.snapshot(view, ds).toArrow()
        utc = pa.timestamp("us", tz="UTC")
        table = table.cast(pa.schema([f.with_type(utc) if pa.types.is_timestamp(f.type) else f
                                      for f in table.schema]))
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target, coerce_timestamps="us")
        return int(table.num_rows)

    def materialized_days(self, view: str) -> list[date]:
        from pitstop.runtime.materialize import materialized_days

        return materialized_days(self.context(), view)

    def history(self, view: str) -> list[JSONObject]:
        """Commits of the view's snapshot table, newest first, with the ds range each wrote."""
        from pitstop.runtime.materialize import history

        self.check_views([view])
        return history(self.context(), view)


def sql_error(exc: Exception, tables: Sequence[str]) -> Exception:
    """A Spark SQL error as a UsageError that names the registered tables (other errors: themselves)."""
    from pitstop.runtime.materialize import first_line, is_spark_error

    if is_spark_error(exc):
        from pitstop.errors import UsageError

        return UsageError(f"Spark SQL: {first_line(exc)}. Tables: {', '.join(tables) or 'none yet'}")
    return exc


def _day(value: date | str) -> date:
    from pitstop.errors import UsageError

    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"{value!r} is not a day in YYYY-MM-DD form") from exc
