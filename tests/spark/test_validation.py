"""The validation gate on real Spark, Delta, Great Expectations 1.x and redis-server (docs/semantics.md: only a
day that passed counts as materialized; data that fails never reaches Redis)."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pitstop import FeatureStore
from pitstop.compute import stats as st
from pitstop.errors import DefinitionErrors, ValidationFailed
from pitstop.plan import naming
from pitstop.plan.model import Check, Feature, JoinKey, Plan
from pitstop.runtime import registry
from pitstop.runtime.context import Context
from pitstop.stores.delta_log import read_table
from pitstop.stores.gx_suite import Validator

pytestmark = [pytest.mark.spark]

D0 = date(2026, 4, 1)


def check(kind: str, kwargs: dict[str, Any], label: str, feature: str | None = None,
          severity: str = "error") -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "feature": feature, "severity": severity, "label": label,
            "origin": "builtin"}


def frame(spark: Any, rows: list[tuple[Any, ...]]) -> Any:
    return spark.createDataFrame(rows, "user_id bigint, ds date, feature_timestamp timestamp, count_1d bigint, "
                                       "amount_avg_1d double, amount_max_1d double, country string")


S = datetime(2026, 4, 2)
GOOD = [(1, D0, S, 2, 5.0, 8.0, "FR"), (2, D0, S, 0, None, None, "US"), (3, D0, S, 1, 0.1, 0.1, "DE")]

CASES = [
    # (check, a bad row set that fails it, what the failure summary must say)
    (check("ExpectColumnValuesToNotBeNull", {"column": "user_id"}, "join key user_id not null", "user_id"),
     [(None, D0, S, 1, 1.0, 1.0, "FR")], ["1 of 4 rows (25%) unexpected"]),
    (check("ExpectColumnValuesToNotBeNull", {"column": "feature_timestamp"}, "feature_timestamp not null"),
     [(7, D0, None, 1, 1.0, 1.0, "FR")], ["1 of 4 rows", "keys (user_id=7)"]),
    (check("ExpectCompoundColumnsToBeUnique", {"column_list": ["user_id", "ds"]}, "one row per (user_id, ds)"),
     [(1, D0, S, 9, 1.0, 1.0, "FR")], ["2 of 4 rows (50%) unexpected", "keys (user_id=1), (user_id=1)"]),
    (check("ExpectColumnValuesToBeBetween", {"column": "count_1d", "min_value": 0}, "count_1d >= 0", "count_1d"),
     [(9, D0, S, -4, 1.0, 1.0, "FR")], ["1 of 4 rows", "values e.g. -4", "keys (user_id=9)"]),
    (check("avg_within_bound", {"avg": "amount_avg_1d", "bound": "amount_max_1d", "side": "max", "tolerance": 1e-9},
           "amount_avg_1d <= amount_max_1d", "amount_avg_1d"),
     [(8, D0, S, 2, 3.5, 3.0, "FR")], ["values e.g. 3.5", "keys (user_id=8)"]),
    # declared checks
    (check("ExpectColumnValuesToBeBetween", {"column": "amount_max_1d", "min_value": 0, "max_value": 1000},
           "amount_max_1d between 0 and 1000", "amount_max_1d"),
     [(5, D0, S, 1, 1.0, 5000.0, "FR")], ["values e.g. 5000.0", "keys (user_id=5)"]),
    (check("ExpectColumnValuesToNotBeNull", {"column": "amount_avg_1d", "mostly": 0.5},
           "amount_avg_1d null fraction <= 0.5", "amount_avg_1d"),
     [(5, D0, S, 0, None, None, "FR"), (6, D0, S, 0, None, None, "FR")], ["3 of 5 rows (60%) unexpected"]),
    (check("ExpectTableRowCountToBeBetween", {"min_value": None, "max_value": 3}, "row count between None and 3"),
     [(4, D0, S, 1, 1.0, 1.0, "FR")], ["observed 4"]),
    (check("ExpectColumnValuesToMatchRegex", {"column": "country", "regex": "^[A-Z]{2}$"}, "country code",
           "country"),
     [(4, D0, S, 1, 1.0, 1.0, "France")], ["values e.g. 'France'", "keys (user_id=4)"]),
]


@pytest.mark.parametrize("entry, bad, says", CASES, ids=[c[0]["label"] for c in CASES])
def test_each_check_passes_and_fails_with_a_summary(spark: Any, entry: dict[str, Any], bad: list[Any],
                                                    says: list[str]) -> None:
    validator = Validator([Check.from_json(entry)], ["user_id"], "t__v1")
    outcomes, raw = validator.run(frame(spark, GOOD))
    assert [o.success for o in outcomes] == [True] and raw["success"] is True
    (outcome,), raw = validator.run(frame(spark, GOOD + bad))
    assert outcome.success is False and raw["success"] is False
    text = outcome.describe()
    assert text.startswith(f"{entry['label']} ({entry['type']}")
    for part in says:
        assert part in text, text


def test_an_expectation_this_gx_release_does_not_know_is_terminal() -> None:
    from pitstop.errors import EXIT_TERMINAL, PlanError, exit_code_for

    entry = Check.from_json(check("ExpectColumnValuesToBeMagic", {"column": "user_id"}, "magic"))
    with pytest.raises(PlanError) as err:
        Validator([entry], ["user_id"], "t__v1")._expectation(0, entry)
    assert str(err.value) == ("the plan's suite has 'ExpectColumnValuesToBeMagic', which this Great Expectations "
                              "release does not know; run `pitstop plan` to see the definition error")
    assert exit_code_for(err.value) == EXIT_TERMINAL  # a retry cannot help


def test_a_float_avg_a_hair_above_max_is_not_a_failure(spark: Any) -> None:
    # sum / count of three 0.1s is 0.10000000000000002 > 0.1: the tolerance absorbs it
    avg = sum([0.1, 0.1, 0.1]) / 3
    assert avg > 0.1
    entry = check("avg_within_bound", {"avg": "amount_avg_1d", "bound": "amount_max_1d", "side": "max",
                                       "tolerance": 1e-9}, "avg <= max")
    validator = Validator([Check.from_json(entry)], ["user_id"], "t__v1")
    (outcome,), _ = validator.run(frame(spark, [(1, D0, S, 3, avg, 0.1, "FR")]))
    assert outcome.success


def test_an_empty_day_passes_unless_row_bounds_say_otherwise(spark: Any) -> None:
    suite = [check("ExpectColumnValuesToNotBeNull", {"column": "user_id"}, "key"),
             check("ExpectCompoundColumnsToBeUnique", {"column_list": ["user_id", "ds"]}, "unique"),
             check("ExpectColumnValuesToBeBetween", {"column": "count_1d", "min_value": 0}, "count")]
    outcomes, _ = Validator([Check.from_json(c) for c in suite], ["user_id"], "t__v1").run(frame(spark, []))
    assert [o.success for o in outcomes] == [True, True, True]
    bounded = [*suite, check("ExpectTableRowCountToBeBetween", {"min_value": 1, "max_value": None}, "rows")]
    outcomes, _ = Validator([Check.from_json(c) for c in bounded], ["user_id"], "t__v1").run(frame(spark, []))
    assert [o.success for o in outcomes] == [True, True, True, False]


def test_statistics_and_histograms_against_hand_computed_values(spark: Any) -> None:
    d1, d2 = D0, D0 + timedelta(days=1)
    rng = np.random.default_rng(7)
    ref = rng.normal(10, 2, 400).round(3)
    cur = rng.normal(11, 2, 300).round(3)
    rows = [(i, d1, float(v), None if i % 10 == 0 else "x") for i, v in enumerate(ref)]
    rows += [(i, d2, float(v), "y") for i, v in enumerate(cur)] + [(999, d2, None, None)]
    d3 = d2 + timedelta(days=1)
    rows += [(1, d3, None, "z")]  # a day without a value: an empty sketch
    df = spark.createDataFrame(rows, "user_id bigint, ds date, amount double, country string")
    features = [Feature("amount", "float64"), Feature("country", "string")]
    got = st.feature_statistics(st.profile(df, features))
    a = got[(d2, "amount")]
    assert (a["rows"], a["nulls"]) == (301, 1)
    assert a["min"] == cur.min() and a["max"] == cur.max()
    assert a["mean"] == pytest.approx(cur.mean(), rel=1e-12)
    assert a["stddev"] == pytest.approx(cur.std(ddof=1), rel=1e-12)
    values = st.long_values(df, features)
    sketched = st.sketches(values)
    quantiles = st.quantiles(sketched)
    # fewer values than the sketch keeps: its quantiles are order statistics of the values themselves
    qa = quantiles[(d2, "amount")]
    assert all(x in cur for x in qa) and qa == sorted(qa) and len(qa) == len(st.QUANTILES)
    assert qa[3] == pytest.approx(np.quantile(cur, 0.5), abs=0.05)
    c = got[(d1, "country")]
    assert (c["rows"], c["nulls"], c["min"]) == (400, 40, None)
    e = got[(d3, "amount")]
    assert (e["rows"], e["nulls"], e["min"], e["max"], e["mean"]) == (1, 1, None, None, None)
    assert sorted(got) == sorted((d, f.name) for d in (d1, d2, d3) for f in features)
    assert sorted(quantiles) == [(d1, "amount"), (d2, "amount")]  # not numeric, or no value: none
    plan = st.comparisons([d2], [d1, d2], 7)
    hists = st.histograms(values, plan, sketched)
    h = hists[(d2, "previous", "amount")]
    edges = h["edges"]
    assert len(edges) == 9 and edges == sorted(edges)
    # the same bins counted by numpy: bin = number of edges strictly below the value
    assert h["current"] == np.bincount(np.searchsorted(edges, cur, side="left"), minlength=10).tolist()
    assert h["reference"] == np.bincount(np.searchsorted(edges, ref, side="left"), minlength=10).tolist()
    assert sum(h["current"]) == 300 and sum(h["reference"]) == 400
    assert (d2, "previous", "country") not in hists  # not numeric: no drift
    psi = st.psi(h["current"], h["reference"])
    p = np.maximum(np.array(h["current"]) / 300, st.EPSILON)
    q = np.maximum(np.array(h["reference"]) / 400, st.EPSILON)
    assert psi == pytest.approx(float(np.sum((p - q) * np.log(p / q))), rel=1e-12)
    assert psi is not None and psi > 0.2  # a one-sigma shift is drift


def test_count_below_is_numpy_searchsorted(spark: Any) -> None:
    """The binary search over a padded sorted array counts the elements < value, ties and ends included."""
    rng = np.random.default_rng(3)
    cases = []
    for n in (0, 1, 2, 7, 8, 90):
        cuts = sorted(set(rng.integers(-20, 20, n).astype(float).tolist()))
        width = 1 << len(cuts).bit_length()
        padded = cuts + [float("inf")] * (width - len(cuts))
        values = [*cuts, *(c + 0.5 for c in cuts), -100.0, 100.0, 0.0]
        cases.append((cuts, width, [(padded, v) for v in values]))
    for cuts, width, rows in cases:
        df = spark.createDataFrame(rows, "cuts array<double>, value double")
        got = [r.n for r in df.select(st.count_below("cuts", "value", width).alias("n")).collect()]
        assert got == np.searchsorted(cuts, [v for _, v in rows], side="left").tolist(), cuts


def test_sample_keeps_small_days_whole_and_the_same_rows_of_large_ones(spark: Any) -> None:
    """Each day over the per-day size keeps about that many rows, chosen by a hash of (keys, ds): the same
    rows however the data is partitioned; a smaller day, and a day the counts do not name, keep every row."""
    before, big, small, unnamed, other = (D0 + timedelta(days=i) for i in (-1, 0, 1, 2, 3))
    sizes = {before: 200, big: 20_000, small: 500, unnamed: 300, other: 8_000}
    rows = [(i, d, float(i)) for d, n in sizes.items() for i in range(n)]
    df = spark.createDataFrame(rows, "user_id bigint, ds date, amount double")
    counts = {big: 20_000, small: 500, other: 8_000}
    first = st.sample(df, ["user_id"], counts, per_day=1000)
    kept = {(r.user_id, r.ds) for r in first.collect()}
    again = {(r.user_id, r.ds) for r in st.sample(df.repartition(7), ["user_id"], counts, per_day=1000).collect()}
    assert kept == again
    per_day = {d: sum(1 for _, k in kept if k == d) for d in sizes}
    assert {d: per_day[d] for d in (before, small, unnamed)} == {before: 200, small: 500, unnamed: 300}
    assert {u for u, d in kept if d == small} == set(range(500))
    assert 850 <= per_day[big] <= 1150  # 1,000 expected, binomial sd about 31
    assert 850 <= per_day[other] <= 1150  # its own rate, 1/8: sd about 30
    assert st.sample(df, ["user_id"], counts, per_day=20_000) is df  # no day over the size: no filter


def test_sample_of_a_latest_value_view_spreads_over_one_keys_events(spark: Any) -> None:
    """A latest-value view holds every event of a key and day: hashing the event timestamp too keeps about
    the day's rate of one busy key's events, not all or none of them."""
    rows = [(1, D0, datetime(2026, 4, 1) + timedelta(seconds=i), float(i)) for i in range(5_000)]
    df = spark.createDataFrame(rows, "user_id bigint, ds date, event_timestamp timestamp, amount double")
    by_key = st.sample(df, ["user_id"], {D0: 5_000}, per_day=1000).count()
    by_event = st.sample(df, ["user_id", "event_timestamp"], {D0: 5_000}, per_day=1000).count()
    assert by_key in (0, 5_000)
    assert 850 <= by_event <= 1150  # 1,000 expected, binomial sd about 28


def test_gate_statistics_are_exact_while_quantiles_and_drift_read_the_sample(spark: Any, monkeypatch: Any) -> None:
    """With days over the sample size: rows, nulls, min, max, mean and stddev over every row; the drift
    histograms count exactly the sampled non-null values (a fifth of the current day is null, so its
    sample holds about 800 of them); a half-sd shift is still seen."""
    from pitstop.runtime import quality

    monkeypatch.setattr(st, "SAMPLE_ROWS", 1000)
    rng = np.random.default_rng(5)
    before, today = D0, D0 + timedelta(days=1)
    ref, cur = rng.normal(0, 1, 5000), rng.normal(0.5, 1, 4000)
    rows = [(i, before, float(x)) for i, x in enumerate(ref)] + [(i, today, float(x)) for i, x in enumerate(cur)]
    rows += [(9000 + i, today, None) for i in range(1000)]
    df = spark.createDataFrame(rows, "user_id bigint, ds date, amount double")
    golden = Plan.from_json(json.loads((Path(__file__).resolve().parents[1] / "golden" / "demo_plan.json").read_text()))
    base = golden.views["user_profile"]
    view = dataclasses.replace(base, join_keys=(JoinKey("user_id", "int64"),), features=(Feature("amount", "float64"),),
                               monitoring=dataclasses.replace(base.monitoring, baseline_days=7, min_rows=100))
    (row,) = quality._statistics(view, df, [today], [before])
    assert (row["rows"], row["nulls"], row["null_fraction"]) == (5000, 1000, 0.2)
    assert row["min"] == pytest.approx(cur.min()) and row["max"] == pytest.approx(cur.max())
    assert row["mean"] == pytest.approx(cur.mean()) and row["stddev"] == pytest.approx(cur.std(ddof=1))
    sampled = st.sample(df, ["user_id"], {before: 5000, today: 5000}).where("amount IS NOT NULL")
    n_ref, n_cur = (sampled.where(f"ds = DATE '{d}'").count() for d in (before, today))
    assert 700 <= n_cur <= 900 and 850 <= n_ref <= 1150
    assert (sum(row["histogram"]), sum(row["baseline_histogram"])) == (n_cur, n_ref)
    assert row["quantiles"][3] == pytest.approx(0.5, abs=0.15)  # the sample's median of N(0.5, 1)
    assert row["psi_previous"] > 0.1 and row["psi_baseline"] == pytest.approx(row["psi_previous"])


def test_histograms_of_overlapping_comparisons_match_numpy(spark: Any) -> None:
    """Six days, each the current day of two comparisons and the reference of several (previous day, and
    a 3-day baseline that pools days): every comparison's counts equal numpy's over its own edges, although
    each value is binned only once against the union of the edges its day needs. Two days hold more values
    than the sketch keeps exactly, one day has ties on an edge, one feature is integer."""
    rng = np.random.default_rng(11)
    days = [D0 + timedelta(days=i) for i in range(6)]
    sizes = [300, 2500, 400, 3000, 50, 700]
    data: dict[date, dict[str, Any]] = {}
    rows = []
    for i, (day, n) in enumerate(zip(days, sizes, strict=True)):
        amount = rng.normal(10 + i, 2 + i / 2, n).round(2)
        if i == 2:
            amount[:200] = 10.0  # ties: many values exactly on what becomes an edge
        count = rng.integers(0, 6, n)
        data[day] = {"amount": amount, "count": count}
        rows += [(j, day, float(a), int(c)) for j, (a, c) in enumerate(zip(amount, count, strict=True))]
    rows.append((99_999, days[3], None, None))  # nulls are not binned
    df = spark.createDataFrame(rows, "user_id bigint, ds date, amount double, count_1d bigint")
    features = [Feature("amount", "float64"), Feature("count_1d", "int64")]
    plan = st.comparisons(days[1:], days, 3)
    values = st.long_values(df, features)
    hists = st.histograms(values, plan, st.sketches(values))
    source = {"amount": "amount", "count_1d": "count"}
    assert sorted(hists) == sorted((c.target, c.kind, f) for c in plan for f in source)
    for c in plan:
        for feature, column in source.items():
            h = hists[(c.target, c.kind, feature)]
            edges = h["edges"]
            assert edges == sorted(set(edges)) and 1 <= len(edges) <= 9
            cur = data[c.target][column]
            ref = np.concatenate([data[d][column] for d in c.reference])
            assert h["current"] == np.bincount(np.searchsorted(edges, cur, side="left"), minlength=len(edges) + 1
                                               ).tolist(), (c, feature)
            assert h["reference"] == np.bincount(np.searchsorted(edges, ref, side="left"),
                                                 minlength=len(edges) + 1).tolist(), (c, feature)
    # KLL edges of a 3,000-value reference (more than the sketch keeps exactly, no ties): near its deciles
    # (k = 1000 gives about 0.4% rank error; asserted loosely)
    reference = data[days[3]]["amount"]
    ranks = [float(np.mean(reference <= e)) for e in hists[(days[4], "previous", "amount")]["edges"]]
    assert all(abs(r - d) < 0.02 for r, d in zip(ranks, st.DECILES, strict=True)), ranks


# ----------------------------------------------------------------------------------------------------------
# the gate inside materialization, with publishing to a real Redis

DEFS = """
from pitstop import Aggregation, Alert, BatchSource, Entity, Expect, FeatureView
user = Entity("user", join_keys=["user_id"])
events = BatchSource("events", path="data/events", readiness="none")
spend = FeatureView("spend", entities=[user], source=events, aggregations=[
    Aggregation("count", windows=["1d"]),
    Aggregation("avg", column="amount", windows=["1d"]),
    Aggregation("max", column="amount", windows=["1d"]),
], expectations=[Expect.between("amount_max_1d", min=0, max=1000)],
   alerts=[Alert.null_fraction(1.0)])
"""


def write_events(folder: Path, rows: list[tuple[int, float, datetime]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    pq.write_table(pa.table({"user_id": pa.array([r[0] for r in rows], pa.int64()),
                             "amount": pa.array([r[1] for r in rows], pa.float64()),
                             "event_timestamp": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC"))}),
                   folder / "part-00000.parquet")


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def redis_dump(url: str) -> dict[bytes, bytes]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return {k: client.dump(k) for k in sorted(client.keys("*"))}
    finally:
        client.close()


@pytest.mark.redis
def test_failing_gate_publishes_nothing_and_materializes_nothing(tmp_path: Path, spark: Any, redis_url: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from pitstop.cli import main

    repo = tmp_path / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text(f"project: t\nonline_store:\n  url: {redis_url}\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS))
    d1, d2 = D0, D0 + timedelta(days=1)
    good = [(1, 10.0, at(d1, 1)), (2, 20.0, at(d1, 2)), (1, 30.0, at(d1, 3))]
    write_events(repo / "data" / "events", good)
    store = FeatureStore(repo, env={})
    registry.apply(store.config)
    store.use_spark(spark)

    # day 1 passes the gate and is published
    (summary,) = store.materialize(["spend"], d1, d1, publish=True)
    assert summary.validation.success
    assert "validation passed: 1 day(s) x 6 checks (snapshot version 1) in " in summary.describe()
    served = store.get_online_features(["spend:amount_max_1d"], [{"user_id": 1}]).to_list()
    assert served == [{"user_id": 1, "amount_max_1d": 30.0}]
    before_redis = redis_dump(redis_url)
    cfg = store.config
    tables = {kind: f"{cfg.offline_store_path}/{kind}/spend__v1" for kind in ("snapshots", "tiles", "log", "stats")}
    def contents() -> dict[str, list[Any]]:
        return {k: sorted(map(tuple, spark.read.format("delta").load(p).collect()), key=repr)
                for k, p in tables.items()}

    before_tables = contents()

    # day 2 holds a broken amount: the gate stops it
    write_events(repo / "data" / "events", [*good, (1, 5.0, at(d2, 1)), (3, 99999.0, at(d2, 2))])
    with pytest.raises(ValidationFailed) as info:
        store.materialize(["spend"], d2, d2, publish=True)
    text = str(info.value)
    assert "validation FAILED: spend v1 ds 2026-04-02" in text
    assert ("✗ [error] amount_max_1d between 0 and 1000 (ExpectColumnValuesToBeBetween on amount_max_1d): "
            "1 of 2 rows (50%) unexpected; values e.g. 99999.0; keys (user_id=3)") in text
    assert "nothing was published (the previous online values stay served)" in text
    assert "VERSION AS OF" in text
    assert redis_dump(redis_url) == before_redis  # byte-identical
    assert store.get_online_features(["spend:amount_max_1d"], [{"user_id": 1}]).to_list() == served
    from pitstop.runtime.materialize import materialized_days

    assert materialized_days(Context(cfg, store.load_plan(), spark), "spend") == [d1]
    assert contents() == before_tables  # every table restored
    # the attempt is recorded with its JSON result and Data Docs beside the version it validated
    attempts = read_table(f"{cfg.offline_store_path}/{naming.quality_table('spend', 1)}").to_pylist()
    assert [(a["ds"], a["success"], a["errors"]) for a in sorted(attempts, key=lambda a: a["validated_at"])] == [
        (d1, True, 0), (d2, False, 1)]
    failed = next(a for a in attempts if not a["success"])
    result = json.loads(Path(failed["result_path"]).read_text())
    assert result["success"] is False and result["ds"] == "2026-04-02"
    assert f"version={result['snapshot_version']}" in failed["result_path"]
    bad_check = next(c for c in result["checks"] if not c["success"])
    assert (bad_check["feature"], bad_check["examples"], bad_check["keys"]) == (
        "amount_max_1d", [99999.0], [{"user_id": 3}])
    assert failed["result_path"].endswith("/ds=2026-04-02.json")
    assert Path(result["data_docs"]).is_file() and Path(result["data_docs"]).name == "index.html"

    # by hand: the rejected version still fails; the current table (day 1 only) has no day 2
    capsys.readouterr()
    assert main(["--repo", str(repo), "validate", "spend", "--ds", str(d2),
                 "--version", str(result["snapshot_version"])]) == 2  # the gate (a check) found problems
    out = capsys.readouterr()
    assert "validation FAILED: spend v1 ds 2026-04-02" in out.out and "validate reports only" in out.err
    assert out.err == (f"error: spend ds 2026-04-02 fails its gate as the snapshot table holds it at version "
                       f"{result['snapshot_version']} (nothing changed: validate reports only)\n")
    # the job's gate stops the same day: exit 2, a check found problems (Airflow does not retry it)
    from pitstop.runtime.jobs import main as job

    assert job("materialize", ["--repo", str(repo), "--view", "spend", "--start", str(d2), "--end", str(d2)]) == 2
    job_out = capsys.readouterr()
    assert job_out.out == "" and job_out.err.startswith("error: validation FAILED: spend v1 ds 2026-04-02")
    assert "the gate stopped spend v1 before publishing: 1 of 1 day(s) failed (2026-04-02)" in job_out.err
    assert main(["--repo", str(repo), "validate", "spend", "--ds", str(d2)]) == 3  # not in the current table
    assert "has no snapshot of 2026-04-02 at version" in capsys.readouterr().err
    # status shows the failure
    assert main(["--repo", str(repo), "status"]) == 0
    status = capsys.readouterr().out
    assert "spend v1" in status and "FAILED 2026-04-02" in status

    # fixed data: day 2 passes, is published, and its statistics are recorded
    write_events(repo / "data" / "events", [*good, (1, 5.0, at(d2, 1)), (3, 999.0, at(d2, 2))])
    (summary,) = store.materialize(["spend"], d2, d2, publish=True)
    assert summary.validation.success
    assert store.get_online_features(["spend:amount_max_1d"], [{"user_id": 3}]).to_list() == [
        {"user_id": 3, "amount_max_1d": 999.0}]
    stats = [r.asDict() for r in spark.read.format("delta").load(tables["stats"]).collect()]
    by = {(r["ds"], r["feature"]): r for r in stats}
    assert (by[(d2, "amount_max_1d")]["rows"], by[(d2, "amount_max_1d")]["max"]) == (2, 999.0)
    assert by[(d2, "amount_max_1d")]["mean"] == pytest.approx(502.0)
    assert by[(d1, "count_1d")]["mean"] == pytest.approx(1.5) and by[(d2, "count_1d")]["previous_ds"] == d1


def test_unknown_gx_expectation_is_a_plan_error_with_the_line(tmp_path: Path, make_repo: Any) -> None:
    repo = make_repo("""
        from pitstop import Aggregation, BatchSource, Entity, Expect, FeatureView
        user = Entity("user", join_keys=["user_id"])
        events = BatchSource("events", path="data/events", readiness="none")
        v = FeatureView("v", entities=[user], source=events, aggregations=[Aggregation("count", windows=["1d"])],
                        expectations=[Expect.gx("ExpectColumnValuesToBeBetweenn", column="count_1d", min_value=0),
                                      Expect.gx("ExpectColumnValuesToBeBetween", column="count_1d", minimum=0)])
        """)
    from pitstop.config import load_config

    with pytest.raises(DefinitionErrors) as info:
        registry.plan(load_config(repo, env={}))
    text = str(info.value)
    assert "defs.py:6" in text
    assert "'ExpectColumnValuesToBeBetweenn' is not a Great Expectations 1.x expectation" in text
    assert "did you mean ExpectColumnValuesToBeBetween" in text
    assert "defs.py:7" in text and "does not accept these arguments (minimum: extra fields not permitted; " in text


def spy_on_statistics(monkeypatch: Any) -> list[str]:
    """The names of the threads the gate's statistics run in, from now on."""
    import threading

    from pitstop.runtime import quality

    threads: list[str] = []
    real = quality._statistics

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(quality, "_statistics", spy)
    return threads


def test_an_error_alert_fails_the_gate_and_a_warning_does_not(tmp_path: Path, spark: Any, monkeypatch: Any) -> None:
    threads = spy_on_statistics(monkeypatch)
    repo = tmp_path / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text("project: t\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent("""
        from pitstop import Aggregation, Alert, BatchSource, Entity, FeatureView
        user = Entity("user", join_keys=["user_id"])
        events = BatchSource("events", path="data/events", readiness="none")
        spend = FeatureView("spend", entities=[user], source=events, online=False, aggregations=[
            Aggregation("count", windows=["1d"]), Aggregation("avg", column="amount", windows=["1d"])],
            alerts=[Alert.null_fraction(0.2, features=["amount_avg_1d"], severity="error")])
        """))
    # user 3's only event has no amount: amount_avg_1d is null for 1 key of 3
    write_events(repo / "data" / "events", [(1, 1.0, at(D0, 1)), (2, 2.0, at(D0, 2)), (3, None, at(D0, 3))])
    store = FeatureStore(repo, env={})
    registry.apply(store.config)
    store.use_spark(spark)
    with pytest.raises(ValidationFailed) as info:
        store.materialize(["spend"], D0, D0, publish=False)
    assert "✗ [error] alert amount_avg_1d: null_fraction 0.3333 > 0.2" in str(info.value)
    assert "4 of 4 checks passed, 1 alert(s)" in str(info.value)
    assert threads == ["pitstop-statistics_0"]  # a one-day run: beside GX's checks, in a second thread
    # the same threshold as a warning: the day passes and the alert is recorded
    store.config.repo.joinpath("feature_defs", "defs.py").write_text(
        store.config.repo.joinpath("feature_defs", "defs.py").read_text().replace(', severity="error"', ""))
    registry.apply(store.config)
    (summary,) = store.materialize(["spend"], D0, D0, publish=False)
    assert summary.validation.success
    assert "! [warning] 2026-04-01 alert amount_avg_1d: null_fraction 0.3333 > 0.2" in summary.describe()
    from pitstop.cli import main

    out = tmp_path / "reports" / "report.html"  # the folder is made
    assert main(["--repo", str(repo), "report", "spend", "--out", str(out)]) == 0
    page = out.read_text()
    assert 'data-feature="amount_avg_1d"' in page and 'data-feature="count_1d"' in page
    assert 'data-ds="2026-04-01" data-series="null_fraction" data-value="0.3333333333333333"' in page


def test_a_multi_day_run_with_one_bad_day_commits_nothing(tmp_path: Path, spark: Any, monkeypatch: Any) -> None:
    from pitstop.config import load_config
    from pitstop.runtime import quality
    from pitstop.runtime.materialize import materialized_days
    from pitstop.runtime.status import last_validation

    repo = tmp_path / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text("project: t\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS).replace("spend = FeatureView(\"spend\", ",
                                                                                 "spend = FeatureView(\"spend\", "
                                                                                 "online=False, "))
    days = [D0 + timedelta(days=i) for i in range(3)]
    rows = [(u, 10.0 * u, at(d, u)) for d in days for u in (1, 2)]
    write_events(repo / "data" / "events", [*rows, (3, 5000.0, at(days[1], 5))])  # day 2 only is bad
    store = FeatureStore(repo, env={})
    registry.apply(store.config)
    store.use_spark(spark)
    threads = spy_on_statistics(monkeypatch)
    monkeypatch.setattr(quality, "SIDE_BY_SIDE_DAYS", 2)  # 3 days count as a backfill: statistics, then GX
    with pytest.raises(ValidationFailed) as info:
        store.materialize(["spend"], days[0], days[-1], publish=False)
    assert threads == ["MainThread"]
    text = str(info.value)
    assert "validation passed: spend v1 ds 2026-04-01" in text and "validation passed: spend v1 ds 2026-04-03" in text
    assert "validation FAILED: spend v1 ds 2026-04-02" in text and "values e.g. 5000.0; keys (user_id=3)" in text
    assert "1 of 3 day(s) failed (2026-04-02). This run committed nothing" in text
    assert materialized_days(store.context(), "spend") == []
    plan = store.load_plan()
    status = last_validation(load_config(repo, env={}), "spend", plan.view("spend"))
    assert (status["success"], status["ds"], status["days"]) == (False, "2026-04-02",
                                                                 ["2026-04-01", "2026-04-02", "2026-04-03"])
    assert status["alerts_ds"] is None  # no run has committed a day yet
    # fixed: the three days pass, the row-by-row checks in one validation over all of them
    write_events(repo / "data" / "events", [*rows, (3, 500.0, at(days[1], 5))])
    (summary,) = store.materialize(["spend"], days[0], days[-1], publish=False)
    assert summary.validation.success and "validation passed: 3 day(s) x 6 checks" in summary.describe()
    assert materialized_days(Context(store.config, plan, spark), "spend") == days
    status = last_validation(load_config(repo, env={}), "spend", plan.view("spend"))
    assert (status["success"], status["ds"], status["alerts_ds"], status["failed_attempts"]) == (
        True, "2026-04-03", "2026-04-03", 1)
    result = json.loads(Path(summary.validation.days[1].result_path).read_text())
    assert [c["success"] for c in result["checks"]] == [True] * 6 and result["rows"] == 3
