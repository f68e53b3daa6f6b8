"""Sources as their writers make them: pandas 2 defaults (nanoseconds, tz-aware and naive), pyarrow ms/µs,
Spark INT96 and timestamp_ntz, a date event column, hive ds= folders, Delta from Spark and from delta-rs.
Each is read by pitstop's own reader (read_source, with the column types the compiler reads with pyarrow)
and every event time must come out exact, in UTC; one is materialized end to end."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from pitstop import FeatureStore
from pitstop.errors import SourceError
from pitstop.plan.model import Plan, View, ViewSource
from pitstop.runtime import registry
from pitstop.stores.source_schema import read_source_schema
from pitstop.stores.sources import read_source

pytestmark = pytest.mark.spark

# UTC instants around a day boundary; the second has nanoseconds (truncated to the microsecond)
NS_TEXT = ["2026-03-01 00:00:00", "2026-03-01 23:59:59.999999999", "2026-03-02 00:00:00", "1969-12-31 23:59:59.5"]
EXPECTED = ["2026-03-01 00:00:00.000000", "2026-03-01 23:59:59.999999", "2026-03-02 00:00:00.000000",
            "1969-12-31 23:59:59.500000"]
USERS = [1, 1, 2, 3]
AMOUNTS = [1.5, 2.5, 4.0, 8.0]


GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "demo_plan.json"


def view_for(path: Path, fmt: str = "parquet", **extra_columns: str) -> View:
    """A plan entry as the compiler makes it: the column types read without Spark."""
    columns = read_source_schema(str(path), fmt, path.parent)
    assert columns is not None
    base = Plan.from_json(json.loads(GOLDEN.read_text())).views["user_transactions"]
    source = ViewSource("events", str(path), fmt, "event_timestamp", None,
                        {**{c: columns[c] for c in ("user_id", "amount", "event_timestamp")}, **extra_columns},
                        "none")
    return dataclasses.replace(base, source=source, filter=None)


def read_back(spark: Any, path: Path, fmt: str = "parquet") -> list[tuple[int, float, str]]:
    from pyspark.sql.types import TimestampType

    df = read_source(spark, "v", view_for(path, fmt), path.parent)
    assert isinstance(df.schema["event_timestamp"].dataType, TimestampType)
    rows = df.selectExpr("user_id", "amount",
                         "date_format(event_timestamp, 'yyyy-MM-dd HH:mm:ss.SSSSSS') AS t").collect()
    return sorted((r.user_id, r.amount, r.t) for r in rows)


WANT = sorted(zip(USERS, AMOUNTS, EXPECTED, strict=True))


def pandas_frame(tz: str | None) -> Any:
    import pandas as pd

    stamps = pd.to_datetime(NS_TEXT, format="ISO8601")
    return pd.DataFrame({"user_id": USERS, "amount": AMOUNTS,
                         "event_timestamp": stamps.tz_localize(tz) if tz else stamps})


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", None])
def test_pandas_default_parquet_nanoseconds(tmp_path: Path, spark: Any, tz: str | None) -> None:
    import pyarrow.parquet as pq

    folder = tmp_path / "events"
    folder.mkdir()
    frame = pandas_frame("UTC")
    if tz == "Europe/Paris":  # the same instants, stored from another zone: still UTC-adjusted
        frame["event_timestamp"] = frame["event_timestamp"].dt.tz_convert(tz)
    elif tz is None:  # naive wall-clock times: read as UTC
        frame["event_timestamp"] = frame["event_timestamp"].dt.tz_localize(None)
    frame.to_parquet(folder / "part.parquet")  # pandas 2 defaults: TIMESTAMP(NANOS)
    logical = json.loads(pq.read_metadata(folder / "part.parquet").schema.column(2).logical_type.to_json())
    assert (logical["timeUnit"], logical["isAdjustedToUTC"]) == ("nanoseconds", tz is not None)
    assert read_back(spark, folder) == WANT


@pytest.mark.parametrize(("unit", "tz"), [("ms", "UTC"), ("ms", None), ("us", "UTC"), ("us", None)])
def test_pyarrow_milli_and_microseconds(tmp_path: Path, spark: Any, unit: str, tz: str | None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "events"
    folder.mkdir()
    frame = pandas_frame(tz)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(2, "event_timestamp", table.column(2).cast(pa.timestamp(unit, tz=tz), safe=False))
    pq.write_table(table, folder / "part.parquet")
    want = WANT if unit == "us" else [(u, a, t[:23] + "000") for u, a, t in WANT]
    assert read_back(spark, folder) == want


def spark_frame(spark: Any, ntz: bool = False) -> Any:
    from pyspark.sql import functions as F

    rows = list(zip(USERS, AMOUNTS, EXPECTED, strict=True))
    df = spark.createDataFrame(rows, "user_id long, amount double, t string")
    ts = F.to_timestamp_ntz("t") if ntz else F.to_timestamp("t")
    return df.select("user_id", "amount", ts.alias("event_timestamp"))


def test_spark_int96_parquet(tmp_path: Path, spark: Any) -> None:
    import pyarrow.parquet as pq

    folder = tmp_path / "events"
    spark.conf.set("spark.sql.parquet.outputTimestampType", "INT96")
    try:
        spark_frame(spark).coalesce(1).write.parquet(str(folder))
    finally:
        spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    part = next(folder.glob("*.parquet"))
    assert pq.read_metadata(part).schema.column(2).physical_type == "INT96"
    assert read_back(spark, folder) == WANT


def test_spark_timestamp_ntz_parquet_is_read_as_utc(tmp_path: Path, spark: Any) -> None:
    import pyarrow.parquet as pq

    folder = tmp_path / "events"
    spark_frame(spark, ntz=True).coalesce(1).write.parquet(str(folder))
    part = next(folder.glob("*.parquet"))
    assert json.loads(pq.read_metadata(part).schema.column(2).logical_type.to_json())["isAdjustedToUTC"] is False
    assert read_back(spark, folder) == WANT


def test_date_event_column_is_midnight_utc(tmp_path: Path, spark: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "events"
    folder.mkdir()
    days = [date(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 2), date(1969, 12, 31)]
    pq.write_table(pa.table({"user_id": USERS, "amount": AMOUNTS, "event_timestamp": pa.array(days, pa.date32())}),
                   folder / "part.parquet")
    view = view_for(folder)
    assert view.source.columns["event_timestamp"] == "date"
    df = read_source(spark, "v", view, tmp_path)
    got = sorted(r.t for r in df.selectExpr(
        "date_format(CAST(event_timestamp AS TIMESTAMP), 'yyyy-MM-dd HH:mm:ss') AS t").collect())
    assert got == ["1969-12-31 00:00:00", "2026-03-01 00:00:00", "2026-03-01 00:00:00", "2026-03-02 00:00:00"]


def test_hive_ds_folders(tmp_path: Path, spark: Any) -> None:
    folder = tmp_path / "events"
    frame = pandas_frame("UTC")
    frame["ds"] = [t[:10] for t in EXPECTED]
    frame.to_parquet(folder, partition_cols=["ds"])  # pandas' (pyarrow's) hive layout: ds=YYYY-MM-DD/
    assert sorted(p.name for p in folder.iterdir()) == ["ds=1969-12-31", "ds=2026-03-01", "ds=2026-03-02"]
    assert read_back(spark, folder) == WANT
    view = view_for(folder, ds=read_source_schema(str(folder), "parquet", tmp_path)["ds"])  # type: ignore[index]
    assert view.source.columns["ds"] == "string"  # as pyarrow (so the plan) sees a folder value
    got = read_source(spark, "v", view, tmp_path).selectExpr("ds", "date_format(event_timestamp, 'yyyy-MM-dd')")
    assert sorted(tuple(r) for r in got.collect()) == sorted((t[:10], t[:10]) for t in EXPECTED)


def test_delta_written_by_spark(tmp_path: Path, spark: Any) -> None:
    folder = tmp_path / "events"
    spark_frame(spark).write.format("delta").save(str(folder))
    assert read_back(spark, folder, "delta") == WANT


@pytest.mark.parametrize("tz", ["UTC", None])
def test_delta_written_by_delta_rs(tmp_path: Path, spark: Any, tz: str | None) -> None:
    from deltalake import write_deltalake

    folder = tmp_path / "events"
    write_deltalake(str(folder), pandas_frame(tz))  # pandas' nanoseconds: delta-rs stores microseconds
    assert read_back(spark, folder, "delta") == WANT


def test_a_column_whose_type_differs_between_files_is_named(tmp_path: Path, spark: Any) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    pandas_frame("UTC").to_parquet(folder / "a.parquet")
    later = pandas_frame("UTC")
    later["event_timestamp"] = later["event_timestamp"].astype("datetime64[us, UTC]")
    later.to_parquet(folder / "b.parquet")
    with pytest.raises(SourceError) as err:
        read_source(spark, "v", view_for(folder), tmp_path)
    assert str(err.value) == (
        f"view 'v': source 'events': column 'event_timestamp' of the parquet source at {folder} has type "
        f"timestamp[ns, UTC] in {folder / 'a.parquet'} but timestamp[us, UTC] in {folder / 'b.parquet'}; Spark "
        f"reads every file of a source with one type. Rewrite the files so that 'event_timestamp' has one type "
        f"in all of them (e.g. cast it when writing)")


VIEW = """
from pitstop import Aggregation, BatchSource, Entity, FeatureView
user = Entity("user", join_keys=["user_id"])
events = BatchSource("events", path="data/events", readiness="none")
spend = FeatureView("spend", entities=[user], source=events, online=False,
                    aggregations=[Aggregation("count", windows=["1d"]),
                                  Aggregation("sum", column="amount", windows=["1d", "3d"])])
"""


def test_materialize_a_pandas_written_source(tmp_path: Path, spark: Any) -> None:
    """Naive nanosecond timestamps, pandas' default: the hardest of the variants above, end to end."""
    repo = tmp_path / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text(f"project: t\noffline_store:\n  path: {tmp_path / 'delta'}\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(VIEW))
    (repo / "data" / "events").mkdir(parents=True)
    pandas_frame(None).to_parquet(repo / "data" / "events" / "part.parquet")
    store = FeatureStore(repo, env={})
    registry.apply(store.config)
    store.use_spark(spark)
    store.materialize("spend", date(2026, 3, 1), date(2026, 3, 2))
    got = {(ds, r.user_id): (r.count_1d, r.amount_sum_1d, r.amount_sum_3d, r.feature_timestamp)
           for ds in (date(2026, 3, 1), date(2026, 3, 2)) for r in store.snapshot("spend", ds).collect()}
    s1, s2 = datetime(2026, 3, 2), datetime(2026, 3, 3)  # S(D), as Spark hands UTC back (naive)
    assert {k: (c, a, b, t.replace(tzinfo=None)) for k, (c, a, b, t) in got.items()} == {
        (date(2026, 3, 1), 1): (2, 4.0, 4.0, s1),   # 00:00:00 and 23:59:59.999999999 are both on the 1st
        (date(2026, 3, 2), 1): (0, 0.0, 4.0, s2),
        (date(2026, 3, 2), 2): (1, 4.0, 4.0, s2),   # exactly S(1st) belongs to the 2nd
    }
