"""The online store against a real redis-server, published from a real Spark session (docs/semantics.md,
Online reads)."""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pitstop import FeatureStore
from pitstop.errors import ConnectionFailed, UsageError
from pitstop.runtime import registry
from pitstop.runtime.context import Context
from pitstop.runtime.online import get_online_features
from pitstop.stores import local_redis

pytestmark = [pytest.mark.spark, pytest.mark.redis]

D0 = date(2026, 3, 1)
D1 = D0 + timedelta(days=1)

DEFS = """
from pitstop import Aggregation, BatchSource, Entity, Feature, FeatureView
user = Entity("user", join_keys=["user_id"])
events = BatchSource("events", path="data/events", readiness="none")
profiles = BatchSource("profiles", path="data/profiles", created_timestamp_field="created", readiness="none")
spend = FeatureView("spend", entities=[user], source=events, aggregations=[
    Aggregation("count", windows=["1d", "2d"]),
    Aggregation("sum", column="amount", windows=["2d"]),
    Aggregation("sum", column="qty", windows=["2d"]),
    Aggregation("avg", column="amount", windows=["2d"]),
    Aggregation("min", column="amount", windows=["2d"]),
    Aggregation("max", column="paid_at", windows=["2d"]),
    Aggregation("count_distinct", column="merchant", windows=["2d"]),
    Aggregation("approx_count_distinct", column="merchant", windows=["2d"]),
    Aggregation("last", column="merchant", windows=["2d"]),
    Aggregation("last", column="flagged", windows=["2d"]),
    Aggregation("stddev_samp", column="amount", windows=["2d"]),
])
from datetime import timedelta
profile = FeatureView("profile", entities=[user], source=profiles, ttl=timedelta(days=3),
                      features=[Feature("country", dtype="string"), Feature("limit", dtype="float64")])
"""


def ts(day: date, hours: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hours, tzinfo=UTC)


def event(user: int, when: datetime, merchant: str = "m1", amount: float | None = 1.0, qty: int = 1,
          flagged: bool | None = False) -> dict[str, Any]:
    return {"user_id": user, "merchant": merchant, "amount": amount, "qty": qty, "flagged": flagged,
            "paid_at": when - timedelta(minutes=5), "event_timestamp": when}


def write(folder: Path, rows: list[dict[str, Any]], schema: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({n: pa.array([r.get(n) for r in rows], type=t) for n, t in schema.items()}),
                   folder / "part-00000.parquet")


def event_schema() -> dict[str, Any]:
    import pyarrow as pa

    us = pa.timestamp("us", tz="UTC")
    return {"user_id": pa.int64(), "merchant": pa.string(), "amount": pa.float64(), "qty": pa.int64(),
            "flagged": pa.bool_(), "paid_at": us, "event_timestamp": us}


def profile_schema() -> dict[str, Any]:
    import pyarrow as pa

    us = pa.timestamp("us", tz="UTC")
    return {"user_id": pa.int64(), "country": pa.string(), "limit": pa.float64(), "event_timestamp": us,
            "created": us}


EVENTS = [event(1, ts(D0, 1), "a", 2.0, 3, True), event(1, ts(D1, 2), "b", 4.0, 1, None),
          event(1, ts(D1, 3), "b", None, 2, False), event(2, ts(D0, 4), "z", 10.0, 7, True),
          event(3, ts(D1, 5), "q", float("nan"), 1, None)]
PROFILES = [{"user_id": 1, "country": "FR", "limit": 100.0, "event_timestamp": ts(D0), "created": ts(D0)},
            {"user_id": 1, "country": "DE", "limit": None, "event_timestamp": ts(D1, 6), "created": ts(D1, 6)},
            {"user_id": 2, "country": "US", "limit": 5.5, "event_timestamp": ts(D0 - timedelta(days=9)),
             "created": ts(D0 - timedelta(days=9))}]


def make_store(tmp_path: Path, spark: Any, url: str) -> FeatureStore:
    """The spend and profile views over EVENTS and PROFILES, applied, with the online store at ``url``."""
    repo = tmp_path / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text(f"project: t\noffline_store:\n  path: {tmp_path / 'delta'}\n"
                                       f"online_store:\n  url: {url}\n  max_entities: 50\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS))
    write(repo / "data" / "events", EVENTS, event_schema())
    write(repo / "data" / "profiles", PROFILES, profile_schema())
    s = FeatureStore(repo, env={})
    registry.apply(s.config)
    s.use_spark(spark)
    return s


@pytest.fixture
def store(tmp_path: Path, spark: Any, redis_url: str) -> FeatureStore:
    return make_store(tmp_path, spark, redis_url)


def names(store: FeatureStore, view: str) -> list[str]:
    return [f"{view}:{f.name}" for f in store.load_plan().view(view).features]


def online_rows(store: FeatureStore, view: str, users: list[int], now: datetime | None = None) -> list[dict[str, Any]]:
    response = get_online_features(store.context(), names(store, view),
                                   [{"user_id": u} for u in users], now=now)
    return response.to_list()


def offline_rows(store: FeatureStore, view: str, ds: date) -> dict[int, dict[str, Any]]:
    out = {}
    for r in store.snapshot(view, ds).collect():
        d = r.asDict()
        d.pop("feature_timestamp")
        out[d["user_id"]] = d
    return out


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-12 * max(1.0, abs(a))
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return bool(a == b) and type(a) is type(b)


def test_online_equals_the_delta_snapshot_for_every_function_and_dtype(store: FeatureStore) -> None:
    (spend,) = store.materialize("spend", D0, D1)
    (profile,) = store.materialize("profile", D0 - timedelta(days=9), D1)
    assert spend.published.outcome == "switched" and spend.published.entities == 3
    # user 2's newest profile row is 10 days before S(D1), over the 3-day ttl: not published (it reads null)
    assert profile.published.outcome == "switched" and profile.published.entities == 1
    offline = offline_rows(store, "spend", D1)
    got = online_rows(store, "spend", [1, 2, 3, 4])
    for row in got[:3]:
        want = offline[row["user_id"]]
        assert set(row) == set(want)
        bad = {k: (row[k], want[k]) for k in row if not same(row[k], want[k])}
        assert not bad, bad
    assert got[0]["paid_at_max_2d"] == ts(D1, 3) - timedelta(minutes=5)
    assert (got[0]["merchant_last_2d"], got[0]["flagged_last_2d"]) == ("b", False)
    assert isinstance(got[0]["qty_sum_2d"], int) and isinstance(got[0]["amount_sum_2d"], float)
    unknown = got[3]  # never seen: empty-window values, typed
    assert unknown == {"user_id": 4, "count_1d": 0, "count_2d": 0, "amount_sum_2d": 0.0, "qty_sum_2d": 0,
                       "amount_avg_2d": None, "amount_min_2d": None, "paid_at_max_2d": None,
                       "merchant_count_distinct_2d": 0, "merchant_approx_count_distinct_2d": 0,
                       "merchant_last_2d": None, "flagged_last_2d": None, "amount_stddev_samp_2d": None}
    assert isinstance(unknown["amount_sum_2d"], float)
    # latest values: the newest row before S(D1); a null in it stays null; ttl 3d from the event time
    now = ts(D1 + timedelta(days=1), 1)
    profiles = online_rows(store, "profile", [1, 2, 4], now=now)
    assert profiles == [{"user_id": 1, "country": "DE", "limit": None},
                        {"user_id": 2, "country": None, "limit": None},  # its row is 10 days old: over ttl
                        {"user_id": 4, "country": None, "limit": None}]


def test_a_small_day_is_published_without_spark_byte_for_byte_as_spark_publishes_it(
        store: FeatureStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A day of at most publish.LOCAL_ROWS rows is read from the Delta table with pyarrow and written from this
    process (no Spark job); a larger one by Spark's tasks. Both write the same bytes to Redis."""
    import redis

    from pitstop.runtime import publish as publish_module
    from pitstop.stores import online

    through_spark = []
    spark_snapshot = publish_module.snapshot

    def snapshot(*args: Any, **kwargs: Any) -> Any:
        through_spark.append(args[2])
        return spark_snapshot(*args, **kwargs)

    monkeypatch.setattr(publish_module, "snapshot", snapshot)
    (spend,) = store.materialize("spend", D0, D1)
    assert spend.published.outcome == "switched" and spend.published.entities == 3
    assert through_spark == []  # written from this process
    client = redis.Redis.from_url(store.config.online_store_url)
    keys = online.ViewKeys.of(store.config.project, "spend", 1)
    first = online.current(client, keys)
    assert first is not None
    in_process = client.hgetall(keys.data(first.generation))
    assert len(in_process) == 3
    client.flushdb()  # nothing published: the same day again, now through Spark's tasks
    monkeypatch.setattr(publish_module, "LOCAL_ROWS", 2)  # the day has 3 rows: too many for this process now
    (again,) = store.publish("spend")
    assert through_spark == [D1]
    assert (again.outcome, again.entities, again.ds, again.delta_version) == (
        "switched", 3, spend.published.ds, spend.published.delta_version)
    second = online.current(client, keys)
    assert second is not None
    assert client.hgetall(keys.data(second.generation)) == in_process


def test_metadata_staleness_and_nothing_published(store: FeatureStore) -> None:
    plan = store.load_plan()
    response = get_online_features(Context(store.config, plan), ["spend:count_1d", "profile:country"], [{"user_id": 1}])
    assert response.to_dict() == {"user_id": [1], "count_1d": [None], "country": [None]}  # never 0
    assert response.metadata["spend"].stale and response.metadata["spend"].ds is None
    store.materialize("spend", D0, D0)
    fresh = get_online_features(Context(store.config, plan), ["spend:count_1d"], [{"user_id": 1}], now=ts(D1, 12))
    meta = fresh.metadata["spend"]
    assert (meta.ds, meta.snapshot_time, meta.stale) == (D0, ts(D1), False)
    assert fresh.to_dict() == {"user_id": [1], "count_1d": [1]}
    late = get_online_features(Context(store.config, plan), ["spend:count_1d"], [{"user_id": 1}],
                               now=ts(D1 + timedelta(days=1), 0) + timedelta(microseconds=1))
    assert late.metadata["spend"].stale  # S(D0) + ttl (1 day) passed: the next snapshot is overdue
    assert late.to_pandas().to_dict("list") == {"user_id": [1], "count_1d": [1]}
    full = store.get_online_features(["spend:count_1d"], [{"user_id": 1}], full_feature_names=True)
    assert list(full.to_dict()) == ["user_id", "spend__count_1d"]


def test_quiet_entities_decay_and_publish_ordering(store: FeatureStore, spark: Any) -> None:
    store.materialize("spend", D0, D0)
    assert online_rows(store, "spend", [2])[0]["count_1d"] == 1
    (day1,) = store.materialize("spend", D1, D1)
    assert day1.published.outcome == "switched"
    assert online_rows(store, "spend", [2])[0]["count_1d"] == 0  # quiet on D1: decays, as offline
    # a backfill of D0 never replaces the newer D1 online (no cascade: D1's snapshot keeps its version)
    (back,) = store.materialize("spend", D0, D0, cascade=False)
    assert back.published.outcome == "same" and back.published.published.ds == D1
    (older,) = store.publish("spend", D0)
    assert older.outcome == "newer"
    assert "not publishing ds 2026-03-01: a newer snapshot (ds 2026-03-02) is published" in older.describe()
    (again,) = store.publish("spend")
    assert again.outcome == "same" and "nothing changed" in again.describe()
    # corrected data for D1: a newer Delta version of the same ds replaces it
    write(store.repo / "data" / "events", [*EVENTS, event(2, ts(D1, 9))], event_schema())
    (fixed,) = store.materialize("spend", D1, D1)
    assert fixed.published.outcome == "switched" and fixed.published.delta_version > day1.published.delta_version
    assert online_rows(store, "spend", [2])[0]["count_1d"] == 1
    import redis

    client = redis.Redis.from_url(store.config.online_store_url)
    data_keys = sorted(k.decode() for k in client.keys("pitstop:{t:spend__v1}:g[0-9]*"))
    assert data_keys == [f"pitstop:{{t:spend__v1}}:g{fixed.published.generation}"]  # old generations removed
    assert client.ttl(data_keys[0]) == -1  # the current generation never expires
    # a switch retried after its reply was lost reports "switched" again; discarding the current one is refused
    from pitstop.stores import online

    keys = online.ViewKeys.of("t", "spend", 1)
    gen = fixed.published.generation
    assert online.switch(client, keys, gen, D1, fixed.published.delta_version, 3, "x")[0] == "switched"
    assert online.discard(client, keys, gen) is False and client.hlen(data_keys[0]) == 3
    # a dropped connection is retried with backoff: the reader's pooled connection is killed between reads
    before = store.get_online_features(["spend:count_1d"], [{"user_id": 2}]).to_dict()
    assert client.client_kill_filter(_type="normal", skipme=True) >= 1
    assert store.get_online_features(["spend:count_1d"], [{"user_id": 2}]).to_dict() == before


def test_bad_requests_are_clear_errors(store: FeatureStore, redis_url: str) -> None:
    with pytest.raises(UsageError, match=r"view 'spend' has no feature 'nope'; its features: count_1d, count_2d"):
        store.get_online_features(["spend:nope"], [{"user_id": 1}])
    with pytest.raises(UsageError, match=r"bad feature reference 'spend'"):
        store.get_online_features(["spend"], [{"user_id": 1}])
    with pytest.raises(UsageError, match=r"entity row 0: user_id='1' \(str\) must be an int"):
        store.get_online_features(["spend:count_1d"], [{"user_id": "1"}])
    with pytest.raises(UsageError, match=r"entity row 0 has no 'user_id'"):
        store.get_online_features(["spend:count_1d"], [{"uid": 1}])
    with pytest.raises(UsageError, match=r"51 entities in one request; the limit is 50"):
        store.get_online_features(["spend:count_1d"], [{"user_id": i} for i in range(51)])
    with pytest.raises(UsageError, match=r"view 'spend' has no materialized day to publish"):
        store.publish("spend")
    down = FeatureStore(store.repo, env={"PITSTOP_ONLINE_STORE_URL":
                                         f"redis://:s3cret@127.0.0.1:{local_redis.free_port()}/0"})
    with pytest.raises(ConnectionFailed) as err:
        down.get_online_features(["spend:count_1d"], [{"user_id": 1}])
    assert "s3cret" not in str(err.value) and err.value.transient


FLAT = """
from pitstop import Aggregation, BatchSource, Entity, FeatureView
user = Entity("user", join_keys=["user_id"])
events = BatchSource("events", path="data/events", readiness="none")
flat = FeatureView("flat", entities=[user], source=events, aggregations=[Aggregation("count", windows=["1d"])])
"""


@pytest.mark.slow
def test_atomic_switch_under_a_concurrent_reader_and_a_killed_publisher(tmp_path: Path, spark: Any,
                                                                        redis_url: str) -> None:
    """Every user has 1 event on D0 and 2 on D1: a read is from one snapshot iff all its values equal the
    count of the ds its metadata names. A publish is SIGKILLed halfway, then rerun, while a reader checks."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import threading
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq
    import redis

    users = 150_000
    repo = tmp_path / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text(
        f"project: t\noffline_store:\n  path: {tmp_path / 'delta'}\nonline_store:\n  url: {redis_url}\n"
        f"spark:\n  master: local[2]\n  conf:\n    spark.ui.enabled: 'false'\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(FLAT))
    ids = pa.array(range(1, users + 1), pa.int64())
    (repo / "data" / "events").mkdir(parents=True)
    for day, copies in ((D0, 1), (D1, 2)):
        table = pa.table({"user_id": pa.concat_arrays([ids] * copies),
                          "event_timestamp": pa.array([ts(day, 6)] * (users * copies), pa.timestamp("us", tz="UTC"))})
        pq.write_table(table, repo / "data" / "events" / f"{day}.parquet")
    store = FeatureStore(repo, env={})
    registry.apply(store.config)
    store.use_spark(spark)
    store.materialize("flat", D0, D0)
    store.materialize("flat", D1, D1, publish=False)

    plan = store.load_plan()
    mixed: list[str] = []
    reads = {D0: 0, D1: 0}
    stop = threading.Event()

    def reader() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            rows = [{"user_id": rng.randint(1, users)} for _ in range(100)]
            response = get_online_features(Context(store.config, plan), ["flat:count_1d"], rows)
            ds = response.metadata["flat"].ds
            values = set(response.to_dict()["count_1d"])
            if ds is None or values != {1 if ds == D0 else 2}:
                mixed.append(f"ds {ds}: values {sorted(values)}")
            else:
                reads[ds] += 1

    client = redis.Redis.from_url(redis_url)
    generation = int(client.get("pitstop:{t:flat__v1}:seq")) + 1
    data_key = f"pitstop:{{t:flat__v1}}:g{generation}"
    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    publisher = subprocess.Popen([sys.executable, "-m", "pitstop.cli", "--repo", str(repo), "publish", "flat"],
                                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while client.hlen(data_key) == 0 and publisher.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    os.killpg(publisher.pid, signal.SIGKILL)  # the publisher and its Spark JVM and Python workers
    publisher.wait()
    written = client.hlen(data_key)
    assert 0 < written < users, f"the kill did not land mid-publish ({written} of {users} written)"
    time.sleep(0.5)
    assert store.get_online_features(["flat:count_1d"], [{"user_id": 1}]).metadata["flat"].ds == D0
    assert 0 < client.ttl(data_key) <= 24 * 3600  # the dead publish's data is garbage that expires

    (rerun,) = store.publish("flat")  # a rerun completes, the reader still running
    assert rerun.outcome == "switched" and rerun.entities == users
    time.sleep(0.5)
    stop.set()
    thread.join(timeout=30)
    assert not mixed, mixed[:5]
    assert reads[D0] > 0 and reads[D1] > 0
    assert client.exists(data_key) == 0  # the killed publish's generation was collected


def test_apply_prune_removes_the_online_keys_of_retired_views(store: FeatureStore,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import redis

    from pitstop.cli import main

    store.materialize(["spend", "profile"], D0, D0)
    client = redis.Redis.from_url(store.config.online_store_url)
    assert client.exists("pitstop:{t:profile__v1}:current") == 1
    defs = store.repo / "feature_defs" / "defs.py"
    defs.write_text(defs.read_text().split("from datetime import timedelta")[0])  # the profile view is gone
    capsys.readouterr()
    assert main(["--repo", str(store.repo), "apply", "--prune"]) == 0
    assert "removed 4 online key(s) of retired profile__v1" in capsys.readouterr().out
    assert client.keys("pitstop:{t:profile__v1}:*") == []
    assert client.exists("pitstop:{t:spend__v1}:current") == 1  # the views still defined keep theirs


@pytest.mark.slow
def test_http_server(store: FeatureStore) -> None:
    """`pitstop serve` as a real process: features, bad requests, health and metrics over HTTP."""
    import subprocess
    import sys
    import time

    import httpx

    store.materialize("spend", D0, D1)
    port = local_redis.free_port()
    server = subprocess.Popen([sys.executable, "-m", "pitstop.cli", "--repo", str(store.repo), "serve",
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read() if \
                    server.stderr and server.poll() is not None else "server did not start"
                time.sleep(0.2)
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok" and body["views"]["spend"]["ds"] == str(D1)
        assert body["views"]["profile"]["ds"] is None and body["stale_views"] == ["profile", "spend"]
        ok = httpx.post(f"{base}/get-online-features", json={
            "features": ["spend:count_2d", "spend:merchant_last_2d"], "entities": {"user_id": [1, 9]}})
        assert ok.status_code == 200
        assert ok.json()["features"] == {"user_id": [1, 9], "count_2d": [3, 0], "merchant_last_2d": ["b", None]}
        assert ok.json()["metadata"]["spend"]["snapshot_time"] == "2026-03-03T00:00:00+00:00"
        rows = httpx.post(f"{base}/get-online-features", json={
            "features": ["spend:count_2d"], "entity_rows": [{"user_id": 2}], "full_feature_names": True})
        assert rows.json()["features"] == {"user_id": [2], "spend__count_2d": [1]}
        bad = httpx.post(f"{base}/get-online-features", json={"features": ["spend:nope"],
                                                               "entities": {"user_id": [1]}})
        assert bad.status_code == 400 and "view 'spend' has no feature 'nope'" in bad.json()["error"]
        assert httpx.post(f"{base}/get-online-features", content=b"{not json").status_code == 400
        too_many = httpx.post(f"{base}/get-online-features", json={"features": ["spend:count_2d"],
                                                                   "entities": {"user_id": list(range(51))}})
        assert too_many.status_code == 400 and "the limit is 50" in too_many.json()["error"]
        assert httpx.get(f"{base}/nope").status_code == 404
        metrics = httpx.get(f"{base}/metrics").text
        assert 'pitstop_requests_total{path="/get-online-features",status="200"} 2' in metrics
        assert 'pitstop_requests_total{path="/get-online-features",status="400"} 3' in metrics
        assert 'pitstop_request_seconds_bucket{le="+Inf"} 5' in metrics
        assert "pitstop_redis_errors_total 0" in metrics
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_consistency_finds_an_injected_mismatch(store: FeatureStore, capsys: pytest.CaptureFixture[str]) -> None:
    import msgpack
    import redis

    from pitstop.cli import main

    store.materialize("spend", D0, D1)
    store.materialize("profile", D0 - timedelta(days=9), D1)
    repo = str(store.repo)
    capsys.readouterr()
    assert main(["--repo", repo, "consistency", "spend", "--sample", "10"]) == 0
    out = capsys.readouterr().out
    assert "spend: 3 entities compared between Redis and the Delta snapshot of ds 2026-03-02" in out
    assert "every value agrees" in out
    assert main(["--repo", repo, "consistency", "profile", "--sample", "10"]) == 0  # ttl applied on both sides
    client = redis.Redis.from_url(store.config.online_store_url)
    gen = client.hget("pitstop:{t:spend__v1}:current", "gen").decode()
    data = f"pitstop:{{t:spend__v1}}:g{gen}"
    values = msgpack.unpackb(client.hget(data, "1:3"))
    values[0] += 5  # user 3's count_1d, changed behind pitstop's back
    client.hset(data, "1:3", msgpack.packb(values))
    client.hset(data, "2:77", msgpack.packb(values))  # a key Delta does not have
    capsys.readouterr()
    assert main(["--repo", repo, "consistency", "spend", "--sample", "10"]) == 2
    out = capsys.readouterr().out
    assert "MISMATCHES FOUND" in out
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:] if "mismatch(es)" in line}
    assert lines["count_1d"] == "2" and lines["count_2d"] == "1"  # user 3 (changed) and user 77 (unknown offline)
    assert "{'user_id': 3} count_1d: Redis 6, Delta 1" in out


@pytest.fixture
def cluster(tmp_path: Path) -> Any:
    node_set = local_redis.start_redis_cluster(tmp_path / "cluster", nodes=3)
    yield node_set
    node_set.stop()


def test_redis_cluster_publish_reads_one_trip_per_node_and_prune(tmp_path: Path, spark: Any, cluster: Any,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The same store on a 3-primary Redis Cluster: each view version's keys live on the node of its hash
    tag (spend and profile land on different nodes), writers send to that node, reads group by node."""
    import redis
    from redis.cluster import RedisCluster

    from pitstop.cli import main

    store = make_store(tmp_path, spark, cluster.url)
    repo = store.repo
    store.materialize("spend", D0, D1)
    store.materialize("profile", D0 - timedelta(days=9), D1)
    nodes = [redis.Redis(port=n.port) for n in cluster.nodes]
    holders = {name: [i for i, c in enumerate(nodes) if c.keys(f"pitstop:{{t:{name}__v1}}:current")]
               for name in ("spend", "profile")}
    assert len(holders["spend"]) == 1 and len(holders["profile"]) == 1 and holders["spend"] != holders["profile"]
    spend_node = nodes[holders["spend"][0]]
    gen = spend_node.hget("pitstop:{t:spend__v1}:current", "gen").decode()
    assert spend_node.hlen(f"pitstop:{{t:spend__v1}}:g{gen}") == 3  # the generation is on its pointer's node
    for c in nodes:
        c.script_flush()  # reads must load the script again on every node
    now = ts(D1 + timedelta(days=1), 1)
    response = get_online_features(store.context(),
                                   ["spend:count_2d", "spend:merchant_last_2d", "profile:country"],
                                   [{"user_id": 1}, {"user_id": 2}, {"user_id": 4}], now=now)
    assert response.to_dict() == {"user_id": [1, 2, 4], "count_2d": [3, 1, 0], "merchant_last_2d": ["b", "z", None],
                                  "country": ["DE", None, None]}
    assert response.metadata["spend"].ds == D1 and response.metadata["profile"].ds == D1
    offline = offline_rows(store, "spend", D1)
    for row in online_rows(store, "spend", [1, 2, 3], now=now):
        assert all(same(v, offline[row["user_id"]][k]) for k, v in row.items()), row
    capsys.readouterr()
    assert main(["--repo", str(repo), "consistency", "spend", "--sample", "10"]) == 0
    assert "every value agrees" in capsys.readouterr().out
    # a removed view's keys are found and unlinked on whichever node holds them
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS).split("from datetime import")[0])
    assert main(["--repo", str(repo), "apply", "--prune"]) == 0
    assert not any(c.keys("pitstop:{t:profile__v1}:*") for c in nodes)
    client = RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)
    assert sorted(k.decode() for k in client.scan_iter(match="pitstop:*")) == [
        "pitstop:{t:spend__v1}:current", f"pitstop:{{t:spend__v1}}:g{gen}", "pitstop:{t:spend__v1}:gens",
        "pitstop:{t:spend__v1}:seq"]



def _unquote(text: str) -> bytes:
    """redis-cli's quoted form of a binary string (\\xHH, \\n, \\r, \\t, \\a, \\b, \\\\, \\") back to bytes."""
    import re

    simple = {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b", "\\": b"\\", '"': b'"'}
    out = bytearray()
    for match in re.finditer(r'\\x([0-9a-fA-F]{2})|\\(.)|([^\\]+)', text, re.DOTALL):
        hexa, escaped, plain = match.groups()
        out += bytes([int(hexa, 16)]) if hexa else simple[escaped] if escaped else plain.encode("latin-1")
    return bytes(out)


def _shell(command: str) -> str:
    import subprocess

    return subprocess.run(command, shell=True, check=True, capture_output=True, text=True).stdout


def test_the_printed_lua_script_reads_from_raw_redis_cli_what_get_online_features_returns(
        store: FeatureStore, redis_url: str) -> None:
    """An outside reader's atomic read: `redis-cli EVAL "$(pitstop online-script)" 1 <current key> <generation
    prefix> <entity fields...>` with the keys from `pitstop online-script --layout VIEW`, decoded with the
    rules the README gives (a msgpack list in layout order; nil = the empty-window values; timestamps as epoch
    microseconds; a latest row older than the ttl reads as nulls), equals get_online_features."""
    import json
    import shlex
    import sys

    import msgpack

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    store.materialize("spend", D0, D1)
    store.materialize("profile", D0 - timedelta(days=9), D1)
    pitstop = shlex.quote(str(Path(sys.executable).with_name("pitstop")))
    repo = shlex.quote(str(store.config.repo))
    users = [1, 2, 3, 4]
    fields = [f"{len(str(u))}:{u}" for u in users]  # each join key value's text with its length before it
    replies: dict[str, list[Any]] = {}
    for view in ("spend", "profile"):
        layout = json.loads(_shell(f"{pitstop} --repo {repo} online-script --layout {view}"))
        assert (layout["keys"], layout["args"]) == ([f"pitstop:{{t:{view}__v1}}:current"],
                                                    [f"pitstop:{{t:{view}__v1}}:g"])
        assert layout["join_keys"] == [{"name": "user_id", "dtype": "int64"}]
        reply = json.loads(_shell(
            f'redis-cli -u {shlex.quote(redis_url)} --quoted-json EVAL "$({pitstop} online-script)" 1 '
            f"{shlex.quote(layout['keys'][0])} {shlex.quote(layout['args'][0])} {' '.join(fields)}"))
        gen, ds, delta_version, schema, *packed = reply
        replies[view] = packed
        now = ts(D1 + timedelta(days=1), 1)  # within profile's 3-day ttl of user 1's newest row
        response = get_online_features(store.context(), names(store, view),
                                       [{"user_id": u} for u in users], now=now)
        meta = response.metadata[view]
        assert (int(gen), ds, int(delta_version), schema) == (meta.generation, D1.isoformat(), meta.delta_version,
                                                              layout["schema"])
        decoded: list[dict[str, Any]] = []
        for user, raw in zip(users, packed, strict=True):
            values = [v["empty_value"] for v in layout["values"]] if raw is None else msgpack.unpackb(_unquote(raw))
            if layout["kind"] == "latest" and raw is not None and layout["ttl_seconds"] is not None and \
                    (now - (epoch + timedelta(microseconds=values[0]))).total_seconds() > layout["ttl_seconds"]:
                values = [None] * len(values)
            row: dict[str, Any] = {"user_id": user}
            for spec, value in zip(layout["values"], values, strict=True):
                is_time = spec["dtype"] == "timestamp" and value is not None
                row[spec["name"]] = epoch + timedelta(microseconds=value) if is_time else value
            if layout["kind"] == "latest":
                del row["event_timestamp"]  # a latest-value view's first value: its row's own event time
            decoded.append(row)
        assert decoded == response.to_list(), view
    # the raw values, exactly: user 2 of spend, user 1 of profile (its newest row), nothing for user 4
    paid_at = int((ts(D0, 4) - timedelta(minutes=5) - epoch).total_seconds()) * 1_000_000
    assert msgpack.unpackb(_unquote(replies["spend"][1])) == [0, 1, 10.0, 7, 10.0, 10.0, paid_at, 1, 1, "z", True,
                                                              None]
    assert msgpack.unpackb(_unquote(replies["profile"][0])) == [
        int((ts(D1, 6) - epoch).total_seconds()) * 1_000_000, "DE", None]
    assert replies["spend"][3] is None and replies["profile"][3] is None
