"""A view's tables and its materialization log: where they live, which days the log records, which commit of
the snapshot table wrote a day. Shared by materialization, validation, publishing and training sets."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from pitstop.config import Config
from pitstop.errors import UsageError
from pitstop.plan.model import View
from pitstop.stores import delta

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
    """The days each kind ("tiles", "snapshot") is recorded for in the materialization log."""
    log = delta.read(spark, log_path)
    days: dict[str, set[date]] = {"tiles": set(), "snapshot": set()}
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
