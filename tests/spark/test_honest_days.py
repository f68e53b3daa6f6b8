"""Latest-value views from the whole source history, and honest days: a day is computed only on a ready source,
never before the source's first event or the view's start_date (unless forced). Real Spark, Delta, Redis."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pitstop import FeatureStore
from pitstop.errors import SourceNotReady
from pitstop.runtime import registry

pytestmark = pytest.mark.spark

D = date(2026, 5, 10)  # the day the latest-value view is first materialized

DEFS = """
from datetime import date, timedelta
from pitstop import Aggregation, BatchSource, Entity, Feature, FeatureView
user = Entity("user", join_keys=["user_id"])
profiles = BatchSource("profiles", path="data/profiles", created_timestamp_field="created")
events = BatchSource("events", path="data/events")
profile = FeatureView("profile", entities=[user], source=profiles, ttl=timedelta(days=3650),
                      features=[Feature("country", dtype="string"), Feature("limit", dtype="float64")], online={online})
spend = FeatureView("spend", entities=[user], source=events, online=False, start_date=date(2026, 5, 2),
                    aggregations=[Aggregation("count", windows=["1d"])])
"""


def ts(day: date, hours: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hours)


def write_profiles(folder: Path, rows: list[tuple[int, str, float, datetime]], name: str = "part-0.parquet") -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    utc = pa.timestamp("us", tz="UTC")
    pq.write_table(pa.table({
        "user_id": pa.array([r[0] for r in rows], pa.int64()), "country": pa.array([r[1] for r in rows]),
        "limit": pa.array([r[2] for r in rows], pa.float64()),
        "event_timestamp": pa.array([r[3] for r in rows], utc),
        "created": pa.array([r[3] for r in rows], utc)}), folder / name)


def write_events(folder: Path, times: list[datetime]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"user_id": pa.array([1] * len(times), pa.int64()),
                             "event_timestamp": pa.array(times, pa.timestamp("us", tz="UTC"))}),
                   folder / "part-0.parquet")


# user 1: one row long before D; user 2: a row two days before D and a newer one on D; user 3: after D only
HISTORY = [(1, "FR", 100.0, ts(D - timedelta(days=200), 5)), (2, "DE", 50.0, ts(D - timedelta(days=2), 3)),
           (2, "AT", 60.0, ts(D, 7)), (3, "US", 10.0, ts(D + timedelta(days=1), 1)),
           (4, "IT", 5.0, ts(D + timedelta(days=3), 2))]  # the newest row: the source is ready through D + 2


def make_store(tmp_path: Path, spark: Any, *, online: bool = False, redis_url: str | None = None) -> FeatureStore:
    repo = tmp_path / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    yaml = f"project: honest\noffline_store:\n  path: {tmp_path / 'delta'}\n"
    if redis_url:
        yaml += f"online_store:\n  url: {redis_url}\n"
    (repo / "pitstop.yaml").write_text(yaml)
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS.format(online=online)))
    write_profiles(repo / "data" / "profiles", HISTORY)
    write_events(repo / "data" / "events", [ts(date(2026, 5, 1), 9), ts(date(2026, 5, 3), 9),
                                             ts(date(2026, 5, 6), 1)])
    store = FeatureStore(repo, env={})
    registry.apply(store.config)
    store.use_spark(spark)
    return store


def values(store: FeatureStore, ds: date) -> dict[int, tuple[str, float]]:
    return {r["user_id"]: (r["country"], r["limit"]) for r in store.snapshot("profile", ds).collect()}


def logged(store: FeatureStore, kind: str) -> list[date]:
    from pitstop.runtime.tables import ViewTables

    plan = store.load_plan()
    log = store.spark.read.format("delta").load(ViewTables(store.config, plan.view("profile")).log)
    return sorted(r.ds for r in log.where(f"kind = '{kind}'").collect())


def test_latest_values_come_from_the_whole_history_then_only_new_days(tmp_path: Path, spark: Any) -> None:
    store = make_store(tmp_path, spark)
    first_day = D - timedelta(days=200)
    (summary,) = store.materialize("profile", D, D)
    # user 1's only row is 200 days old: the first run seeded it although only D was materialized
    assert values(store, D) == {1: ("FR", 100.0), 2: ("AT", 60.0)}
    assert store.materialized_days("profile") == [D]
    assert summary.tile_days == [first_day + timedelta(days=i) for i in range(201)]
    assert logged(store, "rows") == summary.tile_days
    assert summary.events == 3 and summary.events_per_day[D] == 1
    assert "events read per day: 2026-05-10 1" in summary.describe()
    assert "source rows (re)copied for 201 day(s): 2025-10-22..2026-05-10" in summary.describe()

    # the next day reads only that day from the source
    (nxt,) = store.materialize("profile", D + timedelta(days=1), D + timedelta(days=1))
    assert nxt.tile_days == [D + timedelta(days=1)] and nxt.events == 1
    assert values(store, D + timedelta(days=1)) == {1: ("FR", 100.0), 2: ("AT", 60.0), 3: ("US", 10.0)}

    # a training set and the snapshot agree: user 1 is known at any time after its row
    spine = spark.createDataFrame([(1, ts(D, 12), 0), (2, ts(D, 5), 1), (2, ts(D, 12), 2), (3, ts(D, 12), 3)],
                                  "user_id BIGINT, event_timestamp TIMESTAMP, label INT")
    out = {r["label"]: r["country"] for r in store.get_historical_features(spine, ["profile:country"]).collect()}
    assert out == {0: "FR", 1: "DE", 2: "AT", 3: None}


def test_a_run_after_a_gap_copies_the_days_in_between(tmp_path: Path, spark: Any) -> None:
    store = make_store(tmp_path, spark)
    store.materialize("profile", D - timedelta(days=5), D - timedelta(days=5))
    assert values(store, D - timedelta(days=5)) == {1: ("FR", 100.0)}
    (later,) = store.materialize("profile", D + timedelta(days=1), D + timedelta(days=1))
    # the days between the table's newest copied day and this run's day are copied, not skipped
    assert later.tile_days == [D - timedelta(days=4) + timedelta(days=i) for i in range(6)]
    assert values(store, D + timedelta(days=1)) == {1: ("FR", 100.0), 2: ("AT", 60.0), 3: ("US", 10.0)}
    assert store.materialized_days("profile") == [D - timedelta(days=5), D + timedelta(days=1)]


@pytest.mark.redis
def test_online_serves_keys_last_seen_before_the_materialized_days(tmp_path: Path, spark: Any,
                                                                    redis_url: str) -> None:
    store = make_store(tmp_path, spark, online=True, redis_url=redis_url)
    store.materialize("profile", D, D)
    response = store.get_online_features(["profile:country", "profile:limit"],
                                         [{"user_id": 1}, {"user_id": 2}, {"user_id": 3}])
    assert response.to_dict()["country"] == ["FR", "AT", None]
    assert response.to_dict()["limit"] == [100.0, 60.0, None]


def test_days_before_the_first_event_or_start_date_are_refused(tmp_path: Path, spark: Any) -> None:
    store = make_store(tmp_path, spark)
    first_day = (D - timedelta(days=200))
    with pytest.raises(SourceNotReady) as caught:
        store.materialize("profile", first_day - timedelta(days=1), first_day)
    assert str(caught.value) == (
        f"view 'profile': {first_day - timedelta(days=1)} is before the first event of source 'profiles' "
        f"(2025-10-22T05:00:00+00:00, day 2025-10-22), so those days would be computed from no data; rerun "
        f"with --start/--end inside that range, or with --force (API: force=True) to compute them anyway "
        f"(e.g. --start 2025-10-22)")
    with pytest.raises(SourceNotReady, match=r"view 'spend': 2026-05-01 is before the view's start_date 2026-05-02"):
        store.materialize("spend", date(2026, 5, 1), date(2026, 5, 2))
    assert store.materialized_days("spend") == [] and store.materialized_days("profile") == []
    # forced, the day is computed
    (forced,) = store.materialize("spend", date(2026, 5, 1), date(2026, 5, 1), force=True)
    assert forced.forced and "--force" in forced.describe()
    assert store.materialized_days("spend") == [date(2026, 5, 1)]


def test_a_day_whose_source_has_not_landed_is_refused_and_a_quiet_day_counts(tmp_path: Path, spark: Any) -> None:
    store = make_store(tmp_path, spark)
    # events: 05-01, 05-03, 05-06 01:00; the newest event proves the source complete through 05-05
    with pytest.raises(SourceNotReady) as caught:
        store.materialize("spend", date(2026, 5, 5), date(2026, 5, 6))
    assert str(caught.value).startswith(
        "view 'spend': source 'events' is not ready for 2026-05-06: the day needs data through "
        "2026-05-07T00:00:00+00:00 (readiness='max_event_time'), and newest event_timestamp in 1 file(s) is "
        "2026-05-06T01:00:00+00:00, before 2026-05-07T00:00:00+00:00. Wait for the data, or rerun with")
    # 05-04 and 05-05 have no event, but the source is ready for them: they count as materialized
    (summary,) = store.materialize("spend", date(2026, 5, 4), date(2026, 5, 5))
    assert store.materialized_days("spend") == [date(2026, 5, 4), date(2026, 5, 5)]
    assert summary.events_per_day == {}
    text = summary.describe()
    assert "events read per day: 2026-05-04 0, 2026-05-05 0" in text
    assert "source events: first event 2026-05-01T09:00:00+00:00; newest event_timestamp" in text


def test_the_cli_refuses_an_unready_day_before_spark_starts(tmp_path: Path, spark: Any) -> None:
    store = make_store(tmp_path, spark)
    probe = ("import sys; from pitstop.cli import main; code = main(sys.argv[1:]); "
             "print('pyspark loaded' if 'pyspark' in sys.modules else 'no pyspark'); sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", probe, "--repo", str(store.repo), "materialize", "spend",
                           "--start", "2026-05-06", "--end", "2026-05-06"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 3  # SourceNotReady: terminal
    assert proc.stdout.strip() == "no pyspark"
    assert proc.stderr.startswith("error: view 'spend': source 'events' is not ready for 2026-05-06")
    assert "--force" in proc.stderr and "Traceback" not in proc.stderr
