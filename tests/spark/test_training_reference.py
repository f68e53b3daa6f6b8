"""Training sets on a generated dataset against an independent reference: DuckDB over the raw events."""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pitstop import FeatureStore
from pitstop.runtime import registry

pytestmark = [pytest.mark.spark, pytest.mark.slow]

FIRST = date(2026, 5, 1)
DAYS = 12
USERS = 60
DEFS = """
from datetime import timedelta
from pitstop import Aggregation, BatchSource, Entity, Feature, FeatureView
user = Entity("user", join_keys=["user_id"])
events = BatchSource("events", path="data/events", readiness="none")
profiles = BatchSource("profiles", path="data/profiles", readiness="none")
spend = FeatureView("spend", entities=[user], source=events, online=False, aggregations=[
    Aggregation("count", windows=["1d", "3d"]),
    Aggregation("sum", column="amount", windows=["3d"]),
    Aggregation("max", column="amount", windows=["3d"]),
])
profile = FeatureView("profile", entities=[user], source=profiles, online=False,
                      features=[Feature("tier", dtype="int64")])
"""


def test_agrees_with_duckdb_on_generated_data_and_keeps_every_spine_row(tmp_path: Path, spark: Any) -> None:
    import duckdb
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(5)
    start = datetime(FIRST.year, FIRST.month, FIRST.day, tzinfo=UTC)
    n = 3000
    events = pa.table({
        "user_id": rng.integers(1, USERS + 1, n),
        "amount": np.round(rng.lognormal(2.0, 1.0, n), 2),
        "event_timestamp": pa.array([start + timedelta(microseconds=int(x)) for x in
                                     rng.integers(0, DAYS * 86_400_000_000, n)], pa.timestamp("us", tz="UTC")),
    })
    # profile updates at distinct microseconds, so the newest row before t is unique
    updates = 400
    moments = rng.choice(DAYS * 86_400_000_000, updates, replace=False)
    profiles = pa.table({
        "user_id": rng.integers(1, USERS + 1, updates), "tier": rng.integers(0, 5, updates),
        "event_timestamp": pa.array([start + timedelta(microseconds=int(x)) for x in moments],
                                    pa.timestamp("us", tz="UTC")),
    })
    repo = tmp_path / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text(f"project: r\noffline_store:\n  path: {tmp_path / 'delta'}\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS))
    for name, table in (("events", events), ("profiles", profiles)):
        (repo / "data" / name).mkdir(parents=True)
        pq.write_table(table, repo / "data" / name / "part-0.parquet")
    store = FeatureStore(repo, env={})
    registry.apply(store.config)
    store.use_spark(spark)
    store.materialize(["spend", "profile"], FIRST, FIRST + timedelta(days=DAYS - 1))
    # the spine: times from S(FIRST) to the end of the data, a third of the rows on one key (skew),
    # some duplicates, a few unknown users
    rows = 20_000
    users = np.where(rng.random(rows) < 0.33, 1, rng.integers(1, USERS + 20, rows))
    offsets = rng.integers(86_400_000_000, DAYS * 86_400_000_000, rows)
    offsets[:50] = offsets[50:100]  # duplicates
    users[:50] = users[50:100]
    spine = pa.table({"rid": np.arange(rows), "user_id": users,
                      "event_timestamp": pa.array([start + timedelta(microseconds=int(x)) for x in offsets],
                                                  pa.timestamp("us", tz="UTC"))})
    pq.write_table(spine, tmp_path / "spine.parquet")
    features = ["spend:count_1d", "spend:count_3d", "spend:amount_sum_3d", "spend:amount_max_3d", "profile:tier"]
    df = store.get_historical_features(str(tmp_path / "spine.parquet"), features)
    got = {r["rid"]: (r["count_1d"], r["count_3d"], r["amount_sum_3d"], r["amount_max_3d"], r["tier"])
           for r in df.collect()}
    assert df.count() == rows and len(got) == rows  # |output| = |spine|, each row once
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("spine", spine)
    con.register("events", events)
    con.register("profiles", profiles)
    want = {r[0]: tuple(r[1:]) for r in con.execute("""
        WITH s AS (SELECT rid, user_id, event_timestamp AS t, date_trunc('day', event_timestamp) AS cut FROM spine),
        agg AS (
          SELECT s.rid,
                 count(e.amount) FILTER (WHERE e.event_timestamp >= s.cut - INTERVAL 1 DAY) AS c1,
                 count(e.amount) AS c3, coalesce(sum(e.amount), 0) AS s3, max(e.amount) AS m3
          FROM s LEFT JOIN events e ON e.user_id = s.user_id AND e.event_timestamp >= s.cut - INTERVAL 3 DAY
                                   AND e.event_timestamp < s.cut
          GROUP BY s.rid
        ),
        latest AS (
          SELECT s.rid, p.tier FROM s ASOF LEFT JOIN profiles p ON s.user_id = p.user_id AND s.t > p.event_timestamp
        )
        SELECT agg.rid, c1, c3, s3, m3, latest.tier FROM agg JOIN latest USING (rid)
    """).fetchall()}
    differ = [(rid, got[rid], want[rid]) for rid in range(rows)
              if got[rid][:2] != want[rid][:2] or got[rid][4] != want[rid][4]
              or abs(got[rid][2] - want[rid][2]) > 1e-9 * max(1.0, abs(want[rid][2]))
              or (got[rid][3] is None) != (want[rid][3] is None)
              or (got[rid][3] is not None and abs(got[rid][3] - want[rid][3]) > 1e-12)]
    assert not differ, differ[:5]
    assert sum(1 for v in got.values() if v[1] > 0) > rows // 2  # the comparison is not vacuous
