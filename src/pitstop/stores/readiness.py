"""Is a source complete through a moment? The check behind each DAG's ``wait_for_source`` task and behind
materialize's days check.

No Spark: parquet footers and the Delta transaction log (``delta_log``) are read with pyarrow, so a check costs
milliseconds and runs in the triggerer (or a sensor) without a Spark application. The checks
(``BatchSource(readiness=...)``):

- ``max_event_time``: the newest event time in the source is >= the moment. Parquet: the footers'
  column statistics (hive ``ds=`` partitions are read newest first, stopping at the first that
  qualifies). Delta: the per-file ``maxValues`` statistics of the files in the current version.
- ``delta_commit``: the Delta table has a commit made at or after the moment.
- ``none``: always ready.

A Delta table the log reader cannot read correctly is refused (UnsupportedDeltaTable, terminal), never taken
as "not ready yet".
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pitstop.errors import UnsupportedDeltaTable
from pitstop.plan.model import ViewSource
from pitstop.stores import delta_log

if TYPE_CHECKING:
    from pyarrow.fs import FileSystem


@dataclass(frozen=True)
class Readiness:
    ready: bool
    detail: str  # what was found, for the task log


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parquet_extreme(filesystem: FileSystem, file: str, column: str, newest: bool) -> datetime | None:
    """The newest (or oldest) value of ``column`` in one parquet file, from the footer's row-group statistics
    (the row group's values where it has none). A ``date`` column reads as midnight UTC."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    with filesystem.open_input_file(file) as handle:
        parquet = pq.ParquetFile(handle)
        meta = parquet.metadata
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        if column not in names:
            return None
        index = names.index(column)
        best: datetime | None = None
        for group in range(meta.num_row_groups):
            rows = meta.row_group(group).num_rows
            stats = meta.row_group(group).column(index).statistics
            if rows == 0 or (stats is not None and stats.null_count == rows):
                continue  # no value in this row group
            if stats is None or not stats.has_min_max:  # no statistics written: read the column
                values = parquet.read_row_group(group, columns=[column]).column(0)
                value = (pc.max(values) if newest else pc.min(values)).as_py()
            else:
                value = stats.max if newest else stats.min
            found = _utc(_as_datetime(value))
            if found is not None and (best is None or (found > best if newest else found < best)):
                best = found
        return best


def _as_datetime(value: Any) -> Any:
    """A parquet statistic as a datetime: dates become midnight (UTC), other values pass through."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return value


def first_event_time(source: ViewSource, path: str, s3: Mapping[str, Any] | None = None) -> datetime | None:
    """The oldest event time in a source (None: no events), from parquet footers or the Delta log's file
    statistics, without Spark. A Delta table without statistics on the column raises ValueError; one the log
    reader cannot read correctly, UnsupportedDeltaTable."""
    column = str(source.timestamp_field)
    if source.format == "delta":
        try:
            return _delta_min_event_time(path, column, s3)
        except UnsupportedDeltaTable as exc:
            raise UnsupportedDeltaTable(f"source {source.name!r}: {exc}") from exc
    filesystem, root = delta_log.filesystem(path, s3)
    firsts = [low for file in _data_files(filesystem, root)
              if (low := _parquet_extreme(filesystem, file, column, newest=False)) is not None]
    return min(firsts, default=None)


def _delta_min_event_time(path: str, column: str, s3: Mapping[str, Any] | None) -> datetime | None:
    table = delta_log.snapshot(path, s3)
    oldest: datetime | None = None
    for add in table.files:
        stats = delta_log.statistics(table, add)
        if not stats.get("numRecords"):
            continue
        low = (stats.get("minValues") or {}).get(column)
        if low is None:
            if (stats.get("nullCount") or {}).get(column) == stats.get("numRecords"):
                continue  # every value of this file is null
            raise ValueError(f"Delta table {path} v{table.version}: file {add['path']} has no statistics for "
                             f"{column}")
        value = _utc(low)
        if value is not None and (oldest is None or value < oldest):
            oldest = value
    return oldest


def _data_files(filesystem: FileSystem, root: str) -> list[str]:
    from pyarrow import fs

    info = filesystem.get_file_info(root)
    if info.type == fs.FileType.File:
        return [root]
    if info.type == fs.FileType.NotFound:
        return []
    files = filesystem.get_file_info(fs.FileSelector(root, recursive=True))
    return sorted((f.path for f in files if f.type == fs.FileType.File and f.path.endswith(".parquet")
                   and not any(part.startswith(("_", ".")) for part in posixpath.relpath(f.path, root).split("/"))),
                  reverse=True)  # hive ds= folders newest first


def parquet_max_event_time(path: str, column: str, until: datetime, s3: Mapping[str, Any] | None = None) -> Readiness:
    filesystem, root = delta_log.filesystem(path, s3)
    files = _data_files(filesystem, root)
    if not files:
        return Readiness(False, f"no parquet files under {path} yet")
    newest: datetime | None = None
    for file in files:
        top = _parquet_extreme(filesystem, file, column, newest=True)
        if top is not None and (newest is None or top > newest):
            newest = top
        if newest is not None and newest >= until:
            return Readiness(True, f"newest {column} {newest.isoformat()} >= {until.isoformat()} ({file})")
    shown = newest.isoformat() if newest else "none"
    return Readiness(False, f"newest {column} in {len(files)} file(s) is {shown}, before {until.isoformat()}")


def delta_max_event_time(path: str, column: str, until: datetime, s3: Mapping[str, Any] | None = None) -> Readiness:
    table = delta_log.snapshot(path, s3)
    version = table.version
    newest: datetime | None = None
    for add in table.files:
        stats = delta_log.statistics(table, add)
        top = _utc((stats.get("maxValues") or {}).get(column))
        if top is not None and (newest is None or top > newest):
            newest = top
    if newest is None:
        return Readiness(False, f"Delta table {path} v{version}: no file statistics for {column} (no data yet, "
                                f"or statistics are off: use readiness='delta_commit')")
    ok = newest >= until
    return Readiness(ok, f"Delta v{version}: newest {column} {newest.isoformat()} "
                         f"{'>=' if ok else '<'} {until.isoformat()}")


def delta_commit_time(path: str, until: datetime, s3: Mapping[str, Any] | None = None) -> Readiness:
    version, committed = delta_log.commit_time(path, s3)
    if committed is None:
        return Readiness(False, f"Delta v{version} of {path} records no commit time")
    ok = committed >= until
    return Readiness(ok, f"newest commit v{version} at {committed.isoformat()} {'>=' if ok else '<'} "
                         f"{until.isoformat()}")


def check(source: ViewSource, path: str, until: datetime, s3: Mapping[str, Any] | None = None) -> Readiness:
    """Run the source's readiness check (from its plan entry) against ``path`` (resolved). UnsupportedDeltaTable
    (terminal) for a Delta table the log reader cannot read correctly."""
    mode = source.readiness
    if mode == "none":
        return Readiness(True, "readiness check off (readiness='none')")
    try:
        if mode == "delta_commit":
            return delta_commit_time(path, until, s3)
        if source.format == "delta":
            return delta_max_event_time(path, source.timestamp_field, until, s3)
    except UnsupportedDeltaTable as exc:
        raise UnsupportedDeltaTable(f"source {source.name!r}: {exc}; or give the source readiness='none' (its "
                                    f"data is then taken as ready)") from exc
    return parquet_max_event_time(path, source.timestamp_field, until, s3)
