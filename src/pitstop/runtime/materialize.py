"""Materialize views for a range of days: tiles -> snapshots (aggregates) or copied rows (latest values).

The job's whole world is (plan, view, first ds, last ds) plus config (design.md §4 rule 4). Each run
writes one commit per table (a table's first run also creates it), every write replaces exactly the
partitions it owns (rule 5), and the materialization log is written last: a day counts as
materialized only once its snapshot is committed.
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from pitstop.compute import aggregates as agg
from pitstop.config import Config
from pitstop.errors import PlanError, UsageError
from pitstop.plan import naming
from pitstop.runtime.catalog import view_entry
from pitstop.stores import delta
from pitstop.stores.sources import read_source

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

LOG_SCHEMA = "ds date, kind string, rows bigint, run_id string"
CHUNK_DAYS = 15  # a backfill computes at most this many days of snapshots at a time


@dataclass
class RunSummary:
    view: str
    start: date
    end: date
    snapshot_days: list[date] = field(default_factory=list)
    tile_days: list[date] = field(default_factory=list)
    cascaded: list[date] = field(default_factory=list)
    skipped_cascade: list[date] = field(default_factory=list)
    events: int = 0
    invalid_rows: int = 0
    rows_written: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        lines = [f"{self.view}: materialized {len(self.snapshot_days)} day(s) {self.start} .. {self.end} "
                 f"in {self.seconds:.1f}s; {self.events:,} events read, {self.rows_written:,} rows written"]
        if self.tile_days:
            lines.append(f"  tiles (re)computed for {len(self.tile_days)} day(s): {_ranges(self.tile_days)}")
        if self.invalid_rows:
            lines.append(f"  {self.invalid_rows:,} source row(s) with a null join key or event timestamp "
                         f"were excluded")
        if self.cascaded:
            lines.append(f"  cascaded to later snapshots whose windows include a recomputed day: "
                         f"{_ranges(self.cascaded)}")
        if self.skipped_cascade:
            lines.append(f"  WARNING --no-cascade: these materialized snapshots include recomputed days and were "
                         f"NOT recomputed: {_ranges(self.skipped_cascade)}")
        return "\n".join(lines)


def contiguous_runs(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days grouped into (first, last) runs of consecutive days."""
    runs: list[tuple[date, date]] = []
    for d in sorted(days):
        if runs and d == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


def _ranges(days: list[date]) -> str:
    return ", ".join(str(lo) if lo == hi else f"{lo}..{hi}" for lo, hi in contiguous_runs(days))


def _in(days: list[date]) -> str:
    return "ds IN (" + ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(days)) + ")"


def _days(lo: date, hi: date) -> list[date]:
    return agg.snapshot_days(lo, hi) if lo <= hi else []


class ViewTables:
    def __init__(self, config: Config, name: str, view: dict[str, Any]) -> None:
        root = self.root = config.offline_store_path
        tables = view["tables"]
        self.snapshots = delta.table_path(root, tables.get("snapshots") or tables["latest"])
        self.tiles = delta.table_path(root, tables["tiles"]) if "tiles" in tables else None
        self.log = delta.table_path(root, f"log/{naming.table_name(name, view['version'])}")
        self.properties = {"pitstop.view": name, "pitstop.view_version": str(view["version"]),
                           "pitstop.data_fingerprint": view["data_fingerprint"]}


def logged_days(spark: SparkSession, log_path: str) -> dict[str, set[date]]:
    """The days each kind ("tiles", "snapshot") is recorded for in the materialization log."""
    log = delta.read(spark, log_path)
    days: dict[str, set[date]] = {"tiles": set(), "snapshot": set()}
    if log is not None:
        for r in log.select("kind", "ds").distinct().collect():
            days.setdefault(r.kind, set()).add(r.ds)
    return days


def materialized_days(config: Config, plan: dict[str, Any], view_name: str, spark: SparkSession) -> list[date]:
    view = view_entry(plan, view_name)
    return sorted(logged_days(spark, ViewTables(config, view_name, view).log)["snapshot"])


def materialize(config: Config, plan: dict[str, Any], view_name: str, start: date, end: date,
                spark: SparkSession, *, cascade: bool = True) -> RunSummary:
    if start > end:
        raise UsageError(f"--start {start} is after --end {end}: give a range with start <= end")
    view = view_entry(plan, view_name)
    began = time.monotonic()
    summary = RunSummary(view_name, start, end)
    tables = ViewTables(config, view_name, view)
    source = read_source(spark, view_name, view, config.repo)
    run_id = uuid.uuid4().hex[:12]
    meta = {"pitstop_run": run_id, "ds_start": start.isoformat(), "ds_end": end.isoformat(),
            "plan_fingerprint": plan["fingerprint"]}
    if view["kind"] == "latest":
        _materialize_latest(view, source, tables, start, end, summary, meta)
    else:
        _materialize_aggregate(spark, view, source, tables, start, end, summary, meta, cascade)
    log_rows = [(d, "snapshot", n, run_id) for d, n in _rows_per_day(spark, tables.snapshots, summary)]
    if view["kind"] == "latest":
        summary.events = summary.rows_written  # a latest-value view copies each event row
    log_rows += [(d, "tiles", 0, run_id) for d in summary.tile_days]
    log_df = spark.createDataFrame(log_rows, LOG_SCHEMA)
    predicate = f"(kind = 'snapshot' AND {_in(summary.snapshot_days)})"
    if summary.tile_days:
        predicate += f" OR (kind = 'tiles' AND {_in(summary.tile_days)})"
    delta.replace(log_df, tables.log, predicate, metadata=meta, properties=tables.properties)
    summary.seconds = time.monotonic() - began
    return summary


def _rows_per_day(spark: SparkSession, path: str, summary: RunSummary) -> list[tuple[date, int]]:
    table = delta.read(spark, path)
    assert table is not None  # written just before
    counts = {r.ds: r["count"] for r in table.where(_in(summary.snapshot_days)).groupBy("ds").count().collect()}
    summary.rows_written = sum(counts.values())
    return [(d, int(counts.get(d, 0))) for d in sorted(summary.snapshot_days)]


def _count_null_timestamps(source: DataFrame, view: dict[str, Any]) -> int:
    """Source rows without an event time (parquet statistics skip the row groups that have none)."""
    return int(source.where(f"{agg.q(view['source']['timestamp_field'])} IS NULL").count())


def _count_invalid(source: DataFrame, view: dict[str, Any], lo: date, hi: date) -> int:
    ts = agg.q(view["source"]["timestamp_field"])
    in_range = (f"(CAST({ts} AS TIMESTAMP) >= TIMESTAMP '{lo} 00:00:00' AND "
                f"CAST({ts} AS TIMESTAMP) < TIMESTAMP '{hi + timedelta(days=1)} 00:00:00')")
    keys_null = " OR ".join(f"{agg.q(k['name'])} IS NULL" for k in view["join_keys"])
    return int(source.where(f"({in_range} AND ({keys_null})) OR {ts} IS NULL").count())


def _materialize_latest(view: dict[str, Any], source: DataFrame, tables: ViewTables, start: date, end: date,
                        summary: RunSummary, meta: dict[str, Any]) -> None:
    rows = agg.select_rows(source, view, [f["name"] for f in view["features"]], start, end) \
        .where(f"NOT ({agg.null_key_condition(view)})")
    summary.invalid_rows = _count_invalid(source, view, start, end)
    summary.snapshot_days = _days(start, end)
    delta.replace(rows, tables.snapshots, f"ds >= DATE '{start}' AND ds <= DATE '{end}'", partition_by=[agg.DS],
                  metadata=meta, properties=tables.properties)


def _materialize_aggregate(spark: SparkSession, view: dict[str, Any], source: DataFrame, tables: ViewTables,
                           start: date, end: date, summary: RunSummary, meta: dict[str, Any],
                           cascade: bool) -> None:
    assert tables.tiles is not None
    bounded = [f["window_days"] for f in view["features"] if f["window_days"] is not None]
    lifetime = any(f["window_days"] is None for f in view["features"])
    reach = max(bounded) if bounded else 1
    lateness = int(view["lateness_days"])
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
    if todo:
        from pyspark import StorageLevel

        events = agg.prepare_events(source, view, todo[0], todo[-1]).where(_in(todo))
        # one pass over the raw events: tiles (null-key groups included) are cached, counted, then written
        tiles = agg.compute_tiles(events, view).persist(StorageLevel.MEMORY_AND_DISK)
        null_key = agg.null_key_condition(view)
        counts = tiles.selectExpr("sum(rows__count) AS n",
                                  f"sum(CASE WHEN {null_key} THEN rows__count ELSE 0 END) AS bad").first()
        summary.events = int(counts.n or 0) if counts else 0
        summary.invalid_rows = (int(counts.bad or 0) if counts else 0) + _count_null_timestamps(source, view)
        delta.replace(tiles.where(f"NOT ({null_key})"), tables.tiles, _in(todo), partition_by=[agg.DS],
                      metadata=meta, properties=tables.properties)
        tiles.unpersist()
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
            print(f"warning: --no-cascade: {summary.view} snapshots {_ranges(later)} include recomputed days "
                  f"and keep their old values", file=sys.stderr)
    days = _days(start, end) + summary.cascaded
    summary.snapshot_days = days
    all_tiles = delta.read(spark, tables.tiles)
    assert all_tiles is not None
    chunks = [days[i:i + CHUNK_DAYS] for i in range(0, len(days), CHUNK_DAYS)]
    if len(chunks) == 1:
        snapshots = _snapshots(all_tiles, view, days, lifetime)
    else:
        # a long range is computed chunk by chunk into a staging folder (bounded memory, progress on the
        # console), then published from there in the ONE commit of this run
        staging = delta.table_path(tables.root, f"_staging/{meta['pitstop_run']}")
        began, rows = time.monotonic(), 0
        for number, chunk in enumerate(chunks, 1):
            part = _snapshots(all_tiles, view, chunk, lifetime).persist()
            rows += part.count()
            part.write.mode("append").partitionBy(agg.DS).parquet(staging)
            part.unpersist()
            elapsed = time.monotonic() - began
            eta = elapsed / number * (len(chunks) - number)
            print(f"{summary.view}: chunk {number}/{len(chunks)} ({chunk[0]}..{chunk[-1]}) done; {rows:,} rows, "
                  f"{rows / max(elapsed, 1e-9):,.0f} rows/s, ETA {eta:.0f}s", file=sys.stderr, flush=True)
        snapshots = spark.read.parquet(staging)
        snapshots = snapshots.select(*_snapshots(all_tiles, view, chunks[0], lifetime).columns)
    delta.replace(snapshots, tables.snapshots, _in(days), partition_by=[agg.DS], metadata=meta,
                  properties=tables.properties)
    if len(chunks) > 1:
        _remove(spark, staging)


def _remove(spark: SparkSession, path: str) -> None:
    """Delete a folder on any Hadoop file system (local, s3a://, ...)."""
    jvm: Any = spark._jvm
    conf: Any = spark._jsc.hadoopConfiguration()
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    hadoop_path.getFileSystem(conf).delete(hadoop_path, True)


def _snapshots(tiles: DataFrame, view: dict[str, Any], days: list[date], lifetime: bool) -> DataFrame:
    """Snapshots for the given days, computed per contiguous run of days and unioned."""
    frames = []
    for lo, hi in contiguous_runs(days):
        base = agg.merge_base(tiles.where(f"ds < DATE '{lo}'"), view) if lifetime else None
        frames.append(agg.compute_snapshots(tiles, view, lo, hi, base))
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def _source_first_day(source: DataFrame, view: dict[str, Any], start: date) -> date:
    """The first day with events, for lifetime windows on a view's first run."""
    ts = agg.q(view["source"]["timestamp_field"])
    first = source.selectExpr(f"to_date(min(CAST({ts} AS TIMESTAMP))) AS d").first()  # the UTC day, in Spark
    if first is None or first.d is None:
        return start
    first_day: date = first.d
    return min(first_day, start)


def check_view_names(plan: dict[str, Any], views: list[str]) -> None:
    for name in views:
        if name not in plan["views"]:
            raise PlanError(f"unknown view {name!r}; views in the plan: {', '.join(sorted(plan['views']))}")


def snapshot(config: Config, plan: dict[str, Any], view_name: str, ds: date, spark: SparkSession) -> DataFrame:
    """One day's snapshot: join keys, feature_timestamp = S(ds), features. Keys without a row have
    empty-window values (0 for count-likes, null otherwise). For a latest-value view: the newest row
    per key with event time before S(ds)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    view = view_entry(plan, view_name)
    tables = ViewTables(config, view_name, view)
    done = logged_days(spark, tables.log)["snapshot"]
    if ds not in done:
        have = _ranges(sorted(done)) if done else "none"
        raise UsageError(f"view {view_name!r} has no materialized snapshot for {ds}; materialized days: {have}. "
                         f"Run `pitstop materialize {view_name} --start {ds} --end {ds}`")
    table = delta.read(spark, tables.snapshots)
    assert table is not None
    keys = [k["name"] for k in view["join_keys"]]
    names = [f["name"] for f in view["features"]]
    if view["kind"] == "aggregate":
        return table.where(f"ds = DATE '{ds}'").select(*keys, agg.FEATURE_TS, *names)
    order = [F.col(agg.TS).desc()]
    if agg.CREATED in table.columns:
        order.append(F.col(agg.CREATED).desc_nulls_last())
    order += [F.col(agg.q(n)).desc_nulls_last() for n in names]
    newest = (table.where(f"ds <= DATE '{ds}'")
              .withColumn("_rank", F.row_number().over(Window.partitionBy(*[agg.q(k) for k in keys]).orderBy(*order)))
              .where("_rank = 1"))
    return newest.select(*keys, F.lit(ds + timedelta(days=1)).cast("timestamp").alias(agg.FEATURE_TS), *names)


def history(config: Config, plan: dict[str, Any], view_name: str, spark: SparkSession) -> list[dict[str, Any]]:
    view = view_entry(plan, view_name)
    path = ViewTables(config, view_name, view).snapshots
    if not delta.exists(spark, path):
        return []
    return delta.history(spark, path)
