"""Read a view's source with Spark, checked against the schema the plan recorded."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop.errors import SourceError
from pitstop.plan.naming import source_location
from pitstop.stores.source_schema import spark_type_word

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def read_source(spark: SparkSession, view_name: str, view: dict[str, Any], repo: Path) -> DataFrame:
    """The source as a DataFrame; SourceError (before any write) when it is missing or its columns no
    longer match what the plan recorded."""
    src = view["source"]
    location = source_location(src["path"], repo)
    if "://" not in location and not Path(location).exists():
        raise SourceError(f"view {view_name!r}: source {src['name']!r} has no data at {location}; create it "
                          f"(for the demo: `pitstop demo-data`) or fix the path in feature_defs and re-apply")
    try:
        if src["format"] == "delta":
            df = spark.read.format("delta").load(location)
        else:
            df = spark.read.option("mergeSchema", "false").parquet(location)
    except Exception as exc:  # Spark's AnalysisException and friends: turn into a clear message
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"view {view_name!r}: cannot read {src['format']} source {src['name']!r} at "
                          f"{location}: {first}") from exc
    actual = {f.name: spark_type_word(f.dataType.typeName()) for f in df.schema.fields}
    problems = []
    for column, dtype in sorted(src["columns"].items()):
        if column not in actual:
            problems.append(f"column {column!r} is missing")
        elif actual[column] != dtype:
            problems.append(f"column {column!r} is {actual[column]}, the plan says {dtype}")
    if problems:
        raise SourceError(f"view {view_name!r}: source {src['name']!r} at {location} no longer matches its "
                          f"definition: {'; '.join(problems)}. Fix the source, or update feature_defs and run "
                          f"`pitstop plan` / `pitstop apply` (with a version bump if values change)")
    if view["filter"]:
        try:
            df.where(view["filter"]).schema  # noqa: B018 - analysis happens here, before any write
        except Exception as exc:  # Spark's ParseException / AnalysisException: say which view and why
            first = str(exc).strip().splitlines()[0]
            raise SourceError(f"view {view_name!r}: its filter {view['filter']!r} is not a valid Spark SQL "
                              f"predicate on source {src['name']!r}: {first}. Fix filter= in feature_defs "
                              f"(columns: {', '.join(df.columns)})") from exc
    return df
