"""Training sets: a spine (entity keys + a timestamp) joined point-in-time to feature views, in Spark SQL,
pinned to Delta versions and recorded in a manifest that rebuilds it exactly (docs/semantics.md).

The query itself is rendered by ``compute.asof.render``; this module resolves what it reads (the spine,
each view's tables at their current Delta version and its materialized days) and runs it.
"""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop.compute import asof
from pitstop.compute.aggregates import CREATED, q
from pitstop.errors import PlanError, UnsupportedDeltaTable, UsageError
from pitstop.jsontypes import JSONObject
from pitstop.plan.model import Plan, View
from pitstop.runtime.catalog import ViewFeatures, resolve_features
from pitstop.runtime.context import Context
from pitstop.runtime.materialize import first_line
from pitstop.stores import delta, delta_log

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MANIFEST_FORMAT = 1
MANIFEST_FILE = "_pitstop_manifest.json"  # beside the data, inside the output folder (Spark ignores "_" files)
DEFAULT_TIMESTAMP = "event_timestamp"
SQL_TYPES = {"int64": "BIGINT", "float64": "DOUBLE", "string": "STRING", "bool": "BOOLEAN",
             "timestamp": "TIMESTAMP", "date": "DATE"}
INTEGRAL = ("tinyint", "smallint", "int", "bigint")
BROADCAST_PAIRS_MAX = 2_000_000  # spine rows up to which the (keys, D*) pair hashes are broadcast (8 bytes each)


class SpineRangeWarning(UserWarning):
    """The spine asks for times the views have no materialized snapshot for."""


@dataclass
class TrainingSet:
    """The result of a point-in-time join: a lazy DataFrame, the SQL it runs and its manifest."""

    df: DataFrame
    sql: str
    manifest: JSONObject
    warnings: list[str] = field(default_factory=list)

    def printable_sql(self) -> str:
        """A standalone Spark SQL script: runs unchanged in spark-sql against the same Delta tables."""
        head = ["-- pitstop training set: point-in-time join (docs/semantics.md); tables pinned by VERSION AS OF",
                "SET spark.sql.session.timeZone = UTC;"]
        head += [f"{statement};" for statement in self.manifest["spine"].get("setup_sql", [])]
        return "\n".join(head) + "\n" + self.sql + ";\n"


def _spine_relation(spark: SparkSession, entity_df: Any, name: str) -> tuple[str, JSONObject, DataFrame]:
    """(a SQL relation for the spine, its description for the manifest, the spine DataFrame)."""
    from pyspark.sql import DataFrame as SparkDataFrame

    if isinstance(entity_df, SparkDataFrame):
        entity_df.createOrReplaceTempView(name)
        return name, {"kind": "dataframe"}, entity_df
    try:
        import pandas as pd

        if isinstance(entity_df, pd.DataFrame):
            frame = spark.createDataFrame(entity_df)
            frame.createOrReplaceTempView(name)
            return name, {"kind": "pandas"}, frame
    except ImportError:  # pragma: no cover - pandas comes with pyspark[sql]
        pass
    if not isinstance(entity_df, str | Path) or not str(entity_df).strip():
        raise UsageError(f"entity_df must be a Spark or pandas DataFrame, a path (parquet, csv, Delta) or a Spark "
                         f"SQL query; got {type(entity_df).__name__}")
    text = str(entity_df).strip()
    if _is_sql(text):
        relation = f"(\n{text}\n)"
        from pyspark.errors import AnalysisException, ParseException

        try:
            frame = spark.sql(text)
        except (AnalysisException, ParseException) as exc:
            from pitstop.runtime.materialize import first_line

            raise UsageError(f"the spine SQL does not run: {first_line(exc)} (relative paths are relative to the "
                             f"working directory: the repository for the CLI and the Airflow tasks)") from None
        return relation, {"kind": "sql", "sql": text}, frame
    path = Path(text).expanduser()
    local = "://" not in text
    if local and not path.exists():
        raise UsageError(f"spine {text!r} is neither an existing path (parquet, csv or Delta) nor a Spark SQL query "
                         f"(SELECT ...)")
    location = str(path.resolve()) if local else text
    if delta.exists(spark, location):
        version = delta.latest_version(spark, location)
        relation = f"delta.`{location}` VERSION AS OF {version}"
        return relation, {"kind": "path", "format": "delta", "path": location, "version": version}, \
            spark.sql(f"SELECT * FROM {relation}")
    if location.lower().endswith(".csv") or (local and path.is_dir() and any(path.glob("*.csv"))):
        setup = (f"CREATE OR REPLACE TEMPORARY VIEW {name} USING csv OPTIONS (path '{location}', header 'true', "
                 f"inferSchema 'true')")
        spark.sql(setup)
        return name, {"kind": "path", "format": "csv", "path": location, "setup_sql": [setup]}, spark.table(name)
    relation = f"parquet.`{location}`"
    nanos = _nanosecond_columns(location) if local else set()
    if nanos:  # pandas' default: TIMESTAMP(NANOS) columns, read as microsecond UTC timestamps (like sources)
        from pitstop.stores.sources import nanos_to_micros_sql

        statements = ["SET spark.sql.legacy.parquet.nanosAsLong = true"]
        spark.sql(statements[0])
        columns = [nanos_to_micros_sql(c) + f" AS {q(c)}" if c in nanos else q(c)
                   for c in spark.read.parquet(location).columns]
        statements.append(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS SELECT {', '.join(columns)} FROM {relation}")
        spark.sql(statements[1])
        described = {"kind": "path", "format": "parquet", "path": location, "setup_sql": statements}
        return name, described, spark.table(name)
    return relation, {"kind": "path", "format": "parquet", "path": location}, spark.sql(f"SELECT * FROM {relation}")


def _range_effects(entry: View, first: date, last: date, before: bool, after: bool) -> str:
    """What the join gives spine rows outside the materialized days (design: snapshot accuracy)."""
    delay = timedelta(seconds=entry.availability_delay_seconds or 0)
    parts = []
    if before:
        start = datetime.combine(first + timedelta(days=1), datetime.min.time()) + delay
        parts.append(f"rows before {start:%Y-%m-%d %H:%M} UTC (when the snapshot of {first} becomes visible) get "
                     f"null features")
    if after:
        ttl = entry.ttl_seconds
        if ttl is None:
            parts.append(f"later rows get the snapshot of {last} (the view has no ttl)")
        else:
            until = datetime.combine(last + timedelta(days=1), datetime.min.time()) + timedelta(seconds=ttl)
            span = f"{ttl // 86400}d" if ttl % 86400 == 0 else f"{ttl / 3600:g}h"
            parts.append(f"later rows get the snapshot of {last} up to {until:%Y-%m-%d %H:%M} UTC (the view's ttl "
                         f"is {span}) and null features after that")
    return "; ".join(parts)


def _nanosecond_columns(location: str) -> set[str]:
    from pitstop.stores.sources import parquet_file_types

    return {c for c, label in parquet_file_types(location).items() if label.startswith("timestamp[ns")}


def _check_spine_columns(types: Mapping[str, str | None], timestamp: str, key_types: dict[str, str],
                         source: str) -> None:
    """The spine's columns and their Spark type names (None: not known without Spark, not checked here)."""
    if timestamp not in types:
        raise UsageError(f"the spine ({source}) has no timestamp column {timestamp!r}; its columns: "
                         f"{', '.join(types)}. Pass timestamp_column= (--timestamp-column) to name another")
    missing = [k for k in key_types if k not in types]
    if missing:
        raise UsageError(f"the spine ({source}) lacks join key column(s) {', '.join(missing)} that the asked views "
                         f"need; its columns: {', '.join(types)}")
    for key, plan_type in key_types.items():
        have = types[key]
        if have is None:
            continue
        ok = have in INTEGRAL if plan_type == "BIGINT" else have == "string"
        if not ok:
            raise UsageError(f"spine column {key!r} is {have}, but the views' join key {key} is {plan_type.lower()}: "
                             f"cast it in the spine (e.g. CAST({key} AS {plan_type}))")
    kind = types[timestamp]
    if kind is not None and kind not in ("timestamp", "timestamp_ntz", "string"):
        raise UsageError(f"spine column {timestamp!r} is {kind}; it must be a timestamp (or ISO 8601 text): a date "
                         f"is ambiguous (which time of the day?); cast it, e.g. CAST({timestamp} AS TIMESTAMP) for "
                         f"midnight")


def _check_spine(spine: DataFrame, timestamp: str, key_types: dict[str, str], source: str) -> str:
    """Check the spine's columns and types; returns the SQL expression of its time as a TIMESTAMP."""
    types = dict(spine.dtypes)
    _check_spine_columns(types, timestamp, key_types, source)
    kind = types[timestamp]
    column = q(timestamp)
    if kind == "timestamp":
        return column
    if kind == "timestamp_ntz":
        return f"CAST({column} AS TIMESTAMP)"  # a wall-clock time: read as UTC, like sources
    if kind == "string":
        bad = spine.where(f"{column} IS NOT NULL AND try_cast({column} AS TIMESTAMP) IS NULL") \
            .select(column).limit(3).collect()
        if bad:
            examples = ", ".join(repr(r[0]) for r in bad)
            raise UsageError(f"spine column {timestamp!r} holds text that is not a timestamp (e.g. {examples}); "
                             f"use ISO 8601 like '2026-03-01 12:00:00' (read as UTC) or give a timestamp column")
        return f"CAST({column} AS TIMESTAMP)"
    raise AssertionError(f"unreachable: {kind}")  # _check_spine_columns refused every other kind


def _view_read(ctx: Context, name: str, entry: View, features: list[tuple[str, str]],
               pinned: JSONObject | None) -> tuple[asof.ViewRead | None, JSONObject]:
    """The view as the join reads it, at its current Delta versions (or those of a manifest)."""
    spark = ctx.spark
    dtypes = {f.name: f.dtype for f in entry.features}
    empties = {f.name: f.empty_value for f in entry.features}
    columns = []
    for feature, output in features:
        sql_type = SQL_TYPES[dtypes[feature]]
        empty = "NULL" if empties[feature] in ("null", None) else \
            ("CAST(0 AS DOUBLE)" if sql_type == "DOUBLE" else "CAST(0 AS BIGINT)")
        columns.append(asof.Column(feature, output, sql_type, empty))
    found = None
    if pinned is not None:
        path, log_path = pinned["table"], pinned["log"]
        version, log_version = pinned["version"], pinned["log_version"]
    else:
        tables = ctx.tables(entry)
        path, log_path = tables.snapshots, tables.log
        found = _from_the_logs(ctx, path, log_path)  # pyarrow: no Spark job for what the Delta logs say
        if found is None:
            version, log_version = delta.latest_version(spark, path), delta.latest_version(spark, log_path)
        else:
            version, log_version, days = found
    record = {"entry": entry.to_json(), "table": path, "version": version, "log": log_path, "log_version": log_version}
    if version is None or log_version is None:
        return None, record
    if pinned is not None or found is None:
        log = _read_pinned(spark, log_path, log_version, name, pinned is not None)
        days = tuple(sorted({r.ds for r in log.where("kind = 'snapshot'").select("ds").distinct().collect()}))
    table = _read_pinned(spark, path, version, name, pinned is not None)
    view = asof.ViewRead(
        name=name, kind=entry.kind, table=f"delta.`{path}`", table_version=version,
        join_keys=tuple(k.name for k in entry.join_keys), columns=tuple(columns),
        ttl_seconds=entry.ttl_seconds, availability_delay_seconds=int(entry.availability_delay_seconds or 0),
        days=days, has_created=CREATED in table.columns,
        inclusive_cutoff=entry.inclusive_cutoff)
    return view, record


def _from_the_logs(ctx: Context, path: str, log_path: str
                   ) -> tuple[int | None, int | None, tuple[date, ...]] | None:
    """(the snapshot table's current version, the log's, the snapshot days the log records at that version), read
    from the Delta logs with pyarrow; None when they cannot be read that way (Spark answers instead)."""
    s3 = ctx.config.arrow_s3()
    try:
        try:
            version: int | None = delta_log.snapshot(path, s3).version
        except FileNotFoundError:
            version = None
        try:
            log = delta_log.snapshot(log_path, s3)
        except FileNotFoundError:
            return version, None, ()
        rows = delta_log.read_files(log, ["kind", "ds"], s3).to_pylist()  # the log replayed once
    except (UnsupportedDeltaTable, OSError):
        return None
    return version, log.version, tuple(sorted({r["ds"] for r in rows if r["kind"] == "snapshot"}))


def _read_pinned(spark: SparkSession, path: str, version: int, view: str, check: bool) -> DataFrame:
    """A table at a pinned version; with ``check`` (a manifest's old version), refusing clearly when that
    version is gone (vacuumed files or an expired log) rather than answering from other data."""
    try:
        missing = delta.missing_files(spark, path, version) if check else []
    except Exception as exc:
        text = str(exc)
        if "VERSION" not in text.upper() and "FileNotFound" not in text and "not found" not in text.lower():
            raise
        missing = [f"its log ({first_line(exc)})"]
    if missing:
        raise UsageError(f"view {view!r}: Delta version {version} of {path} is no longer available ({len(missing)} "
                         f"file(s) vacuumed away, e.g. {missing[0]}), so this training set cannot be rebuilt exactly. "
                         f"Rebuild it from the current tables (without --from-manifest), and raise "
                         f"offline_store.retention_hours to keep manifests rebuildable longer") from None
    df = delta.read(spark, path, version=version)
    assert df is not None
    return df


def vacuum(ctx: Context, views: list[str] | None = None,
           retain_hours: int | None = None) -> list[str]:
    """Delta VACUUM every table of the views (default: all) with the configured retention; returns the
    tables vacuumed. Manifests that need older versions then fail clearly."""
    hours = ctx.config.retention_hours if retain_hours is None else retain_hours
    done = []
    for name in views or sorted(ctx.plan.views):
        tables = ctx.tables(ctx.view(name))
        for path in tables.written:
            if delta.exists(ctx.spark, path):
                delta.vacuum(ctx.spark, path, hours)
                done.append(path)
    return done


def get_historical_features(ctx: Context, entity_df: Any,
                            features: list[str], *, timestamp_column: str = DEFAULT_TIMESTAMP,
                            full_feature_names: bool = False, accuracy: str = "snapshot",
                            manifest: JSONObject | None = None) -> TrainingSet:
    """Every spine row (duplicates and null keys kept) with the features as known at its time."""
    _check_accuracy(accuracy)
    asked = resolve_features(ctx.plan, features, full_feature_names)
    if isinstance(entity_df, str) and f"{DATABASE}." in entity_df:
        register_tables(ctx)  # a spine query over the feature tables themselves
    name = f"pitstop_spine_{uuid.uuid4().hex[:8]}"
    relation, source, spine_df = _spine_relation(ctx.spark, entity_df, name)
    source_text = source.get("path") or source.get("sql") or f"a {source['kind']} DataFrame"
    key_types = _key_types(asked)
    ts_expr = _check_spine(spine_df, timestamp_column, key_types, source_text)
    _check_clash(asked, [c for c, _ in spine_df.dtypes])
    stats = spine_df.selectExpr("count(1) AS n", f"min({ts_expr}) AS lo", f"max({ts_expr}) AS hi").first()
    assert stats is not None
    rows, lo, hi = int(stats.n), stats.lo, stats.hi
    spine = asof.Spine(relation=relation, columns=tuple(spine_df.dtypes), timestamp_expr=ts_expr,
                       key_types=tuple(key_types.items()),
                       first=_utc_day(lo), last=_utc_day(hi), broadcast_pairs=rows <= BROADCAST_PAIRS_MAX)
    views, records, notes = [], {}, []
    for view in asked:
        pinned = None if manifest is None else manifest["tables"][view.name]
        read, record = _view_read(ctx, view.name, view.entry, list(view.features), pinned)
        records[view.name] = record
        if read is None:
            notes.append(f"view {view.name!r} has nothing materialized: its features are null. Run "
                         f"`pitstop materialize {view.name} --start D --end D`")
            read = asof.ViewRead(view.name, "aggregate", "", 0, tuple(k.name for k in view.entry.join_keys),
                                 tuple(asof.Column(f, c, SQL_TYPES[_dtype(view.entry, f)]) for f, c in view.features),
                                 None)
        elif read.kind == "aggregate" and spine.first is not None and spine.last is not None and read.days:
            before, after = spine.first <= read.days[0], spine.last > read.days[-1] + timedelta(days=1)
            if before or after:
                notes.append(f"the spine's times ({lo:%Y-%m-%d %H:%M} .. {hi:%Y-%m-%d %H:%M} UTC) reach outside "
                             f"what {view.name!r} has materialized ({read.days[0]} .. {read.days[-1]}): "
                             + _range_effects(view.entry, read.days[0], read.days[-1], before, after))
        views.append(read)
    for note in notes:
        warnings.warn(note, SpineRangeWarning, stacklevel=2)
    sql = asof.render(spine, views)
    record = {
        "pitstop_manifest": MANIFEST_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "project": ctx.plan.project, "plan_fingerprint": ctx.plan.fingerprint,
        "features": list(features), "full_feature_names": full_feature_names, "timestamp_column": timestamp_column,
        "accuracy": accuracy,
        "spine": {**source, "rows": rows, "columns": [list(c) for c in spine_df.dtypes]},
        "tables": records,
    }
    return TrainingSet(ctx.spark.sql(sql), sql, record, notes)


def _check_accuracy(accuracy: str) -> None:
    if accuracy != "snapshot":
        raise UsageError(f"accuracy={accuracy!r} is not supported; 'snapshot' (features as of the latest "
                         f"snapshot before each spine time, docs/semantics.md) is")


def _key_types(asked: list[ViewFeatures]) -> dict[str, str]:
    key_types: dict[str, str] = {}
    for view in asked:
        for key in view.entry.join_keys:
            sql_type = SQL_TYPES[key.dtype]
            if key_types.setdefault(key.name, sql_type) != sql_type:
                raise PlanError(f"join key {key.name!r} has different types across the asked views; ask them "
                                f"separately")
    return key_types


def _check_clash(asked: list[ViewFeatures], spine_columns: list[str]) -> None:
    outputs = [c for v in asked for _, c in v.features]
    clash = sorted(set(outputs) & set(spine_columns))
    if clash:
        raise UsageError(f"feature column(s) {', '.join(clash)} would replace spine columns of the same name; pass "
                         f"full_feature_names=True (--full-names) or rename the spine columns")


def _is_sql(text: str) -> bool:
    return text.split(None, 1)[0].upper() in ("SELECT", "WITH", "VALUES", "FROM", "TABLE")


def _arrow_spark_type(arrow_type: Any) -> str | None:
    """The type name Spark gives a parquet column of this Arrow type (as in ``DataFrame.dtypes``), or None
    where that is not certain without Spark (nanosecond or zone-less timestamps, unsigned 64-bit, nested)."""
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    names = {pa.int8(): "tinyint", pa.int16(): "smallint", pa.int32(): "int", pa.int64(): "bigint",
             pa.uint8(): "smallint", pa.uint16(): "int", pa.uint32(): "bigint", pa.float32(): "float",
             pa.float64(): "double", pa.bool_(): "boolean", pa.string(): "string", pa.large_string(): "string",
             pa.binary(): "binary", pa.large_binary(): "binary", pa.date32(): "date"}
    if t in names:
        return names[t]
    if pa.types.is_timestamp(t) and t.unit in ("ms", "us") and t.tz is not None:
        return "timestamp"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    return None


def _parquet_spine_types(path: Path) -> dict[str, str | None] | None:
    """A local parquet spine's columns and Spark type names, read from the parquet footers only (pyarrow; no
    data, no Spark). None where the columns cannot be told that way: csv, a Delta table, hive partition
    folders, files whose columns differ, a file pyarrow cannot read (Spark then says what is wrong)."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        entries = [p for p in path.iterdir() if not p.name.startswith(("_", "."))]
        if (path / "_delta_log").exists() or any(p.is_dir() for p in entries):
            return None
        files = sorted(p for p in entries if p.is_file())
    else:
        return None
    if not files or any(p.name.lower().endswith(".csv") for p in files):
        return None
    import pyarrow.parquet as pq

    found: dict[str, str | None] | None = None
    for file in files:
        try:
            schema = pq.read_schema(file)
        except Exception:  # not parquet, or unreadable: Spark's read reports it
            return None
        types = {f.name: _arrow_spark_type(f.type) for f in schema}
        if len(types) != len(schema.names):
            return None  # duplicate names
        if found is None:
            found = types
        elif list(found) != list(types):
            return None
        else:
            found = {name: kind if kind == types[name] else None for name, kind in found.items()}
    return found


def _out_exists(target: Path) -> bool:
    return target.exists() and (not target.is_dir() or any(target.iterdir()))


def check_out(out: str, fmt: str = "parquet", *, overwrite: bool = False) -> None:
    """The output's checks that need no Spark: the format, and a local ``out`` that already holds files."""
    if fmt not in ("parquet", "delta"):
        raise UsageError(f"--format {fmt!r}: use parquet or delta")
    if "://" in out:
        return  # a Hadoop file system: looked at when writing
    target = Path(out).expanduser().resolve()
    if _out_exists(target) and not overwrite:
        raise UsageError(f"{target} already exists; choose another --out or pass --overwrite")


def check_request(plan: Plan, entity_df: Any, features: list[str], *,
                  timestamp_column: str = DEFAULT_TIMESTAMP, full_feature_names: bool = False,
                  accuracy: str = "snapshot", out: str | None = None, fmt: str = "parquet",
                  overwrite: bool = False) -> None:
    """Every check of a training-set request that needs no data and no Spark session, with the errors the
    Spark run would give: the accuracy, the features against the plan, the join keys' types, a spine path
    that does not exist, a local parquet spine's columns and types (from its footers), feature columns that
    would replace spine columns, and (with ``out``) the format and an output that already exists. The checks
    that need Spark (a SQL, csv or Delta spine; text timestamps; remote paths) are made when it runs."""
    _check_accuracy(accuracy)
    asked = resolve_features(plan, features, full_feature_names)
    key_types = _key_types(asked)
    if isinstance(entity_df, str | Path) and str(entity_df).strip() and not _is_sql(str(entity_df).strip()) \
            and "://" not in str(entity_df):
        text = str(entity_df).strip()
        path = Path(text).expanduser()
        if not path.exists():
            raise UsageError(f"spine {text!r} is neither an existing path (parquet, csv or Delta) nor a Spark SQL "
                             f"query (SELECT ...)")
        types = _parquet_spine_types(path)
        if types is not None:
            _check_spine_columns(types, timestamp_column, key_types, str(path.resolve()))
            _check_clash(asked, list(types))
    if out is not None:
        check_out(out, fmt, overwrite=overwrite)


def _dtype(entry: View, feature: str) -> str:
    return entry.feature(feature).dtype


def _utc_day(value: datetime | None) -> date | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.date()


def write(result: TrainingSet, out: str, fmt: str = "parquet", *, overwrite: bool = False) -> JSONObject:
    """Write the training set and its manifest (``<out>/_pitstop_manifest.json``), locally or on any Hadoop
    file system (s3a://...)."""
    from pitstop.stores import files

    if fmt not in ("parquet", "delta"):
        raise UsageError(f"--format {fmt!r}: use parquet or delta")
    target = Path(out).expanduser().resolve() if "://" not in out else None
    location = str(target) if target is not None else out.rstrip("/")
    exists = _out_exists(target) if target is not None else files.is_nonempty_dir(location)
    if exists and not overwrite:
        raise UsageError(f"{location} already exists; choose another --out or pass --overwrite")
    began = time.monotonic()
    _utc(result.df).write.format(fmt).mode("overwrite").save(location)
    manifest = {**result.manifest, "output": {"path": location, "format": fmt},
                "seconds": round(time.monotonic() - began, 3)}
    text = json.dumps(manifest, indent=2, default=str) + "\n"
    if target is not None:
        (target / MANIFEST_FILE).write_text(text)
    else:
        files.write_text(f"{location}/{MANIFEST_FILE}", text)
    return manifest


def _utc(df: DataFrame) -> DataFrame:
    """Naive (timestamp_ntz) spine columns as UTC TIMESTAMPs: every timestamp pitstop writes is
    TIMESTAMP(MICROS) with isAdjustedToUTC=true, which pyarrow, polars and pandas read as UTC."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampNTZType

    if not any(isinstance(f.dataType, TimestampNTZType) for f in df.schema.fields):
        return df
    return df.select(*[F.col(q(f.name)).cast("timestamp").alias(f.name) if isinstance(f.dataType, TimestampNTZType)
                       else F.col(q(f.name)) for f in df.schema.fields])


def load_manifest(path: str) -> JSONObject:
    """A training set's manifest: the file, or the output folder holding it (local or s3a://...; a remote
    one is read through the active Spark session)."""
    from pitstop.stores import files

    if "://" in path and not path.startswith("file://"):
        where = path.rstrip("/")
        text = files.read_text(where)
        if text is None:
            where = f"{where}/{MANIFEST_FILE}"
            text = files.read_text(where)
        if text is None:
            raise UsageError(f"no training-set manifest at {path} (nor {MANIFEST_FILE} inside it)")
    else:
        file = Path(path.removeprefix("file://")).expanduser()
        if file.is_dir():
            file = file / MANIFEST_FILE
        where = str(file)
        try:
            text = file.read_text()
        except FileNotFoundError:
            raise UsageError(f"no training-set manifest at {file}") from None
    try:
        manifest: JSONObject = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where} is not a pitstop manifest (bad JSON: {exc})") from None
    if manifest.get("pitstop_manifest") != MANIFEST_FORMAT:
        raise UsageError(f"{where} is not a pitstop training-set manifest (format {MANIFEST_FORMAT})")
    return manifest


def from_manifest(ctx: Context, manifest: JSONObject) -> TrainingSet:
    """Rebuild a training set exactly: the same spine, features and join rules, every table read at the
    Delta version the manifest recorded (time travel), whatever was materialized since."""
    spine = manifest["spine"]
    if spine["kind"] in ("dataframe", "pandas"):
        raise UsageError(f"this training set's spine was an in-memory {spine['kind']} DataFrame, which pitstop cannot "
                         f"read again; save spines as files (or give a SQL query) to make training sets rebuildable")
    if spine["kind"] == "sql":
        entity: Any = spine["sql"]
    elif spine["format"] == "delta":
        entity = f"SELECT * FROM delta.`{spine['path']}` VERSION AS OF {spine['version']}"
    else:
        entity = spine["path"]
    # the views as they were defined then (ttl, delay, cutoff, types), whatever the plan says now
    rebuilt_plan = Plan(project=manifest["project"], entities={}, sources={}, training_sets={},
                        views={name: View.from_json(name, table["entry"])
                               for name, table in manifest["tables"].items()},
                        fingerprint=manifest["plan_fingerprint"])
    result = get_historical_features(Context(ctx.config, rebuilt_plan, ctx.spark), entity, manifest["features"],
                                     timestamp_column=manifest["timestamp_column"],
                                     full_feature_names=manifest["full_feature_names"],
                                     accuracy=manifest["accuracy"], manifest=manifest)
    if result.manifest["spine"]["rows"] != spine["rows"]:
        raise UsageError(f"the spine now has {result.manifest['spine']['rows']:,} rows, the manifest recorded "
                         f"{spine['rows']:,}: it changed since ({spine.get('path') or 'its query'}), so the training "
                         f"set cannot be rebuilt exactly")
    return result


DATABASE = "pitstop"


def register_tables(ctx: Context) -> list[str]:
    """Register every materialized view version's feature table as ``pitstop.<view>__v<N>`` (snapshots of
    aggregate views, rows of latest-value views) so plain Spark SQL can query them, with VERSION AS OF.
    The database lives under the offline store (``<offline_store.path>/catalog``)."""
    from pitstop.plan import naming

    location = delta.table_path(ctx.config.offline_store_path, "catalog/pitstop.db")
    ctx.spark.sql(f"CREATE DATABASE IF NOT EXISTS {DATABASE} LOCATION '{location}'")
    registered = []
    for name, entry in sorted(ctx.plan.views.items()):
        path = ctx.tables(entry).snapshots
        if not delta.exists(ctx.spark, path):
            continue
        table = f"{DATABASE}.{naming.table_name(name, int(entry.version))}"
        ctx.spark.sql(f"CREATE TABLE IF NOT EXISTS {table} USING DELTA LOCATION '{path}'")
        registered.append(table)
    return registered
