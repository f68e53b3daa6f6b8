"""Read a view's source with Spark, checked against the schema the plan recorded.

Sources come as their writers make them: parquet from pandas (nanosecond timestamps, tz-aware or naive),
pyarrow (ms, µs), Spark (INT96 or micros, ``timestamp_ntz``), hive ``key=value`` folders, and Delta tables
written by Spark or delta-rs. Every timestamp column reaches the engine as a UTC ``TIMESTAMP``: a naive one
(``timestamp_ntz``, or parquet's isAdjustedToUTC=false) is read as UTC, a nanosecond one is truncated to
the microsecond (Spark's precision); a ``date`` event column stands for midnight UTC of that day.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop.errors import SourceError
from pitstop.plan.model import View
from pitstop.plan.naming import source_location
from pitstop.stores.source_schema import spark_type_word

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


def _type_label(arrow_type: Any) -> str:
    """An arrow type as Spark sees it in a parquet file: what must agree between the files of a source."""
    import pyarrow as pa

    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.unit}, UTC]" if t.tz is not None else f"timestamp[{t.unit}] (naive)"
    return str(t)


def parquet_file_types(location: str, columns: list[str] | None = None) -> dict[str, str]:
    """Each of ``columns`` (default: every column) present in the parquet files under ``location`` (a
    hive-partitioned folder or a file) → its type label, read from every file's footer (no data).
    SourceError naming two files and both types when a column's type differs between files: Spark reads
    all files with one file's types."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    try:
        files = ds.dataset(location, format="parquet", partitioning="hive").files
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise SourceError(f"cannot list the parquet files at {location}: {exc}") from exc
    seen: dict[str, tuple[str, str]] = {}
    for file in files:
        try:
            schema = pq.read_schema(file)
        except (OSError, ValueError) as exc:
            raise SourceError(f"{file} is not a readable parquet file ({exc}); remove it from the source "
                              f"folder or rewrite it") from exc
        for column in schema.names if columns is None else columns:
            index = schema.get_field_index(column)
            if index < 0 or pa.types.is_null(schema.field(index).type):
                continue  # absent from this file, or all-null with no type: Spark reads nulls
            label = _type_label(schema.field(index).type)
            first = seen.setdefault(column, (label, file))
            if first[0] != label:
                raise SourceError(
                    f"column {column!r} of the parquet source at {location} has type {first[0]} in {first[1]} "
                    f"but {label} in {file}; Spark reads every file of a source with one type. Rewrite the "
                    f"files so that {column!r} has one type in all of them (e.g. cast it when writing)")
    return {column: label for column, (label, _) in seen.items()}


def nanos_to_micros_sql(column: str) -> str:
    """SQL turning ``column``'s epoch nanoseconds (spark.sql.legacy.parquet.nanosAsLong) into a TIMESTAMP,
    truncated to the microsecond (floor, also before 1970). Integer division: as a double, today's epoch
    nanoseconds would lose their last digits."""
    quoted = f"`{column.replace('`', '``')}`"
    return f"timestamp_micros(({quoted} - pmod({quoted}, 1000)) div 1000)"


def _utc_timestamps(df: DataFrame, nanos: set[str]) -> DataFrame:
    """``timestamp_ntz`` columns cast to TIMESTAMP (the session time zone is UTC, so a naive value is read
    as UTC); the ``nanos`` columns (epoch nanoseconds, spark.sql.legacy.parquet.nanosAsLong) turned into
    TIMESTAMP, truncated to the microsecond (floor, also before 1970)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, TimestampNTZType

    changed = False
    columns: list[Column] = []
    for field in df.schema.fields:
        col = F.col(f"`{field.name.replace('`', '``')}`")
        if isinstance(field.dataType, TimestampNTZType):
            col, changed = col.cast("timestamp"), True
        elif isinstance(field.dataType, LongType) and field.name in nanos:
            col, changed = F.expr(nanos_to_micros_sql(field.name)), True
        columns.append(col.alias(field.name))
    return df.select(*columns) if changed else df


def read_source(spark: SparkSession, view_name: str, view: View, repo: Path) -> DataFrame:
    """The source as a DataFrame, its timestamps UTC TIMESTAMPs; SourceError (before any write) when it is
    missing, its files disagree on a column's type, or its columns no longer match what the plan recorded."""
    from pyspark.sql import functions as F

    src = view.source
    location = source_location(src.path, repo)
    local = "://" not in location
    if local and not Path(location).exists():
        raise SourceError(f"view {view_name!r}: source {src.name!r} has no data at {location}; create it "
                          f"(for the demo: `pitstop demo-data`) or fix the path in feature_defs and re-apply")
    planned = src.columns
    file_types: dict[str, str] | None = None
    if src.format != "delta" and local:
        try:
            file_types = parquet_file_types(location, sorted(planned))
        except SourceError as exc:
            raise SourceError(f"view {view_name!r}: source {src.name!r}: {exc}") from exc
    try:
        if src.format == "delta":
            df = spark.read.format("delta").load(location)
        else:
            # a session pitstop did not build may lack it: pandas' nanosecond timestamps come as epoch ns
            spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
            df = spark.read.option("mergeSchema", "false").parquet(location)
            df.schema  # noqa: B018 - schema inference reads a footer: fail here, with the message below
    except Exception as exc:  # Spark's AnalysisException and friends: turn into a clear message
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"view {view_name!r}: cannot read {src.format} source {src.name!r} at "
                          f"{location}: {first}") from exc
    if file_types is not None:  # the footers say which INT64 columns are nanosecond timestamps
        nanos = {c for c, label in file_types.items() if label.startswith("timestamp[ns")}
    else:  # Delta has no nanosecond timestamps; a remote parquet source: the plan recorded a timestamp
        nanos = {c for c, dtype in planned.items() if dtype == "timestamp"}
    df = _utc_timestamps(df, nanos if src.format != "delta" else set())
    if file_types is not None:  # hive folder columns: Spark infers dates where pyarrow (the plan) says string
        folders = {c for c in planned if c not in file_types and planned[c] == "string" and c in df.columns}
        if folders:
            df = df.select(*[F.col(f"`{c}`").cast("string").alias(c) if c in folders else F.col(f"`{c}`")
                             for c in df.columns])
    actual = {f.name: spark_type_word(f.dataType.typeName()) for f in df.schema.fields}
    problems = []
    for column, dtype in sorted(planned.items()):
        if column not in actual:
            problems.append(f"column {column!r} is missing")
        elif actual[column] != dtype:
            problems.append(f"column {column!r} is {actual[column]}, the plan says {dtype}")
    if problems:
        raise SourceError(f"view {view_name!r}: source {src.name!r} at {location} no longer matches its "
                          f"definition: {'; '.join(problems)}. Fix the source, or update feature_defs and run "
                          f"`pitstop plan` / `pitstop apply` (with a version bump if values change)")
    if view.filter:
        try:
            df.where(view.filter).schema  # noqa: B018 - analysis happens here, before any write
        except Exception as exc:  # Spark's ParseException / AnalysisException: say which view and why
            first = str(exc).strip().splitlines()[0]
            raise SourceError(f"view {view_name!r}: its filter {view.filter!r} is not a valid Spark SQL "
                              f"predicate on source {src.name!r}: {first}. Fix filter= in feature_defs "
                              f"(columns: {', '.join(df.columns)})") from exc
    return df
