"""A view's tables and its materialization log: where they live, which days the log records, which commit of
the snapshot table wrote a day. Shared by materialization, validation, publishing and training sets."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING

from pitstop.config import Config
from pitstop.errors import UnsupportedDeltaTable, UsageError
from pitstop.plan.model import View
from pitstop.stores import delta, delta_log

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class ViewTables:
    """The Delta tables of one view version, as paths under the offline store."""

    def __init__(self, config: Config, view: View) -> None:
        root = self.root = config.offline_store_path
        self.snapshots = delta.table_path(root, view.tables.output)
        self.tiles = delta.table_path(root, view.tables.tiles) if view.tables.tiles else None
        self.log = delta.table_path(root, view.log_table)
        self.state = delta.table_path(root, view.lifetime_state_table)
        self.stats = delta.table_path(root, view.stats_table)
        self.written = [p for p in (self.tiles, self.snapshots, self.state, self.stats, self.log) if p is not None]
        self.properties = {"pitstop.view": view.name, "pitstop.view_version": str(view.version),
                           "pitstop.data_fingerprint": view.data_fingerprint}


def logged_days(spark: SparkSession, log_path: str) -> dict[str, set[date]]:
    """The days each kind ("tiles", "snapshot") is recorded for in the materialization log (a local one read
    with pyarrow, without a Spark job)."""
    days: dict[str, set[date]] = {"tiles": set(), "snapshot": set()}
    if delta.is_local(log_path):
        try:
            rows = delta_log.read_table(log_path, ["kind", "ds"]).to_pylist()
        except FileNotFoundError:
            return days
        except (UnsupportedDeltaTable, OSError, ValueError):
            rows = None
        if rows is not None:
            for r in rows:
                days.setdefault(r["kind"], set()).add(r["ds"])
            return days
    log = delta.read(spark, log_path)
    if log is not None:
        for r in log.select("kind", "ds").distinct().collect():
            days.setdefault(r.kind, set()).add(r.ds)
    return days


def snapshot_version(spark: SparkSession, tables: ViewTables, view_name: str, ds: date) -> int:
    """The Delta version of the snapshot table holding ds as it is now: the commit of the run the log
    names for ds (a later commit that did not touch ds leaves it as it was)."""
    log = delta.read(spark, tables.log)
    runs = [] if log is None else [r.run_id for r in log.where(f"kind = 'snapshot' AND ds = DATE '{ds}'").collect()]
    commits = delta.history(spark, tables.snapshots) if runs else []
    versions = [int(c["version"]) for c in commits if runs and c.get("pitstop_run") == runs[0]]
    if not versions:
        raise UsageError(f"view {view_name!r} has no materialized snapshot for {ds}; run `pitstop materialize "
                         f"{view_name} --start {ds} --end {ds}`")
    return max(versions)


def day_to_publish(view_name: str, days: set[date], ds: date | None) -> date:
    """``ds``, or else the newest materialized day; UsageError when there is none."""
    if ds is not None:
        return ds
    if not days:
        raise UsageError(f"view {view_name!r} has no materialized day to publish; run `pitstop materialize "
                         f"{view_name} --start D --end D` first")
    return max(days)


def read_without_spark(config: Config, tables: ViewTables, view_name: str, ds: date | None) -> tuple[date, int]:
    """(ds or the newest materialized day, the snapshot version holding it), as ``logged_days``,
    ``day_to_publish`` and ``snapshot_version`` answer, read from the Delta logs with pyarrow: no Spark session.
    UsageError when no day (or not ds) is materialized; UnsupportedDeltaTable or OSError when the logs cannot
    be read this way (the caller then asks Spark)."""
    s3 = config.arrow_s3()
    try:
        log = delta_log.read_table(tables.log, ["kind", "ds", "run_id"], s3).to_pylist()
    except FileNotFoundError:
        log = []
    ds = day_to_publish(view_name, {r["ds"] for r in log if r["kind"] == "snapshot"}, ds)
    runs = {r["run_id"] for r in log if r["kind"] == "snapshot" and r["ds"] == ds}
    versions = [v for v, info in delta_log.commit_infos(tables.snapshots, s3).items()
                if runs and info.get("userMetadata") and json.loads(info["userMetadata"]).get("pitstop_run") in runs]
    if not versions:
        raise UsageError(f"view {view_name!r} has no materialized snapshot for {ds}; run `pitstop materialize "
                         f"{view_name} --start {ds} --end {ds}`")
    return ds, max(versions)
