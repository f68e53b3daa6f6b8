"""Agreement with an independent computation of the windows, written without pitstop's code (DuckDB
over the raw parquet events), on a generated dataset with thousands of entities, duplicates, nulls,
and events exactly at midnight and a microsecond before."""

from __future__ import annotations

import math
import textwrap
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from pitstop import FeatureStore
from pitstop.demo.data import generate_demo_data
from pitstop.runtime import registry

pytestmark = [pytest.mark.spark, pytest.mark.slow]

END = date(2026, 10, 31)
DEFS = """
from pitstop import Aggregation, BatchSource, Entity, FeatureView
user = Entity("user", join_keys=["user_id"])
tx = BatchSource("tx", path="data/source/transactions", readiness="none")
v = FeatureView("v", entities=[user], source=tx, online=False, aggregations=[
    Aggregation("count", windows=["1d", "7d", None]),
    Aggregation("sum", column="amount", windows=["1d", "7d", None]),
    Aggregation("avg", column="amount", windows=["7d"]),
    Aggregation("min", column="amount", windows=["7d"]),
    Aggregation("max", column="amount", windows=["1d", "7d"]),
    Aggregation("stddev_samp", column="amount", windows=["7d"]),
    Aggregation("count_distinct", column="merchant_id", windows=["7d", None]),
    Aggregation("approx_count_distinct", column="merchant_id", windows=["7d"]),
    Aggregation("last", column="merchant_id", windows=["7d"]),
])
"""


def duckdb_reference(source: Path, day: date) -> dict[int, dict[str, Any]]:
    import duckdb

    s = f"TIMESTAMPTZ '{day + timedelta(days=1)} 00:00:00+00'"
    w1 = f"event_timestamp >= {s} - INTERVAL 1 DAY"
    w7 = f"event_timestamp >= {s} - INTERVAL 7 DAY"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(f"""
        SELECT user_id,
          count(*) FILTER (WHERE {w1}) AS count_1d, count(*) FILTER (WHERE {w7}) AS count_7d,
          count(*) AS count_lifetime,
          coalesce(sum(amount) FILTER (WHERE {w1}), 0) AS amount_sum_1d,
          coalesce(sum(amount) FILTER (WHERE {w7}), 0) AS amount_sum_7d,
          coalesce(sum(amount), 0) AS amount_sum_lifetime,
          avg(amount) FILTER (WHERE {w7}) AS amount_avg_7d,
          min(amount) FILTER (WHERE {w7}) AS amount_min_7d,
          max(amount) FILTER (WHERE {w1}) AS amount_max_1d, max(amount) FILTER (WHERE {w7}) AS amount_max_7d,
          stddev_samp(amount) FILTER (WHERE {w7}) AS amount_stddev_samp_7d,
          count(DISTINCT merchant_id) FILTER (WHERE {w7}) AS merchant_id_count_distinct_7d,
          count(DISTINCT merchant_id) AS merchant_id_count_distinct_lifetime,
          (max({{'t': event_timestamp, 'v': merchant_id}}) FILTER (WHERE {w7})).v AS merchant_id_last_7d
        FROM read_parquet('{source}/*/*.parquet', hive_partitioning = false)
        WHERE event_timestamp < {s}
        GROUP BY user_id
    """).fetchall()
    names = [d[0] for d in con.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in rows}


def test_agrees_with_duckdb_on_generated_data(tmp_path: Path, spark: Any) -> None:
    repo = tmp_path / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text(f"project: t\noffline_store:\n  path: {tmp_path / 'delta'}\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS))
    generate_demo_data(repo / "data" / "source", transactions=30_000, users=3_000, merchants=200, days=12, end=END)
    store = FeatureStore(repo, env={})
    registry.apply(store.config)
    store.use_spark(spark)
    days = [END - timedelta(days=i) for i in (2, 1, 0)]
    store.materialize("v", days[0], days[-1])
    for day in days:
        expected = duckdb_reference(repo / "data" / "source" / "transactions", day)
        got = {r["user_id"]: r.asDict() for r in store.snapshot("v", day).collect()}
        assert len(got) > 2_000
        assert set(got) == set(expected), day
        for user, want in expected.items():
            have = got[user]
            for name, value in want.items():
                if name == "user_id":
                    continue
                actual = have[name]
                if value is None or actual is None:
                    assert actual == value, (day, user, name)
                elif isinstance(value, float):
                    assert math.isclose(actual, value, rel_tol=1e-9, abs_tol=1e-6), (day, user, name, actual, value)
                else:
                    assert actual == value, (day, user, name, actual, value)
            exact = want["merchant_id_count_distinct_7d"]
            estimate = have["merchant_id_approx_count_distinct_7d"]
            assert abs(estimate - exact) <= max(1, 0.05 * exact), (day, user, estimate, exact)
