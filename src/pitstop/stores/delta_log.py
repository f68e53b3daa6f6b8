"""A Delta table's transaction log read with pyarrow, without Spark: the current version's data files (with their
statistics), its commit times, and the rows of small tables (materialization logs, quality tables).

The reader replays the newest classic checkpoint (one parquet file, or several parts) and the JSON commits after
it. Like delta-rs, it first checks the table's protocol action and refuses, with ``UnsupportedDeltaTable``, a
table it cannot read correctly:

- reader protocol versions 1 to 3 (``READER_VERSION``);
- the reader features in ``READER_FEATURES``: ``timestampNtz`` (a timestamp without time zone is read as UTC),
  ``deletionVectors`` (row reads refuse a file that has one, statistics of such a file are used only when they
  are tight), ``vacuumProtocolCheck`` (nothing to do for a reader), ``columnMapping`` only while its mode is
  ``none`` (with ``name`` or ``id`` the parquet columns and statistics carry physical names this reader does not
  map);
- every other reader feature, e.g. ``v2Checkpoint`` (UUID-named checkpoints and sidecar files), ``typeWidening``,
  ``variantType``, is refused, as is a table whose log holds no protocol action this reader found.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from pitstop.errors import UnsupportedDeltaTable
from pitstop.jsontypes import JSONObject

if TYPE_CHECKING:
    import pyarrow as pa
    from pyarrow.fs import FileSystem

READER_VERSION = 3  # the newest reader protocol version this reader understands
READER_FEATURES = frozenset({"columnMapping", "deletionVectors", "timestampNtz", "vacuumProtocolCheck"})
_COMMIT = re.compile(r"^\d{20}\.json$")  # not NNN.checkpoint.<uuid>.json, nor NNN.MMM.compacted.json
_WHAT_TO_DO = ("pitstop reads this log without Spark (source readiness, the days check, status pages): rewrite the "
               "table without the feature (Spark or Databricks: `ALTER TABLE ... DROP FEATURE {feature}`)")


@dataclass(frozen=True)
class LogSnapshot:
    """The current version of a Delta table as its log says: ``files`` are the add actions (path, size,
    partitionValues, stats, deletionVector ...), ``protocol`` the protocol action, ``configuration`` the table
    properties of the metaData action."""

    path: str
    version: int
    files: list[JSONObject]
    protocol: JSONObject
    configuration: dict[str, str]


def filesystem(path: str, s3: Mapping[str, Any] | None = None) -> tuple[FileSystem, str]:
    """A pyarrow filesystem and the path inside it; ``s3``: S3FileSystem options (Config.s3.arrow_options())
    for s3a:// paths; credentials come from the AWS environment, as for S3A."""
    from pyarrow import fs

    if path.startswith("file:"):  # file:///abs (a URI) or file:/abs (how Spark names local files)
        return fs.LocalFileSystem(), unquote(path.removeprefix("file://") if path.startswith("file://")
                                             else path.removeprefix("file:"))
    if "://" not in path:
        return fs.LocalFileSystem(), path
    if path.startswith(("s3a://", "s3n://", "s3://")):
        return fs.S3FileSystem(**(s3 or {})), path.split("://", 1)[1]
    return fs.FileSystem.from_uri(path)  # type: ignore[no-any-return]


def _file_key(action: Mapping[str, Any]) -> tuple[str, str]:
    """What identifies a logical file in the log: its path and its deletion vector's unique id (the protocol's
    rule: a DELETE with deletion vectors adds the path with its new vector and removes it without, in one
    commit and in either order, so the path alone would lose the file)."""
    dv = action.get("deletionVector") or None
    if not dv:
        return str(action["path"]), ""
    offset = dv.get("offset")
    return str(action["path"]), f"{dv.get('storageType')}{dv.get('pathOrInlineDv')}" + (
        f"@{offset}" if offset is not None else "")


def _as_dict(value: Any) -> JSONObject:
    """A map read from a checkpoint (pyarrow gives a list of (key, value) pairs) or from JSON, as a dict."""
    return dict(value or {})


def check_protocol(path: str, version: int, protocol: Mapping[str, Any] | None,
                   configuration: Mapping[str, str]) -> None:
    """Refuse (UnsupportedDeltaTable) a table this reader cannot read correctly: see the module's docstring."""
    if protocol is None:
        raise UnsupportedDeltaTable(
            f"Delta table {path} v{version}: pitstop's Delta log reader found no protocol action in the log (a "
            f"checkpoint format it does not read, such as a v2 checkpoint in JSON?), so it cannot tell whether it "
            f"can read the table; write the table with a checkpoint pitstop reads (a classic parquet checkpoint)")
    reader = int(protocol.get("minReaderVersion") or 1)
    if reader > READER_VERSION:
        raise UnsupportedDeltaTable(
            f"Delta table {path} v{version} needs Delta reader version {reader}; pitstop's Delta log reader "
            f"supports reader versions up to {READER_VERSION}: rewrite the table with a writer that keeps its reader "
            f"version at {READER_VERSION} or lower")
    features = set(protocol.get("readerFeatures") or []) if reader >= 3 else set()
    unknown = sorted(features - READER_FEATURES)
    if unknown:
        supported = ", ".join(sorted(READER_FEATURES))
        raise UnsupportedDeltaTable(
            f"Delta table {path} v{version} needs the reader feature(s) {', '.join(unknown)}, which pitstop's Delta "
            f"log reader does not support (it supports reader versions up to {READER_VERSION} and the features "
            f"{supported}; columnMapping with mode 'none' only); {_WHAT_TO_DO.format(feature=unknown[0])}")
    mapping = configuration.get("delta.columnMapping.mode", "none")
    if (reader == 2 or "columnMapping" in features) and mapping != "none":
        raise UnsupportedDeltaTable(
            f"Delta table {path} v{version} uses column mapping (delta.columnMapping.mode = {mapping!r}): its "
            f"files and statistics name columns by physical names, which pitstop's Delta log reader does not map; "
            f"{_WHAT_TO_DO.format(feature='columnMapping')}")


def snapshot(path: str, s3: Mapping[str, Any] | None = None, version: int | None = None) -> LogSnapshot:
    """The current version of the Delta table at ``path`` (newest checkpoint plus later commits), or ``version``
    (the newest checkpoint at or before it plus the commits up to it), its protocol checked. FileNotFoundError
    when ``path`` holds no Delta table, or no longer holds the log files of ``version``; UnsupportedDeltaTable
    for a table this reader cannot read correctly."""
    import pyarrow.parquet as pq
    from pyarrow import fs

    handle_fs, root = filesystem(path, s3)
    log = posixpath.join(root, "_delta_log")
    entries = handle_fs.get_file_info(fs.FileSelector(log, allow_not_found=True))
    commits = sorted((int(posixpath.basename(e.path)[:20]), e.path) for e in entries
                     if _COMMIT.match(posixpath.basename(e.path)))
    if version is not None:
        commits = [(v, file) for v, file in commits if v <= version]
    files: dict[tuple[str, str], JSONObject] = {}
    protocol: JSONObject | None = None
    configuration: dict[str, str] = {}
    start = -1
    last_checkpoint = posixpath.join(log, "_last_checkpoint")
    if handle_fs.get_file_info(last_checkpoint).type == fs.FileType.File:
        with handle_fs.open_input_stream(last_checkpoint) as handle:
            start = int(json.loads(handle.read())["version"])
    if version is not None and start > version:  # the newest checkpoint is later: an earlier one, or none
        earlier = [int(posixpath.basename(e.path)[:20]) for e in entries
                   if ".checkpoint." in posixpath.basename(e.path) and e.path.endswith(".parquet")]
        start = max([v for v in earlier if v <= version], default=-1)
    if start >= 0:
        parts = sorted(e.path for e in entries if posixpath.basename(e.path).startswith(f"{start:020d}.checkpoint")
                       and e.path.endswith(".parquet"))
        for part in parts:
            with handle_fs.open_input_file(part) as handle:
                checkpoint = pq.ParquetFile(handle)
                present = set(checkpoint.schema_arrow.names)
                table = checkpoint.read(columns=[c for c in ("add", "protocol", "metaData") if c in present])
            for column in table.column_names:
                for action in table.column(column).to_pylist():
                    if not action:
                        continue
                    if column == "add":  # maps come as (key, value) pairs from parquet: as in JSON, dicts
                        files[_file_key(action)] = {**action,
                                                    "partitionValues": _as_dict(action.get("partitionValues")),
                                                    "tags": _as_dict(action.get("tags")) or None}
                    elif column == "protocol":
                        protocol = action
                    else:
                        configuration = _as_dict(action.get("configuration"))
    if not commits and start < 0:
        raise FileNotFoundError(f"{path} is not a Delta table (no commits in {log})")
    expected = list(range(start + 1, (version if version is not None else commits[-1][0] if commits else start) + 1))
    if [v for v, _ in commits if v > start] != expected:
        raise FileNotFoundError(f"{path}: the log no longer holds every commit after version {start} up to "
                                f"{expected[-1] if expected else start} (expired log files)")
    for version, file in commits:
        if version <= start:
            continue
        with handle_fs.open_input_stream(file) as handle:
            for line in handle.read().decode().splitlines():
                if not line.strip():
                    continue
                action = json.loads(line)
                if "add" in action:
                    files[_file_key(action["add"])] = action["add"]
                elif "remove" in action:
                    files.pop(_file_key(action["remove"]), None)
                elif "protocol" in action:
                    protocol = action["protocol"]
                elif "metaData" in action:
                    configuration = _as_dict(action["metaData"].get("configuration"))
    version = max([start, *(v for v, _ in commits)])
    check_protocol(path, version, protocol, configuration)
    return LogSnapshot(path, version, list(files.values()), protocol or {}, configuration)


def statistics(table: LogSnapshot, add: Mapping[str, Any]) -> JSONObject:
    """The statistics of one data file (numRecords, minValues, maxValues, nullCount), empty when it has none.
    A file with a deletion vector whose bounds are not tight (a delete kept the bounds of rows it removed) is
    refused: its newest or oldest value may be a deleted row's."""
    stats: JSONObject = json.loads(add.get("stats") or "{}")
    if add.get("deletionVector") and stats and stats.get("tightBounds") is not True:
        raise UnsupportedDeltaTable(
            f"Delta table {table.path} v{table.version}: file {add['path']} has a deletion vector and its "
            f"statistics still count the rows it deletes, so pitstop's Delta log reader cannot tell the newest or "
            f"oldest value from them; rewrite the files without deletion vectors (Spark: `REORG TABLE "
            f"delta.`{table.path}` APPLY (PURGE)`), or use readiness='delta_commit' for this source")
    return stats


def read_table(path: str, columns: list[str] | None = None, s3: Mapping[str, Any] | None = None, *,
               version: int | None = None, partition: Mapping[str, str] | None = None) -> pa.Table:
    """The rows of a SMALL Delta table (a log, a manifest, one day of a snapshot), read with pyarrow instead of
    Spark: its current version or ``version``; with ``partition``, only the files of those partition values.

    Partition columns come back as strings. FileNotFoundError when ``path`` holds no Delta table;
    UnsupportedDeltaTable for a table this reader cannot read correctly (see the module), or a file with a
    deletion vector."""
    return read_files(snapshot(path, s3, version), columns, s3, partition=partition)


def matching(table: LogSnapshot, partition: Mapping[str, str] | None) -> list[JSONObject]:
    """The table's data files (add actions) whose partition values are ``partition``'s (all without it)."""
    return [add for add in table.files
            if not partition or all((add.get("partitionValues") or {}).get(k) == v for k, v in partition.items())]


def rows_in(table: LogSnapshot, partition: Mapping[str, str]) -> int | None:
    """The rows of the files with ``partition``'s values, summed from their statistics (numRecords); None when
    one of them has no row count, or a deletion vector (whose deleted rows its count includes)."""
    total = 0
    for add in matching(table, partition):
        rows = json.loads(str(add.get("stats") or "{}")).get("numRecords")
        if add.get("deletionVector") or not isinstance(rows, int):
            return None
        total += rows
    return total


def read_files(table: LogSnapshot, columns: list[str] | None = None, s3: Mapping[str, Any] | None = None, *,
               partition: Mapping[str, str] | None = None) -> pa.Table:
    """read_table of a snapshot already read from the log (its ``path`` and ``version``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = table.path
    handle_fs, root = filesystem(path, s3)
    parts = []
    for add in sorted(matching(table, partition), key=lambda a: str(a["path"])):
        if add.get("deletionVector"):
            raise UnsupportedDeltaTable(f"Delta table {path} v{table.version}: file {add['path']} has a deletion "
                                        f"vector, whose deleted rows pitstop's Delta log reader does not remove; "
                                        f"rewrite the files without deletion vectors (Spark: `REORG TABLE "
                                        f"delta.`{path}` APPLY (PURGE)`)")
        values = add.get("partitionValues") or {}
        file = unquote(str(add["path"]))
        with handle_fs.open_input_file(file if file.startswith("/") else posixpath.join(root, file)) as handle:
            stored = None if columns is None else [c for c in columns if c not in values]
            rows = pq.read_table(handle, columns=stored)
        for key, value in sorted(values.items()):
            rows = rows.append_column(key, pa.array([value] * rows.num_rows, pa.string()))
        parts.append(_utc_micros(rows if columns is None else rows.select(columns)))
    if not parts:
        return pa.table({})
    return pa.concat_tables(parts, promote_options="default")


def _utc_micros(table: pa.Table) -> pa.Table:
    """Every timestamp column as timestamp[us, UTC], however its file stored it: a table's older files may hold
    INT96 timestamps (read as nanoseconds without a zone: Spark writes them as UTC instants) and its newer ones
    TIMESTAMP(MICROS, UTC); without one type the files' rows could not be put together."""
    import pyarrow as pa

    wanted = pa.timestamp("us", tz="UTC")
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type != wanted:
            column = table.column(i)
            if field.type.tz is None:
                column = column.cast(pa.timestamp(field.type.unit, tz="UTC"))
            table = table.set_column(i, field.with_type(wanted), column.cast(wanted, safe=False))  # ns: truncated
    return table


def commit_infos(path: str, s3: Mapping[str, Any] | None = None, *,
                 versions: list[int] | None = None) -> dict[int, JSONObject]:
    """The commitInfo action of every commit file the log still holds (or of ``versions``), by version (what
    DESCRIBE HISTORY shows; its ``userMetadata`` is a JSON string)."""
    from pyarrow import fs

    handle_fs, root = filesystem(path, s3)
    log = posixpath.join(root, "_delta_log")
    infos: dict[int, JSONObject] = {}
    if versions is None:
        files = [e.path for e in handle_fs.get_file_info(fs.FileSelector(log, allow_not_found=True))
                 if _COMMIT.match(posixpath.basename(e.path))]
    else:
        files = [posixpath.join(log, f"{v:020d}.json") for v in versions]
    for file in files:
        try:
            handle = handle_fs.open_input_stream(file)
        except FileNotFoundError:
            continue
        with handle:
            for line in handle.read().decode().splitlines():
                if line.strip() and '"commitInfo"' in line:
                    action = json.loads(line)
                    if "commitInfo" in action:
                        infos[int(posixpath.basename(file)[:20])] = action["commitInfo"]
    return infos


def commit_time(path: str, s3: Mapping[str, Any] | None = None) -> tuple[int, datetime | None]:
    """The current version of the table and the time its commit records (None if it records none)."""
    table = snapshot(path, s3)
    handle_fs, root = filesystem(path, s3)
    with handle_fs.open_input_stream(posixpath.join(root, "_delta_log", f"{table.version:020d}.json")) as handle:
        lines = [line for line in handle.read().decode().splitlines() if line.strip()]
    stamps = [json.loads(line).get("commitInfo", {}).get("timestamp") for line in lines]
    millis = next((s for s in stamps if s is not None), None)
    return table.version, None if millis is None else datetime.fromtimestamp(millis / 1000, tz=UTC)
