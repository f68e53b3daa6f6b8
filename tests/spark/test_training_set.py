"""Point-in-time training sets on tiny hand-made cases: real Spark, real Delta (docs/semantics.md, exactly)."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pitstop import FeatureStore
from pitstop.errors import UsageError
from pitstop.runtime import registry
from pitstop.runtime.training_set import SpineRangeWarning, from_manifest, load_manifest, write

pytestmark = pytest.mark.spark

D0 = date(2026, 3, 1)
D1, D2, D3 = (D0 + timedelta(days=i) for i in (1, 2, 3))
US = timedelta(microseconds=1)


def ts(day: date, hours: float = 0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hours)


def S(day: date) -> datetime:
    return ts(day + timedelta(days=1))


DEFS = """
from datetime import timedelta
from pitstop import Aggregation, BatchSource, Entity, Feature, FeatureView
user = Entity("user", join_keys=["user_id"])
device = Entity("device", join_keys=["account_id", "device"])
events = BatchSource("events", path="data/events", readiness="none")
profiles = BatchSource("profiles", path="data/profiles", created_timestamp_field="created", readiness="none")
logins = BatchSource("logins", path="data/logins", readiness="none")
spend = FeatureView("spend", entities=[user], source=events, online=False, aggregations=[
    Aggregation("count", windows=["1d", "2d"]),
    Aggregation("sum", column="amount", windows=["2d"]),
    Aggregation("avg", column="amount", windows=["2d"]),
])
delayed = FeatureView("delayed", entities=[user], source=events, online=False,
                      availability_delay=timedelta(hours=2), aggregations=[Aggregation("count", windows=["1d"])])
profile = FeatureView("profile", entities=[user], source=profiles, online=False, ttl=timedelta(days=3),
                      features=[Feature("country", dtype="string"), Feature("limit", dtype="float64")])
profile_incl = FeatureView("profile_incl", entities=[user], source=profiles, online=False, ttl=timedelta(days=3),
                           inclusive_cutoff=True, features=[Feature("country", dtype="string")])
dev = FeatureView("dev", entities=[device], source=logins, online=False,
                  aggregations=[Aggregation("count", windows=["1d"])])
"""


def _write(folder: Path, columns: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), folder / "part-00000.parquet")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> FeatureStore:
    import pyarrow as pa

    tmp = tmp_path_factory.mktemp("training")
    repo = tmp / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text(f"project: t\noffline_store:\n  path: {tmp / 'delta'}\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS))
    utc = pa.timestamp("us", tz="UTC")
    events = [(1, 2.0, ts(D0, 1)), (1, 3.0, S(D0) - US), (2, 10.0, ts(D0, 10)), (1, 4.0, ts(D2, 5)),
              (3, 7.0, S(D0))]
    _write(repo / "data" / "events", {
        "user_id": pa.array([e[0] for e in events], pa.int64()), "amount": pa.array([e[1] for e in events]),
        "event_timestamp": pa.array([e[2] for e in events], utc)})
    profiles = [(1, "FR", 100.0, ts(D0, 6), ts(D0, 6)), (1, "DE", 200.0, ts(D0, 6), ts(D1, 12)),
                (1, "ES", None, ts(D2, 8), ts(D2, 8)), (2, "US", 5.0, ts(D0, 1), ts(D0, 1))]
    _write(repo / "data" / "profiles", {
        "user_id": pa.array([p[0] for p in profiles], pa.int64()), "country": pa.array([p[1] for p in profiles]),
        "limit": pa.array([p[2] for p in profiles], pa.float64()),
        "event_timestamp": pa.array([p[3] for p in profiles], utc), "created": pa.array([p[4] for p in profiles], utc)})
    logins = [(1, "12", ts(D0, 3)), (11, "2", ts(D0, 4)), (11, "2", ts(D0, 5))]
    _write(repo / "data" / "logins", {
        "account_id": pa.array([g[0] for g in logins], pa.int64()), "device": pa.array([g[1] for g in logins]),
        "event_timestamp": pa.array([g[2] for g in logins], utc)})
    s = FeatureStore(repo, env={})
    registry.apply(s.config)
    s.use_spark(spark)
    s.materialize(["spend", "delayed", "dev"], D0, D1)
    s.materialize("spend", D3, D3)  # D2 is never materialized: a gap
    s.materialize(["profile", "profile_incl"], D0, D3)
    return s


def rows(df: Any) -> list[dict[str, Any]]:
    return [r.asDict() for r in df.collect()]


def spine(spark: Any, points: list[tuple[Any, ...]], columns: str = "user_id BIGINT, event_timestamp TIMESTAMP, "
                                                                    "label INT") -> Any:
    return spark.createDataFrame(points, columns)


def test_aggregates_at_the_snapshot_boundaries_decay_gaps_and_unknown_keys(store: FeatureStore, spark: Any) -> None:
    points = [(1, S(D0) - US, 0), (1, S(D0), 1), (1, S(D0) + US, 2), (2, S(D1) + timedelta(hours=1), 3),
              (2, S(D2) + timedelta(hours=1), 4), (99, S(D1), 5), (None, S(D1), 6), (1, None, 7), (1, S(D0), 8),
              (1, S(D3) + timedelta(hours=2), 9), (3, S(D1), 10)]
    features = ["spend:count_1d", "spend:count_2d", "spend:amount_sum_2d", "spend:amount_avg_2d"]
    out = {r["label"]: r for r in rows(store.get_historical_features(spine(spark, points), features))}
    assert len(out) == len(points)
    nothing = {"count_1d": None, "count_2d": None, "amount_sum_2d": None, "amount_avg_2d": None}

    def got(label: int) -> dict[str, Any]:
        return {k: out[label][k] for k in nothing}

    assert got(0) == nothing  # a microsecond before S(D0): no snapshot yet (the first is D0)
    assert got(1) == {"count_1d": 2, "count_2d": 2, "amount_sum_2d": 5.0, "amount_avg_2d": 2.5}  # exactly S(D0)
    assert got(2) == got(1) == got(8)  # a microsecond after; a duplicate spine row is kept and equal
    assert got(3) == {"count_1d": 0, "count_2d": 1, "amount_sum_2d": 10.0, "amount_avg_2d": 10.0}  # decays
    assert got(4) == nothing  # D2 is missing: D* = D1 and t - S(D1) = 25h > ttl (1d)
    assert got(5) == {"count_1d": 0, "count_2d": 0, "amount_sum_2d": 0.0, "amount_avg_2d": None}  # never seen
    assert got(6) == nothing and got(7) == nothing  # null key, null time: kept, features null
    assert got(9) == {"count_1d": 0, "count_2d": 1, "amount_sum_2d": 4.0, "amount_avg_2d": 4.0}  # D3
    assert got(10)["count_1d"] == 1  # the event at exactly S(D0) belongs to D1
    assert out[1]["user_id"] == 1 and out[1]["event_timestamp"] == S(D0).replace(tzinfo=None)


def test_availability_delay(store: FeatureStore, spark: Any) -> None:
    points = [(1, S(D0) + timedelta(hours=2) - US, 0), (1, S(D0) + timedelta(hours=2), 1)]
    out = {r["label"]: r["count_1d"] for r in rows(store.get_historical_features(spine(spark, points),
                                                                                   ["delayed:count_1d"]))}
    assert out == {0: None, 1: 2}


def test_latest_values_as_known_at_the_time(store: FeatureStore, spark: Any) -> None:
    points = [(1, ts(D0, 6), 0), (1, ts(D0, 6) + US, 1), (1, ts(D1, 12) - US, 2), (1, ts(D1, 12), 3),
              (1, ts(D2, 8) + US, 4), (1, ts(D2, 8) + timedelta(days=3), 5),
              (1, ts(D2, 8) + timedelta(days=3) + US, 6), (2, ts(D0, 2), 7), (5, ts(D1), 8), (1, ts(D0, 6) + US, 9)]
    df = store.get_historical_features(spine(spark, points), ["profile:country", "profile:limit"])
    out = {r["label"]: (r["country"], r["limit"]) for r in rows(df)}
    assert df.count() == len(points)
    assert out == {
        0: (None, None),  # the event at exactly t is not before t
        1: ("FR", 100.0),  # the correction (created D1 12:00) is not known yet
        2: ("FR", 100.0),
        3: ("DE", 200.0),  # created exactly at t: known; same event time, later created wins
        4: ("ES", None),  # the newest row's null stays null
        5: ("ES", None),  # exactly ttl (3d) old: still valid
        6: (None, None),  # older than ttl
        7: ("US", 5.0), 8: (None, None), 9: ("FR", 100.0)}


def test_inclusive_cutoff_sees_a_row_at_exactly_t(store: FeatureStore, spark: Any) -> None:
    points = [(1, ts(D0, 6) - US, 0), (1, ts(D0, 6), 1), (1, ts(D1, 12), 2), (1, ts(D2, 8), 3)]
    df = store.get_historical_features(spine(spark, points), ["profile:country", "profile_incl:country"],
                                       full_feature_names=True)
    out = {r["label"]: (r["profile__country"], r["profile_incl__country"]) for r in rows(df)}
    assert out == {0: (None, None), 1: (None, "FR"), 2: ("DE", "DE"), 3: ("DE", "ES")}


def test_composite_keys_do_not_collide(store: FeatureStore, spark: Any) -> None:
    points = [(1, "12", S(D0), 0), (11, "2", S(D0), 1), (1, "2", S(D0), 2)]
    df = store.get_historical_features(
        spine(spark, points, "account_id BIGINT, device STRING, event_timestamp TIMESTAMP, label INT"),
        ["dev:count_1d"])
    assert {r["label"]: r["count_1d"] for r in rows(df)} == {0: 1, 1: 2, 2: 0}



def test_views_with_different_join_keys_in_one_training_set(store: FeatureStore, spark: Any) -> None:
    points = [(1, 1, "12", S(D0), 0), (2, 11, "2", S(D0), 1), (None, 11, "2", S(D0), 2), (1, None, "12", S(D0), 3),
              (1, 1, "12", S(D0), 0), (2, 11, "2", None, 5)]
    df = store.get_historical_features(
        spine(spark, points, "user_id BIGINT, account_id BIGINT, device STRING, event_timestamp TIMESTAMP, label INT"),
        ["spend:count_1d", "dev:count_1d", "profile:country", "spend:amount_sum_2d"], full_feature_names=True)
    assert df.columns[:5] == ["user_id", "account_id", "device", "event_timestamp", "label"]
    features = ["spend__count_1d", "dev__count_1d", "profile__country", "spend__amount_sum_2d"]
    assert sorted(df.columns[5:]) == sorted(features)
    assert sorted((r["label"], *(r[f] for f in features)) for r in df.collect()) == [
        (0, 2, 1, "FR", 5.0), (0, 2, 1, "FR", 5.0),  # a duplicate stays a duplicate
        (1, 1, 2, "US", 10.0),
        (2, None, 2, None, None),  # a null user_id: its views null, the device view still answers
        (3, 2, None, "FR", 5.0),
        (5, None, None, None, None)]  # a null time

def test_spine_forms_names_and_bad_input(store: FeatureStore, spark: Any, tmp_path: Path) -> None:
    import pandas as pd

    pdf = pd.DataFrame({"user_id": [1, 2], "when": ["2026-03-02 00:00:00", "2026-03-02 01:00:00"]})
    df = store.get_historical_features(pdf, ["spend:count_1d", "delayed:count_1d"], timestamp_column="when",
                                       full_feature_names=True)
    assert sorted((r["user_id"], r["spend__count_1d"], r["delayed__count_1d"]) for r in rows(df)) == \
        [(1, 2, None), (2, 1, None)]
    pdf.to_csv(tmp_path / "spine.csv", index=False)
    from_csv = store.get_historical_features(str(tmp_path / "spine.csv"), ["spend:count_1d"], timestamp_column="when")
    assert sorted((r["user_id"], r["count_1d"]) for r in rows(from_csv)) == [(1, 2), (2, 1)]
    sql = "SELECT 1L AS user_id, TIMESTAMP '2026-03-02 00:00:00' AS event_timestamp"
    assert rows(store.get_historical_features(sql, ["spend:count_1d"]))[0]["count_1d"] == 2
    with pytest.raises(UsageError, match=r"'delayed:count_1d' and 'spend:count_1d' both give a column 'count_1d'"):
        store.get_historical_features(sql, ["spend:count_1d", "delayed:count_1d"])
    with pytest.raises(UsageError, match=r"view 'spend' has no feature 'nope'; its features: count_1d, count_2d"):
        store.get_historical_features(sql, ["spend:nope"])
    with pytest.raises(UsageError, match=r"unknown view 'nope' in 'nope:x'; views: delayed, dev, profile, "
                                         r"profile_incl, spend"):
        store.get_historical_features(sql, ["nope:x"])
    with pytest.raises(UsageError, match=r"has no timestamp column 'ts'"):
        store.get_historical_features(sql, ["spend:count_1d"], timestamp_column="ts")
    with pytest.raises(UsageError, match=r"lacks join key column\(s\) account_id, device"):
        store.get_historical_features(sql, ["dev:count_1d"])
    with pytest.raises(UsageError, match=r"holds text that is not a timestamp \(e.g. 'yesterday'\)"):
        store.get_historical_features("SELECT 1L AS user_id, 'yesterday' AS event_timestamp", ["spend:count_1d"])
    with pytest.raises(UsageError, match=r"is date; it must be a timestamp"):
        store.get_historical_features("SELECT 1L AS user_id, DATE '2026-03-02' AS event_timestamp",
                                      ["spend:count_1d"])
    with pytest.raises(UsageError, match=r"spine column 'user_id' is string, but the views' join key user_id is "
                                         r"bigint"):
        store.get_historical_features("SELECT '1' AS user_id, TIMESTAMP '2026-03-02' AS event_timestamp",
                                      ["spend:count_1d"])
    with pytest.raises(UsageError, match=r"feature column\(s\) count_1d would replace spine columns"):
        store.get_historical_features("SELECT 1L AS user_id, TIMESTAMP '2026-03-02' AS event_timestamp, 0 AS count_1d",
                                      ["spend:count_1d"])
    with pytest.warns(SpineRangeWarning, match=r"reach outside what 'spend' has materialized \(2026-03-01 .. "
                                                r"2026-03-04\)"):
        store.get_historical_features("SELECT 1L AS user_id, TIMESTAMP '2026-01-01' AS event_timestamp",
                                      ["spend:count_1d"])


def test_cli_training_set_sql_and_rebuild(store: FeatureStore, spark: Any, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from pitstop.cli import main

    spine(spark, [(1, S(D0), 0), (2, S(D1), 1)]).write.parquet(str(tmp_path / "spine"))
    repo = str(store.repo)
    args = ["--repo", repo, "training-set", "--spine", str(tmp_path / "spine"), "--features",
            "spend:count_1d,spend:count_2d", "--features", "profile:country", "--out", str(tmp_path / "ts")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "wrote 2 rows x 6 columns to" in out
    assert "\n  time: Spark start-up " in out and ", views and spine " in out and ", join and write " in out
    got = sorted((r["label"], r["count_1d"], r["count_2d"], r["country"]) for r in
                 spark.read.parquet(str(tmp_path / "ts")).collect())
    assert got == [(0, 2, 2, "FR"), (1, 0, 1, "US")]
    assert main(args) == 3  # a user mistake: terminal
    assert "already exists; choose another --out or pass --overwrite" in capsys.readouterr().err
    assert main(["--repo", repo, "training-set", "--from-manifest", str(tmp_path / "ts" / "_pitstop_manifest.json"),
                 "--out", str(tmp_path / "again"), "--format", "delta"]) == 0
    capsys.readouterr()
    assert sorted((r["label"], r["count_1d"], r["count_2d"], r["country"]) for r in
                  spark.read.format("delta").load(str(tmp_path / "again")).collect()) == got
    assert main(["--repo", repo, "training-set", "--spine-sql",
                 "SELECT user_id, CAST(max(ds) + INTERVAL 1 DAY AS TIMESTAMP) AS event_timestamp "
                 "FROM pitstop.spend__v1 GROUP BY user_id",
                 "--features", "spend:count_1d", "--print-sql"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("-- pitstop training set") and "VERSION AS OF" in printed
    assert main(["--repo", repo, "sql", "SELECT user_id, count_1d FROM pitstop.spend__v1 WHERE ds = DATE '2026-03-01' "
                                        "ORDER BY user_id"]) == 0
    assert capsys.readouterr().out.split() == ["user_id", "count_1d", "1", "2", "2", "1"]
    assert main(["--repo", repo, "sql", "SELECT nope FROM pitstop.spend__v1"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: Spark SQL: [UNRESOLVED_COLUMN.WITH_SUGGESTION]") and "Py4JJavaError" not in err
    assert main(["--repo", repo, "training-set", "--features", "spend:count_1d", "--out", "x"]) == 3
    assert "give the spine (--spine PATH or --spine-sql SQL" in capsys.readouterr().err


def test_printed_sql_runs_unchanged_and_a_manifest_rebuilds_after_a_backfill(store: FeatureStore, spark: Any,
                                                                             tmp_path: Path) -> None:
    points = [(1, S(D0), 0), (2, S(D1), 1), (3, S(D1), 2), (1, ts(D1, 13), 3)]
    spine(spark, points).write.parquet(str(tmp_path / "spine"))
    features = ["spend:count_1d", "spend:amount_sum_2d", "profile:country"]
    result = store.training_set(str(tmp_path / "spine"), features)
    manifest = write(result, str(tmp_path / "out"))
    before = sorted(tuple(r) for r in spark.read.parquet(str(tmp_path / "out")).collect())
    body = "\n".join(line for line in result.printable_sql().splitlines() if not line.startswith("--"))
    statements = [s.strip() for s in body.split(";") if s.strip()]
    assert statements[0] == "SET spark.sql.session.timeZone = UTC" and len(statements) == 2
    assert sorted(tuple(r) for r in spark.sql(statements[-1]).collect()) == before
    recorded = load_manifest(str(tmp_path / "out"))
    assert recorded["spine"]["rows"] == 4 and recorded["tables"]["spend"]["version"] == manifest["tables"]["spend"][
        "version"]
    assert json.loads((tmp_path / "out" / "_pitstop_manifest.json").read_text())["features"] == features
    # a backfill with corrected data changes the tables; the manifest still rebuilds the old answer
    import pyarrow as pa

    _write(store.repo / "data" / "events", {"user_id": pa.array([1, 2], pa.int64()), "amount": pa.array([50.0, 60.0]),
                                           "event_timestamp": pa.array([ts(D0, 1), ts(D1, 1)],
                                                                       pa.timestamp("us", tz="UTC"))})
    store.materialize("spend", D0, D1)  # (the last test of this module: it changes the shared store)
    now = sorted(tuple(r) for r in store.training_set(str(tmp_path / "spine"), features).df.collect())
    assert now != before
    again = from_manifest(store.context(), recorded)
    assert sorted(tuple(r) for r in again.df.collect()) == before
    # once vacuumed past those versions, the manifest is refused clearly, never answered differently
    from pitstop.cli import main

    assert main(["--repo", str(store.repo), "vacuum", "spend", "--retain-hours", "0"]) == 0
    with pytest.raises(UsageError, match=r"view 'spend': Delta version \d+ of .* is no longer available \(\d+ "
                                         r"file\(s\) vacuumed away"):
        from_manifest(store.context(), recorded)
    assert sorted(tuple(r) for r in store.training_set(str(tmp_path / "spine"), features).df.collect()) == now
