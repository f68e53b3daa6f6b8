"""Every table and file pitstop writes, read WITHOUT Spark (delta-rs, pyarrow, polars), gives Spark's values
with UTC microsecond timestamps: no INT96, no naive timestamps (tiles, snapshots, the lifetime state, the
statistics and materialization log, a training set, a `pitstop snapshot` export)."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pitstop import FeatureStore
from pitstop.runtime import registry

pytestmark = pytest.mark.spark

D0 = date(2026, 3, 1)
DEFS = """
from pitstop import Aggregation, BatchSource, Entity, Feature, FeatureView
user = Entity("user", join_keys=["user_id"])
events = BatchSource("events", path="data/events", readiness="none")
profiles = BatchSource("profiles", path="data/profiles", created_timestamp_field="created", readiness="none")
spend = FeatureView("spend", entities=[user], source=events, online=False, aggregations=[
    Aggregation("count", windows=["1d", None]), Aggregation("sum", column="amount", windows=["2d"])])
profile = FeatureView("profile", entities=[user], source=profiles, online=False,
                      features=[Feature("country", dtype="string"), Feature("signed_up", dtype="timestamp")])
"""


def ts(day: date, hours: float = 0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hours)


def parquet_timestamps(folder: Path) -> set[str]:
    """Every timestamp column of every parquet data file under ``folder``, as 'physical unit adjusted'."""
    import pyarrow.parquet as pq

    seen = set()
    for file in folder.rglob("*.parquet"):
        if "_delta_log" in file.parts:
            continue
        schema = pq.read_metadata(file).schema
        for i in range(len(schema)):
            column = schema.column(i)
            if column.physical_type == "INT96":
                seen.add(f"INT96 in {file}")
            elif column.logical_type.type == "TIMESTAMP":
                logical = json.loads(column.logical_type.to_json())
                seen.add(f"{column.physical_type} {logical['timeUnit']} utc={logical['isAdjustedToUTC']}")
    return seen


def rows(table: Any) -> list[str]:
    return sorted(repr(sorted(r.items())) for r in table.to_pylist())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> FeatureStore:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = tmp_path_factory.mktemp("outputs")
    repo = tmp / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text(f"project: t\noffline_store:\n  path: {tmp / 'delta'}\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS))
    (repo / "data" / "events").mkdir(parents=True)
    (repo / "data" / "profiles").mkdir(parents=True)
    utc = pa.timestamp("us", tz="UTC")
    pq.write_table(pa.table({"user_id": pa.array([1, 1, 2, 1], pa.int64()), "amount": [1.5, 2.5, 4.0, 8.0],
                             "event_timestamp": pa.array([ts(D0, 1), ts(D0, 23.5), ts(D0, 5), ts(D0, 30)], utc)}),
                   repo / "data" / "events" / "part.parquet")
    pq.write_table(pa.table({"user_id": pa.array([1, 2], pa.int64()), "country": ["FR", "US"],
                             "signed_up": pa.array([ts(date(2025, 1, 1), 7.25), None], utc),
                             "event_timestamp": pa.array([ts(D0, 2), ts(D0, 3)], utc),
                             "created": pa.array([ts(D0, 2), ts(D0, 3)], utc)}),
                   repo / "data" / "profiles" / "part.parquet")
    store = FeatureStore(repo, env={})
    registry.apply(store.config)
    store.use_spark(spark)
    store.materialize(["spend", "profile"], D0, D0 + timedelta(days=1))
    return store


def test_every_delta_table_reads_the_same_without_spark(store: FeatureStore, spark: Any) -> None:
    import polars as pl
    import pyarrow as pa
    from deltalake import DeltaTable

    tables = sorted(p.parent for p in Path(store.config.offline_store_path).rglob("_delta_log"))
    kinds = {t.name for t in tables}
    assert len(tables) >= 7, kinds  # two views' snapshots and logs, tiles, the lifetime state, statistics
    for table in tables:
        ours = DeltaTable(str(table)).to_pyarrow_table()
        theirs = spark.read.format("delta").load(str(table)).toArrow()
        for field in ours.schema:
            if pa.types.is_timestamp(field.type):
                assert (table.name, field.name, field.type) == (table.name, field.name, pa.timestamp("us", "UTC"))
        assert ours.num_rows == theirs.num_rows > 0, table
        assert rows(ours.select(theirs.column_names)) == rows(theirs), table
        assert rows(pl.read_delta(str(table)).to_arrow().select(theirs.column_names)) == rows(theirs), table
        assert parquet_timestamps(table) <= {"INT64 microseconds utc=True"}, table


def test_training_set_and_snapshot_export_keep_utc_microseconds(store: FeatureStore, spark: Any,
                                                                 tmp_path: Path) -> None:
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pitstop.cli import main

    utc = pa.timestamp("us", tz="UTC")
    spine = pa.table({"user_id": pa.array([1, 2, 3], pa.int64()),
                      "event_timestamp": pa.array([ts(D0, 24), ts(D0, 40), ts(D0, 24)], utc),
                      "label": [1, 0, 1]})
    pq.write_table(spine, tmp_path / "spine.parquet")
    repo = str(store.repo)
    assert main(["--repo", repo, "training-set", "--spine", str(tmp_path / "spine.parquet"), "--features",
                 "spend:count_1d,spend:amount_sum_2d,profile:country,profile:signed_up",
                 "--out", str(tmp_path / "ts")]) == 0
    got = pq.read_table(tmp_path / "ts")
    assert got.schema.field("event_timestamp").type == utc
    assert got.schema.field("signed_up").type == utc
    assert parquet_timestamps(tmp_path / "ts") == {"INT64 microseconds utc=True"}
    want = [
        {"user_id": 1, "event_timestamp": ts(D0, 24), "label": 1, "count_1d": 2, "amount_sum_2d": 4.0,
         "country": "FR", "signed_up": ts(date(2025, 1, 1), 7.25)},
        {"user_id": 2, "event_timestamp": ts(D0, 40), "label": 0, "count_1d": 1, "amount_sum_2d": 4.0,
         "country": "US", "signed_up": None},
        {"user_id": 3, "event_timestamp": ts(D0, 24), "label": 1, "count_1d": 0, "amount_sum_2d": 0.0,
         "country": None, "signed_up": None},
    ]
    assert sorted(got.to_pylist(), key=lambda r: r["user_id"]) == want
    polars = pl.read_parquet(tmp_path / "ts" / "*.parquet")
    assert polars.schema["event_timestamp"] == pl.Datetime("us", "UTC")
    assert rows(polars.to_arrow()) == rows(got)
    assert rows(spark.read.parquet(str(tmp_path / "ts")).toArrow().select(got.column_names)) == rows(got)

    assert main(["--repo", repo, "snapshot", "profile", "--ds", str(D0), "--out", str(tmp_path / "p.parquet")]) == 0
    export = pq.read_table(tmp_path / "p.parquet")
    stamps = {f.name: f.type for f in export.schema if pa.types.is_timestamp(f.type)}
    assert "signed_up" in stamps and set(stamps.values()) == {utc}
    assert parquet_timestamps(tmp_path) == {"INT64 microseconds utc=True"}  # the export and the training set
    assert rows(export) == rows(store.snapshot("profile", D0).toArrow())
    assert {r["user_id"]: r["signed_up"] for r in export.to_pylist()} == {1: ts(date(2025, 1, 1), 7.25), 2: None}


def test_spine_range_warning_says_what_rows_outside_get(store: FeatureStore) -> None:
    import pandas as pd

    from pitstop.runtime.training_set import SpineRangeWarning

    spine = pd.DataFrame({"user_id": [1, 1, 1], "event_timestamp": pd.to_datetime(
        [ts(D0, 10), ts(D0, 60), ts(D0, 73)])})  # before S(D0); within the 1d ttl after S(D1); beyond it
    with pytest.warns(SpineRangeWarning) as caught:
        got = store.get_historical_features(spine, ["spend:count_lifetime"]).toPandas()
    assert [str(w.message) for w in caught] == [
        "the spine's times (2026-03-01 10:00 .. 2026-03-04 01:00 UTC) reach outside what 'spend' has materialized "
        "(2026-03-01 .. 2026-03-02): rows before 2026-03-02 00:00 UTC (when the snapshot of 2026-03-01 becomes "
        "visible) get null features; later rows get the snapshot of 2026-03-02 up to 2026-03-04 00:00 UTC (the "
        "view's ttl is 1d) and null features after that"]
    in_time_order = got.sort_values("event_timestamp")["count_lifetime"]
    assert [None if pd.isna(v) else int(v) for v in in_time_order] == [None, 3, None]
