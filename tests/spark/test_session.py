"""A real Spark session with Delta Lake: UTC, time travel, and a Delta source's schema read without Spark."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pitstop.config import load_config
from pitstop.runtime import registry
from pitstop.runtime.doctor import run_checks
from pitstop.stores.source_schema import read_source_schema
from pitstop.stores.spark import DELTA_CATALOG, DELTA_EXTENSION, delta_coordinate, session_conf

pytestmark = pytest.mark.spark


def test_session_conf_is_utc_with_delta() -> None:
    conf = session_conf("local[2]", {"spark.sql.shuffle.partitions": "3"})
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.extensions"] == DELTA_EXTENSION
    assert conf["spark.sql.catalog.spark_catalog"] == DELTA_CATALOG
    assert conf["spark.sql.shuffle.partitions"] == "3"  # user conf wins
    assert delta_coordinate() == "io.delta:delta-spark_4.2_2.13:4.4.0"


def test_delta_write_and_time_travel(spark: Any, tmp_path: Path) -> None:
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    path = str(tmp_path / "t")
    spark.createDataFrame([(1, "a")], "k long, v string").write.format("delta").save(path)
    spark.createDataFrame([(1, "b"), (2, "c")], "k long, v string").write.format("delta").mode("overwrite").save(path)
    v0 = sorted(tuple(r) for r in spark.read.format("delta").option("versionAsOf", 0).load(path).collect())
    v1 = sorted(tuple(r) for r in spark.read.format("delta").load(path).collect())
    assert v0 == [(1, "a")]
    assert v1 == [(1, "b"), (2, "c")]
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").select("version").collect()
    assert sorted(r[0] for r in history) == [0, 1]


def test_naive_parquet_timestamps_read_as_utc(spark: Any, tmp_path: Path) -> None:
    """A timezone-naive source timestamp is UTC (docs/semantics.md): compared as epoch micros inside Spark,
    so the test does not depend on the machine's or the Python process's time zone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    naive = pa.table({"ts": pa.array([datetime(2026, 1, 1, 0, 0, 0)], pa.timestamp("us"))})
    pq.write_table(naive, tmp_path / "naive.parquet")
    df = spark.read.parquet(str(tmp_path / "naive.parquet"))
    assert df.schema["ts"].dataType.typeName() == "timestamp_ntz"  # Spark 4 keeps naive parquet naive
    # ...and casting it in the UTC session reads it as UTC, the rule the compute layer relies on
    micros = df.selectExpr("unix_micros(CAST(ts AS TIMESTAMP)) AS m").first().m
    assert micros == int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
    literal = spark.sql("SELECT unix_micros(TIMESTAMP '2026-01-01 00:00:00') AS m").first().m
    assert literal == micros


def test_delta_source_schema_and_plan(spark: Any, make_repo: Any) -> None:
    repo = make_repo("""
        from pitstop import Aggregation, BatchSource, Entity, FeatureView
        account = Entity("account", join_keys=["account_id", "device"])
        logins = BatchSource("logins", path="data/logins", format="delta", timestamp_field="ts", readiness="none")
        v = FeatureView("logins", entities=[account], source=logins,
                        aggregations=[Aggregation("count", windows=["7d"]),
                                      Aggregation("max", column="score", windows=["7d"])])
    """, data=False)
    df = spark.createDataFrame([(1, "12", 0.5, datetime(2026, 1, 1, tzinfo=UTC))],
                               "account_id int, device string, score double, ts timestamp")
    df.write.format("delta").save(str(repo / "data" / "logins"))
    assert read_source_schema("data/logins", "delta", repo) == {
        "account_id": "int64", "device": "string", "score": "float64", "ts": "timestamp"}
    result = registry.apply(load_config(repo, env={}))
    view = result.compiled.data["views"]["logins"]
    assert view["join_keys"] == [{"name": "account_id", "dtype": "int64"}, {"name": "device", "dtype": "string"}]
    assert [f["dtype"] for f in view["features"]] == ["int64", "float64"]


def test_doctor_spark_check_writes_a_real_table(make_repo: Any, spark: Any) -> None:
    repo = make_repo("x = 1\n", data=False)
    (check,) = run_checks(load_config(repo, env={"PITSTOP_SPARK_MASTER": "local[2]"}), ("spark+delta",))
    assert check.ok, check.detail
    assert "wrote and time-travelled a Delta table" in check.detail
