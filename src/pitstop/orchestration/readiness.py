"""Is a source complete through a moment? The check behind each DAG's ``wait_for_source`` task.

No Spark: parquet footers and the Delta transaction log are read with pyarrow, so a check costs
milliseconds and runs in the triggerer (or a sensor) without a Spark application. The checks
(``BatchSource(readiness=...)``):

- ``max_event_time``: the newest event time in the source is >= the moment. Parquet: the footers'
  column statistics (hive ``ds=`` partitions are read newest first, stopping at the first that
  qualifies). Delta: the per-file ``maxValues`` statistics of the files in the current version.
- ``delta_commit``: the Delta table has a commit made at or after the moment.
- ``none``: always ready.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from pitstop.plan.model import ViewSource

if TYPE_CHECKING:
    import pyarrow as pa
    from pyarrow.fs import FileSystem


@dataclass(frozen=True)
class Readiness:
    ready: bool
    detail: str  # what was found, for the task log


def _filesystem(path: str, s3: Mapping[str, Any] | None = None) -> tuple[FileSystem, str]:
    """A pyarrow filesystem and the path inside it; ``s3``: S3FileSystem options (Config.s3.arrow_options())
    for s3a:// paths; credentials come from the AWS environment, as for S3A."""
    from pyarrow import fs

    if "://" not in path:
        return fs.LocalFileSystem(), path
    if path.startswith(("s3a://", "s3n://", "s3://")):
        return fs.S3FileSystem(**(s3 or {})), path.split("://", 1)[1]
    if path.startswith("file://"):
        return fs.LocalFileSystem(), unquote(path.removeprefix("file://"))
    return fs.FileSystem.from_uri(path)  # type: ignore[no-any-return]


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
    statistics, without Spark. A Delta table without statistics on the column raises ValueError."""
    column = str(source.timestamp_field)
    if source.format == "delta":
        adds, version = _delta_actions(path, s3)
        oldest: datetime | None = None
        for add in adds:
            stats = json.loads(add.get("stats") or "{}")
            if not stats.get("numRecords"):
                continue
            low = (stats.get("minValues") or {}).get(column)
            if low is None:
                if (stats.get("nullCount") or {}).get(column) == stats.get("numRecords"):
                    continue  # every value of this file is null
                raise ValueError(f"Delta table {path} v{version}: file {add['path']} has no statistics for "
                                 f"{column}")
            value = _utc(low)
            if value is not None and (oldest is None or value < oldest):
                oldest = value
        return oldest
    filesystem, root = _filesystem(path, s3)
    firsts = [low for file in _data_files(filesystem, root)
              if (low := _parquet_extreme(filesystem, file, column, newest=False)) is not None]
    return min(firsts, default=None)


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
    filesystem, root = _filesystem(path, s3)
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


def _delta_actions(path: str, s3: Mapping[str, Any] | None = None) -> tuple[list[dict[str, Any]], int]:
    """The add actions of the current version (checkpoint plus later commits) and that version."""
    import pyarrow.parquet as pq
    from pyarrow import fs

    filesystem, root = _filesystem(path, s3)
    log = posixpath.join(root, "_delta_log")
    entries = filesystem.get_file_info(fs.FileSelector(log, allow_not_found=True))
    commits = sorted((int(posixpath.basename(e.path)[:20]), e.path) for e in entries
                     if e.path.endswith(".json") and posixpath.basename(e.path)[:20].isdigit())
    if not commits:
        raise FileNotFoundError(f"{path} is not a Delta table (no commits in {log})")
    files: dict[str, dict[str, Any]] = {}
    start = -1
    last_checkpoint = posixpath.join(log, "_last_checkpoint")
    if filesystem.get_file_info(last_checkpoint).type == fs.FileType.File:
        with filesystem.open_input_stream(last_checkpoint) as handle:
            start = int(json.loads(handle.read())["version"])
        parts = sorted(e.path for e in entries if posixpath.basename(e.path).startswith(f"{start:020d}.checkpoint")
                       and e.path.endswith(".parquet"))
        for part in parts:
            with filesystem.open_input_file(part) as handle:
                table = pq.read_table(handle, columns=["add"])
            for add in table.column("add").to_pylist():
                if add:
                    files[add["path"]] = add
    for version, file in commits:
        if version <= start:
            continue
        with filesystem.open_input_stream(file) as handle:
            for line in handle.read().decode().splitlines():
                if not line.strip():
                    continue
                action = json.loads(line)
                if "add" in action:
                    files[action["add"]["path"]] = action["add"]
                elif "remove" in action:
                    files.pop(action["remove"]["path"], None)
    return list(files.values()), commits[-1][0]


def delta_files(path: str, s3: Mapping[str, Any] | None = None) -> tuple[list[dict[str, Any]], int]:
    """The add actions (data files) of a Delta table's current version, and that version; no Spark.
    FileNotFoundError when ``path`` holds no Delta table."""
    return _delta_actions(path, s3)


def read_delta_table(path: str, columns: list[str] | None = None, s3: Mapping[str, Any] | None = None) -> pa.Table:
    """The current rows of a SMALL Delta table (a log, a manifest), read with pyarrow instead of Spark.

    Partition columns come back as strings. FileNotFoundError when ``path`` holds no Delta table;
    ValueError for tables this reader cannot read correctly (deletion vectors): read those with Spark."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    adds, version = _delta_actions(path, s3)
    filesystem, root = _filesystem(path, s3)
    parts = []
    for add in sorted(adds, key=lambda a: str(a["path"])):
        if add.get("deletionVector"):
            raise ValueError(f"Delta table {path} v{version} has deletion vectors: read it with Spark")
        partition = add.get("partitionValues") or {}
        file = unquote(str(add["path"]))
        with filesystem.open_input_file(file if file.startswith("/") else posixpath.join(root, file)) as handle:
            stored = None if columns is None else [c for c in columns if c not in partition]
            table = pq.read_table(handle, columns=stored)
        for key, value in sorted(partition.items()):
            table = table.append_column(key, pa.array([value] * table.num_rows, pa.string()))
        parts.append(table if columns is None else table.select(columns))
    if not parts:
        return pa.table({})
    return pa.concat_tables(parts, promote_options="default")


def delta_max_event_time(path: str, column: str, until: datetime, s3: Mapping[str, Any] | None = None) -> Readiness:
    adds, version = _delta_actions(path, s3)
    newest: datetime | None = None
    for add in adds:
        stats = json.loads(add.get("stats") or "{}")
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
    filesystem, root = _filesystem(path, s3)
    _, version = _delta_actions(path, s3)
    with filesystem.open_input_stream(posixpath.join(root, "_delta_log", f"{version:020d}.json")) as handle:
        lines = [line for line in handle.read().decode().splitlines() if line.strip()]
    stamps = [json.loads(line).get("commitInfo", {}).get("timestamp") for line in lines]
    millis = next((s for s in stamps if s is not None), None)
    if millis is None:
        return Readiness(False, f"Delta v{version} of {path} records no commit time")
    committed = datetime.fromtimestamp(millis / 1000, tz=UTC)
    ok = committed >= until
    return Readiness(ok, f"newest commit v{version} at {committed.isoformat()} {'>=' if ok else '<'} "
                         f"{until.isoformat()}")


def check(source: ViewSource, path: str, until: datetime, s3: Mapping[str, Any] | None = None) -> Readiness:
    """Run the source's readiness check (from its plan entry) against ``path`` (resolved)."""
    mode = source.readiness
    if mode == "none":
        return Readiness(True, "readiness check off (readiness='none')")
    if mode == "delta_commit":
        return delta_commit_time(path, until, s3)
    if source.format == "delta":
        return delta_max_event_time(path, source.timestamp_field, until, s3)
    return parquet_max_event_time(path, source.timestamp_field, until, s3)
