"""Delta Lake tables of the offline store: paths, partition-replacing writes, history."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pitstop.compute.aggregates import q
from pitstop.jsontypes import JSONObject

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def table_path(offline_root: str, relative: str) -> str:
    return f"{offline_root.rstrip('/')}/{relative}"


def is_local(path: str) -> bool:
    """A local table: its Delta log is read with pyarrow (milliseconds) rather than by a Spark query (about a
    second each, and a one-day run asks a dozen times). Remote stores keep asking Spark, whose Hadoop
    settings hold their endpoints and credentials."""
    return "://" not in path or path.startswith("file:")


def _log_version(path: str) -> int | bool | None:
    """The table's current version from its log (None: no table); False when the log reader cannot read it."""
    from pitstop.errors import UnsupportedDeltaTable
    from pitstop.stores import delta_log

    try:
        return delta_log.snapshot(path).version
    except FileNotFoundError:
        return None
    except (UnsupportedDeltaTable, OSError, ValueError):
        return False


def exists(spark: SparkSession, path: str) -> bool:
    from pitstop.stores.spark import is_connect

    if is_local(path):
        found = _log_version(path)
        if found is not False:
            return found is not None
    if not is_connect(spark):
        from delta.tables import DeltaTable

        return bool(DeltaTable.isDeltaTable(spark, path))
    from pyspark.errors import AnalysisException

    # over Spark Connect there is no DeltaTable API (without Delta's preview server plugin): ask the log
    try:
        return _newest_commit(spark, path) is not None
    except AnalysisException:  # DELTA_MISSING_DELTA_TABLE, PATH_NOT_FOUND: not a Delta table
        return False


def _create(df: DataFrame, path: str, partition_by: list[str] | None, properties: dict[str, str] | None) -> None:
    """Create the table at ``path``, empty, with ``df``'s columns (their nullability kept), partitioning and
    properties: its version 0. SQL, so that it works the same in-process and over Spark Connect."""
    columns = ", ".join(f"{q(f.name)} {f.dataType.simpleString()}{'' if f.nullable else ' NOT NULL'}"
                        for f in df.schema.fields)
    sql = f"CREATE TABLE IF NOT EXISTS delta.`{path}` ({columns}) USING delta"
    if partition_by:
        sql += f" PARTITIONED BY ({', '.join(q(c) for c in partition_by)})"
    if properties:
        sql += " TBLPROPERTIES (" + ", ".join(f"{_literal(k)} = {_literal(v)}" for k, v in sorted(properties.items()))
        sql += ")"
    df.sparkSession.sql(sql)


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def read(spark: SparkSession, path: str, version: int | None = None) -> DataFrame | None:
    if not exists(spark, path):
        return None
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path)


def replace(df: DataFrame, path: str, predicate: str, *, partition_by: list[str] | None = None,
            metadata: JSONObject | None = None, properties: dict[str, str] | None = None,
            grouped: bool = False) -> None:
    """Replace exactly the rows matching ``predicate`` with ``df`` in ONE Delta commit (idempotent:
    the same input gives the same content). A missing table is first created, empty, with
    ``properties`` (its version 0). With ``partition_by``, each partition value is written as one file,
    unless ``grouped`` says ``df``'s input already holds each value in few partitions (files written
    partitioned that way): then the rows go as they are read, without a shuffle."""
    spark = df.sparkSession
    if not exists(spark, path):
        _create(df, path, partition_by, properties)
    if partition_by and not grouped:
        df = df.repartition(*partition_by)  # one file per partition value, not one per task and value
    writer = df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
    if metadata is not None:
        writer = writer.option("userMetadata", json.dumps(metadata, sort_keys=True, default=str))
    writer.save(path)


def append(df: DataFrame, path: str, *, properties: dict[str, str] | None = None) -> None:
    """Append rows in one commit (an audit log); a missing table is created with ``properties``. New columns
    are added to an existing table (mergeSchema), so a log written by an older release keeps working."""
    spark = df.sparkSession
    if not exists(spark, path):
        _create(df, path, None, properties)
    df.coalesce(1).write.format("delta").mode("append").option("mergeSchema", "true").save(path)


def history(spark: SparkSession, path: str) -> list[JSONObject]:
    """Commits newest first: version, timestamp, operation, and pitstop's metadata for the commit."""
    rows = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").select(
        "version", "timestamp", "operation", "userMetadata").collect()
    out = []
    for row in rows:
        meta = json.loads(row["userMetadata"]) if row["userMetadata"] else {}
        out.append({"version": row["version"], "timestamp": row["timestamp"], "operation": row["operation"],
                    **meta})
    return out


def _newest_commit(spark: SparkSession, path: str) -> Any:
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").select("version", "userMetadata").first()


def latest_version(spark: SparkSession, path: str) -> int | None:
    """The table's newest version, or None when there is no table."""
    if is_local(path):
        found = _log_version(path)
        if found is not False:
            return None if found is None else int(found)
    if not exists(spark, path):
        return None
    row = _newest_commit(spark, path)
    return None if row is None else int(row["version"])


def restore(spark: SparkSession, path: str, version: int) -> None:
    """Give the table the content it had at ``version`` again (one new commit; history is kept)."""
    spark.sql(f"RESTORE TABLE delta.`{path}` TO VERSION AS OF {int(version)}").collect()


def last_commit_metadata(spark: SparkSession, path: str) -> JSONObject:
    """pitstop's metadata of the table's newest commit ({} when there is no table or none was given)."""
    if is_local(path):
        found = _log_version(path)
        if found is None:
            return {}
        if found is not False:
            from pitstop.stores import delta_log

            info = delta_log.commit_infos(path, versions=[int(found)]).get(int(found), {})
            meta = info.get("userMetadata")
            return json.loads(meta) if meta else {}
    if not exists(spark, path):
        return {}
    row = _newest_commit(spark, path)
    return json.loads(row["userMetadata"]) if row is not None and row["userMetadata"] else {}


def properties(spark: SparkSession, path: str) -> dict[str, str]:
    rows = spark.sql(f"SHOW TBLPROPERTIES delta.`{path}`").collect()
    return {r["key"]: r["value"] for r in rows}


def vacuum(spark: SparkSession, path: str, retain_hours: int) -> None:
    """Delete the files no version younger than ``retain_hours`` needs (Delta VACUUM). Shorter than
    Delta's 7-day safety check is allowed: pitstop's own writers are the only ones (one per table)."""
    conf = "spark.databricks.delta.retentionDurationCheck.enabled"
    before = spark.conf.get(conf, "true") or "true"
    spark.conf.set(conf, "false")
    try:
        spark.sql(f"VACUUM delta.`{path}` RETAIN {int(retain_hours)} HOURS")
    finally:
        spark.conf.set(conf, before)


def missing_files(spark: SparkSession, path: str, version: int) -> list[str]:
    """The data files version ``version`` of a table needs that no longer exist (vacuumed away)."""
    from pitstop.stores import files

    df = read(spark, path, version=version)
    if df is None:
        return [path]
    return [name for name in df.inputFiles() if not files.exists(name)]
