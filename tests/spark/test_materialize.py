"""The aggregation engine on tiny hand-made cases: real Spark, real Delta (docs/semantics.md, exactly)."""

from __future__ import annotations

import math
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pitstop import FeatureStore
from pitstop.errors import JobFailed, SourceError, UsageError
from pitstop.runtime import registry

pytestmark = pytest.mark.spark

D1 = date(2026, 3, 1)


def ts(day: date, *, hours: int = 0, micros: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hours, microseconds=micros)


def S(day: date) -> datetime:  # the design's name for the snapshot instant
    return ts(day + timedelta(days=1))


def write_source(folder: Path, rows: list[dict[str, Any]], schema: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table({name: pa.array([r.get(name) for r in rows], type=t) for name, t in schema.items()})
    pq.write_table(table, folder / "part-00000.parquet")


def events_schema() -> dict[str, Any]:
    import pyarrow as pa

    return {"user_id": pa.int64(), "merchant": pa.string(), "amount": pa.float64(), "qty": pa.int64(),
            "event_timestamp": pa.timestamp("us", tz="UTC")}


VIEW = """
from pitstop import Aggregation, BatchSource, Entity, FeatureView
user = Entity("user", join_keys=["user_id"])
events = BatchSource("events", path="data/events", readiness="none")
spend = FeatureView("spend", entities=[user], source=events, lateness={lateness}, online=False,
                    aggregations=[{aggs}])
"""
ALL_AGGS = """
    Aggregation("count", windows=["1d", "3d"]),
    Aggregation("count", column="amount", windows=["3d"]),
    Aggregation("sum", column="amount", windows=["1d", "3d"]),
    Aggregation("sum", column="qty", windows=["3d"]),
    Aggregation("avg", column="amount", windows=["3d"]),
    Aggregation("min", column="amount", windows=["3d"]),
    Aggregation("max", column="qty", windows=["3d"]),
    Aggregation("count_distinct", column="merchant", windows=["3d"]),
    Aggregation("approx_count_distinct", column="merchant", windows=["3d"]),
    Aggregation("last", column="merchant", windows=["3d"]),
    Aggregation("stddev_samp", column="amount", windows=["3d"]),
    Aggregation("var_samp", column="amount", windows=["3d"]),
"""


@pytest.fixture
def store_for(tmp_path: Path, spark: Any):  # type: ignore[no-untyped-def]
    made = []

    def make(rows: list[dict[str, Any]], aggs: str = ALL_AGGS, lateness: int = 0,
             schema: dict[str, Any] | None = None) -> FeatureStore:
        made.append(1)
        repo, offline = tmp_path / f"repo{len(made)}", tmp_path / f"delta{len(made)}"
        (repo / "feature_defs").mkdir(parents=True)
        (repo / "pitstop.yaml").write_text(f"project: t\noffline_store:\n  path: {offline}\n")
        (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(VIEW.format(aggs=aggs, lateness=lateness)))
        write_source(repo / "data" / "events", rows, schema or events_schema())
        store = FeatureStore(repo, env={})
        registry.apply(store.config)
        store.use_spark(spark)
        return store
    return make


def snap(store: FeatureStore, ds: date, view: str = "spend") -> dict[Any, dict[str, Any]]:
    return {r["user_id"]: r.asDict() for r in store.snapshot(view, ds).collect()}


def row(user: int, when: datetime, merchant: str | None = "m1", amount: float | None = 1.0,
        qty: int | None = 1) -> dict[str, Any]:
    return {"user_id": user, "merchant": merchant, "amount": amount, "qty": qty, "event_timestamp": when}


def test_every_function_and_window_on_a_hand_made_case(store_for) -> None:
    d0, d1, d2 = D1, D1 + timedelta(days=1), D1 + timedelta(days=2)
    store = store_for([
        row(1, ts(d0, hours=1), "a", 1.0, 1),
        row(1, ts(d1, hours=2), "b", 3.0, 5),
        row(1, ts(d2, hours=3), "b", None, 2),    # null amount: counted by count(), not by count(amount)
        row(1, ts(d2, hours=4), "c", float("nan"), 4),  # NaN is null
        row(2, ts(d0, hours=5), "z", 10.0, 7),
    ])
    store.materialize("spend", d2, d2)
    got = snap(store, d2)
    u1 = got[1]
    assert u1["feature_timestamp"].replace(tzinfo=UTC) == S(d2)
    assert (u1["count_1d"], u1["count_3d"], u1["amount_count_3d"]) == (2, 4, 2)
    assert (u1["amount_sum_1d"], u1["amount_sum_3d"], u1["qty_sum_3d"]) == (0.0, 4.0, 12)
    assert isinstance(u1["qty_sum_3d"], int)
    assert u1["amount_avg_3d"] == 2.0
    assert (u1["amount_min_3d"], u1["qty_max_3d"]) == (1.0, 5)
    assert (u1["merchant_count_distinct_3d"], u1["merchant_approx_count_distinct_3d"]) == (3, 3)
    assert u1["merchant_last_3d"] == "c"
    assert u1["amount_var_samp_3d"] == pytest.approx(2.0)
    assert u1["amount_stddev_samp_3d"] == pytest.approx(math.sqrt(2.0))
    u2 = got[2]  # only a day-0 event: in the 3d window, empty 1d window
    assert (u2["count_1d"], u2["amount_sum_1d"], u2["count_3d"], u2["amount_avg_3d"]) == (0, 0.0, 1, 10.0)
    assert u2["amount_var_samp_3d"] is None and u2["amount_stddev_samp_3d"] is None  # one value: null
    assert set(got) == {1, 2}


def test_boundaries_to_the_microsecond(store_for) -> None:
    d0, d1 = D1, D1 + timedelta(days=1)
    store = store_for([
        row(1, S(d0) - timedelta(microseconds=1)),  # last microsecond of d0: belongs to d0
        row(2, S(d0)),                               # exactly S(d0): belongs to d1
    ], aggs='Aggregation("count", windows=["1d"])')
    store.materialize("spend", d0, d1)
    assert {k: v["count_1d"] for k, v in snap(store, d0).items()} == {1: 1}
    assert {k: v["count_1d"] for k, v in snap(store, d1).items()} == {2: 1}


def test_quiet_entity_decays_and_empty_days_count(store_for) -> None:
    store = store_for([row(1, ts(D1, hours=1)), row(2, ts(D1 + timedelta(days=1)))],
                      aggs='Aggregation("count", windows=["1d", "3d"])')
    end = D1 + timedelta(days=5)
    store.materialize("spend", D1, end)
    assert store.materialized_days("spend") == [D1 + timedelta(days=i) for i in range(6)]
    assert snap(store, D1 + timedelta(days=2))[1] == {
        "user_id": 1, "feature_timestamp": snap(store, D1 + timedelta(days=2))[1]["feature_timestamp"],
        "count_1d": 0, "count_3d": 1}
    assert set(snap(store, D1 + timedelta(days=3))) == {2}  # user 1 left every window: no row, i.e. 0
    assert snap(store, end) == {}  # an empty day is still materialized


def test_lifetime_includes_history_before_start(store_for) -> None:
    old = D1 - timedelta(days=40)
    store = store_for([row(1, ts(old)), row(1, ts(D1)), row(3, ts(old + timedelta(days=1)))],
                      aggs='Aggregation("count", windows=["1d", None])')
    store.materialize("spend", D1, D1)
    got = snap(store, D1)
    assert {k: (v["count_1d"], v["count_lifetime"]) for k, v in got.items()} == {1: (1, 2), 3: (0, 1)}
    store.materialize("spend", D1 + timedelta(days=1), D1 + timedelta(days=1))  # next day: running on
    got = snap(store, D1 + timedelta(days=1))
    assert {k: (v["count_1d"], v["count_lifetime"]) for k, v in got.items()} == {1: (0, 2), 3: (0, 1)}


def test_composite_keys_do_not_collide(tmp_path: Path, spark: Any) -> None:
    import pyarrow as pa

    repo = tmp_path / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text(f"project: t\noffline_store:\n  path: {tmp_path / 'delta'}\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent("""
        from pitstop import Aggregation, BatchSource, Entity, FeatureView
        acct = Entity("acct", join_keys=["a", "b"])
        src = BatchSource("src", path="data/src", readiness="none")
        v = FeatureView("v", entities=[acct], source=src, online=False,
                        aggregations=[Aggregation("count", windows=["1d"])])
    """))
    write_source(repo / "data" / "src", [
        {"a": 1, "b": "12", "event_timestamp": ts(D1)},
        {"a": 11, "b": "2", "event_timestamp": ts(D1)},
        {"a": 11, "b": "2", "event_timestamp": ts(D1, hours=1)},
        {"a": None, "b": "2", "event_timestamp": ts(D1)},       # null key: excluded and counted
        {"a": 1, "b": "12", "event_timestamp": None},            # null timestamp: excluded and counted
    ], {"a": pa.int64(), "b": pa.string(), "event_timestamp": pa.timestamp("us", tz="UTC")})
    store = FeatureStore(repo, env={})
    registry.apply(store.config)
    store.use_spark(spark)
    (summary,) = store.materialize("v", D1, D1)
    assert summary.invalid_rows == 2
    assert "2 source row(s) with a null join key or event timestamp were excluded" in summary.describe()
    # where the run's time went, in order; the session was up already (use_spark)
    assert list(summary.phases) == ["Spark start-up", "source", "table versions", "compute and write", "validation",
                                    "log"]
    assert summary.phases["Spark start-up"] < 0.1 and sum(summary.phases.values()) <= summary.seconds
    assert "\n  time: Spark start-up 0.0s, source " in summary.describe()
    got = {(r["a"], r["b"]): r["count_1d"] for r in store.snapshot("v", D1).collect()}
    assert got == {(1, "12"): 1, (11, "2"): 2}


def test_duplicates_are_events_and_naive_timestamps_are_utc(store_for) -> None:
    import pyarrow as pa

    naive = {**events_schema(), "event_timestamp": pa.timestamp("us")}
    when = datetime(2026, 3, 1, 23, 59, 59, 999999)  # naive: UTC, so still D1
    store = store_for([row(1, when), row(1, when)], aggs='Aggregation("count", windows=["1d"])', schema=naive)
    store.materialize("spend", D1, D1)
    assert snap(store, D1)[1]["count_1d"] == 2


def test_rerun_is_identical_and_time_travel_returns_the_old_state(store_for, spark: Any) -> None:
    store = store_for([row(1, ts(D1)), row(2, ts(D1, hours=3), amount=2.5)])
    store.materialize("spend", D1, D1)
    first = sorted(tuple(r) for r in store.snapshot("spend", D1).collect())
    store.materialize("spend", D1, D1)
    assert sorted(tuple(r) for r in store.snapshot("spend", D1).collect()) == first
    # a correction in the source, rerun: the latest state changes, time travel still has the old one
    write_source(store.repo / "data" / "events", [row(1, ts(D1)), row(1, ts(D1, hours=1))], events_schema())
    store.materialize("spend", D1, D1)
    assert snap(store, D1)[1]["count_1d"] == 2 and 2 not in snap(store, D1)
    commits = store.history("spend")
    assert [c["operation"] for c in commits][-1] == "CREATE TABLE"
    assert all(c["ds_start"] == c["ds_end"] == str(D1) for c in commits[:-1])
    path = str(Path(store.config.offline_store_path) / "snapshots" / "spend__v1")
    previous = spark.read.format("delta").option("versionAsOf", commits[1]["version"]).load(path)
    assert sorted(tuple(r) for r in previous.drop("ds").select(*store.snapshot("spend", D1).columns).collect()) \
        == first
    props = spark.sql(f"SHOW TBLPROPERTIES delta.`{path}`").collect()
    assert {r["key"]: r["value"] for r in props}["pitstop.view_version"] == "1"


def test_backfill_in_one_run_equals_daily_runs(store_for, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from pitstop.runtime import materialize

    monkeypatch.setattr(materialize, "CHUNK_DAYS", 3)  # 10 days: 4 chunks, staged, published in one commit
    rows = [row(u, ts(D1 + timedelta(days=d), hours=u), f"m{(u + d) % 3}", float(u * d), d)
            for d in range(12) for u in range(1, 6) if (u + d) % 4]
    one = store_for(rows)
    one.materialize("spend", D1 + timedelta(days=2), D1 + timedelta(days=11))
    progress = [line for line in capsys.readouterr().err.splitlines() if ": chunk " in line]
    assert [line.split(" done;")[0] for line in progress] == [
        "spend: chunk 1/4 (2026-03-03..2026-03-05)", "spend: chunk 2/4 (2026-03-06..2026-03-08)",
        "spend: chunk 3/4 (2026-03-09..2026-03-11)", "spend: chunk 4/4 (2026-03-12..2026-03-12)"]
    assert all("rows/s, ETA" in line for line in progress)
    assert [c["operation"] for c in one.history("spend")] == ["WRITE", "CREATE TABLE"]  # one commit
    assert not (Path(one.config.offline_store_path) / "_staging").exists() or \
        not any((Path(one.config.offline_store_path) / "_staging").iterdir())
    # the staged days were copied as they were staged, one file per day (no second shuffle)
    files = one.spark.read.format("delta").load(str(Path(one.config.offline_store_path) / "snapshots" /
                                                     "spend__v1")).inputFiles()
    assert len(files) == 10 and len({f.split("/ds=")[1].split("/")[0] for f in files}) == 10
    backfilled = {d: snap(one, D1 + timedelta(days=d)) for d in range(2, 12)}
    other_root = tmp_path / "daily"
    daily = FeatureStore(one.repo, env={"PITSTOP_OFFLINE_STORE_PATH": str(other_root)})
    daily.use_spark(one.spark)
    for d in range(2, 12):
        day = D1 + timedelta(days=d)
        daily.materialize("spend", day, day)
    for d in range(2, 12):
        assert snap(daily, D1 + timedelta(days=d)) == backfilled[d], d


def test_late_data_with_and_without_lateness_and_cascade(store_for) -> None:
    d0, d1, d2 = D1, D1 + timedelta(days=1), D1 + timedelta(days=2)
    for lateness, expected_d1 in ((0, 1), (1, 2)):
        store = store_for([row(1, ts(d0))], aggs='Aggregation("count", windows=["3d"])', lateness=lateness)
        store.materialize("spend", d0, d0)
        # an event for d0 arrives late, after d0 was materialized
        write_source(store.repo / "data" / "events", [row(1, ts(d0)), row(1, ts(d0, hours=5))], events_schema())
        store.materialize("spend", d1, d1)
        assert snap(store, d0)[1]["count_3d"] == 1  # the past keeps what was known then
        assert snap(store, d1)[1]["count_3d"] == expected_d1
    # an explicit backfill of d0 recomputes d0 and cascades to the later materialized d1 (and not d2)
    store.materialize("spend", d0, d0)
    assert snap(store, d0)[1]["count_3d"] == 2
    assert snap(store, d1)[1]["count_3d"] == 2
    assert store.materialized_days("spend") == [d0, d1]
    (summary,) = store.materialize("spend", d0, d0, cascade=False)
    assert summary.skipped_cascade == [d1] and summary.cascaded == []
    assert f"NOT recomputed: {d1}" in summary.describe()
    assert d2 not in store.materialized_days("spend")


def test_bad_input_is_refused_before_any_write(store_for) -> None:
    store = store_for([row(1, ts(D1))])
    with pytest.raises(UsageError, match=r"--start 2026-03-02 is after --end 2026-03-01"):
        store.materialize("spend", D1 + timedelta(days=1), D1)
    with pytest.raises(UsageError, match=r"no materialized snapshot for 2026-03-01; materialized days: none"):
        store.snapshot("spend", D1)
    import pyarrow as pa

    changed = {**events_schema(), "amount": pa.string()}
    write_source(store.repo / "data" / "events", [row(1, ts(D1), amount="x")], changed)  # type: ignore[arg-type]
    with pytest.raises(SourceError) as err:
        store.materialize("spend", D1, D1)
    assert "no longer matches its definition: column 'amount' is string, the plan says float64" in str(err.value)
    import shutil

    shutil.rmtree(store.repo / "data" / "events")
    with pytest.raises(SourceError, match=r"source 'events' has no data at .*data/events"):
        store.materialize("spend", D1, D1)
    assert not (Path(store.config.offline_store_path) / "snapshots").exists()


def test_bad_filter_is_a_clear_error_before_any_write(store_for) -> None:
    store = store_for([row(1, ts(D1)), row(1, ts(D1, hours=1), amount=0.0)],
                      aggs='Aggregation("count", windows=["1d"])')
    plan = store.load_plan().to_json()
    plan["views"]["spend"]["filter"] = "amout > 0"  # as if feature_defs said filter="amout > 0"
    store.config.plan_path.write_text(__import__("json").dumps(plan))
    with pytest.raises(SourceError) as err:
        store.materialize("spend", D1, D1)
    message = str(err.value)
    assert message.startswith("view 'spend': its filter 'amout > 0' is not a valid Spark SQL predicate on source "
                              "'events': ")
    assert "Fix filter= in feature_defs (columns: user_id, merchant, amount, qty, event_timestamp)" in message
    assert not (Path(store.config.offline_store_path) / "snapshots").exists()
    plan["views"]["spend"]["filter"] = "amount > 0"
    store.config.plan_path.write_text(__import__("json").dumps(plan))
    store.materialize("spend", D1, D1)  # a valid filter: rows with amount <= 0 are not events
    assert snap(store, D1)[1]["count_1d"] == 1


LIFETIME_AGGS = """
    Aggregation("count", windows=["1d", None]),
    Aggregation("count_distinct", column="merchant", windows=[None]),
    Aggregation("last", column="merchant", windows=[None]),
"""


def lifetime_values(store: FeatureStore, ds: date) -> dict[int, tuple[int, int, str]]:
    return {k: (v["count_lifetime"], v["merchant_count_distinct_lifetime"], v["merchant_last_lifetime"])
            for k, v in snap(store, ds).items()}


def test_lifetime_running_total_is_reused_and_never_stale(store_for, monkeypatch: pytest.MonkeyPatch) -> None:
    from pitstop.runtime import materialize

    d0, d1, d2, d3 = (D1 + timedelta(days=i) for i in range(4))
    rows = [row(1, ts(d0 - timedelta(days=10)), "a"), row(1, ts(d0), "b"), row(3, ts(d0 - timedelta(days=5)), "z"),
            row(1, ts(d1), "a")]
    store = store_for(rows, aggs=LIFETIME_AGGS)
    (first,) = store.materialize("spend", d0, d1)
    assert first.running_total_from is None
    assert "running total merged from all earlier tiles" in first.describe()
    (second,) = store.materialize("spend", d2, d2)
    assert second.running_total_from == d1  # saved by the first run, not re-merged from the tiles
    assert f"saved running total through {d1} reused" in second.describe()
    assert lifetime_values(store, d2) == {1: (3, 2, "a"), 3: (1, 1, "z")}
    # an event for d0 arrives late; its backfill (without cascade) dies after the tiles commit, before the
    # running total is saved, and with no chance to restore anything (as if the machine went down)
    write_source(store.repo / "data" / "events", [*rows, row(3, ts(d0, hours=2), "y")], events_schema())
    real_replace = materialize.delta.replace

    def dies_at_the_state(df: Any, path: str, *args: Any, **kwargs: Any) -> None:
        if "/state/" in path:
            raise KeyboardInterrupt
        real_replace(df, path, *args, **kwargs)
    monkeypatch.setattr(materialize.delta, "replace", dies_at_the_state)
    monkeypatch.setattr(materialize, "_restore_all", lambda spark, before: [])
    with pytest.raises(KeyboardInterrupt):
        store.materialize("spend", d0, d0, cascade=False)
    monkeypatch.undo()
    # the saved total (through d1) predates the rewritten d0 tiles: the next run must not use it
    (third,) = store.materialize("spend", d3, d3)
    assert third.running_total_from is None
    assert lifetime_values(store, d3) == {1: (3, 2, "a"), 3: (2, 2, "y")}
    (fourth,) = store.materialize("spend", d3 + timedelta(days=1), d3 + timedelta(days=1))
    assert fourth.running_total_from == d3
    assert lifetime_values(store, d3 + timedelta(days=1)) == {1: (3, 2, "a"), 3: (2, 2, "y")}


def table_rows(spark: Any, path: Path) -> list[tuple[Any, ...]]:
    return sorted((tuple(r) for r in spark.read.format("delta").load(str(path)).collect()), key=repr)


def test_a_failed_run_leaves_every_table_as_it_was(store_for, spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyspark.sql import functions as F

    from pitstop.compute import aggregates

    d0, d1 = D1, D1 + timedelta(days=1)
    store = store_for([row(1, ts(d0)), row(2, ts(d1))], aggs='Aggregation("count", windows=["1d", None])')
    store.materialize("spend", d0, d0)
    root = Path(store.config.offline_store_path)
    tables = [root / kind / "spend__v1" for kind in ("tiles", "snapshots", "state", "log")]
    before = [table_rows(spark, t) for t in tables]
    real = aggregates.compute_snapshots

    def fails_mid_write(*args: Any, **kwargs: Any) -> Any:  # a task dies while the snapshot is written
        return real(*args, **kwargs).withColumn(
            "count_1d", F.expr("CASE WHEN user_id = 2 THEN raise_error('injected failure') ELSE count_1d END"))
    monkeypatch.setattr(aggregates, "compute_snapshots", fails_mid_write)
    with pytest.raises(JobFailed) as err:
        store.materialize("spend", d1, d1)
    message = str(err.value)
    assert message.startswith(f"materializing spend {d1}..{d1} failed in Spark: ")
    assert "injected failure" in message
    assert "every table was restored to its state before the run; fix the cause" in message
    assert err.value.transient
    assert [table_rows(spark, t) for t in tables] == before  # the d1 tiles committed first were given back
    assert store.materialized_days("spend") == [d0]
    monkeypatch.undo()
    store.materialize("spend", d1, d1)  # a rerun succeeds
    assert {k: (v["count_1d"], v["count_lifetime"]) for k, v in snap(store, d1).items()} == {1: (0, 1), 2: (1, 1)}
