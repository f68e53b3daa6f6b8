"""Quality declarations, the compiled suite and thresholds, PSI/KL and alert rules (pure: no Spark, no GX)."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import entropy

from pitstop import Aggregation, Alert, BatchSource, Entity, Expect, FeatureView
from pitstop.compute import stats as st
from pitstop.errors import DefinitionError
from pitstop.plan.model import Feature, JoinKey, Plan
from pitstop.plan.quality import builtin_suite, monitoring_entry
from pitstop.runtime.quality import AlertHit, evaluate_alerts, schema_violations

USER = Entity("user", join_keys=["user_id"])
SRC = BatchSource("events", path="data/events")
AGGS = [Aggregation("count", windows=["1d"]), Aggregation("avg", column="amount", windows=["7d"]),
        Aggregation("max", column="amount", windows=["7d"]), Aggregation("min", column="amount", windows=["7d"]),
        Aggregation("count_distinct", column="merchant", windows=["7d"])]


def view(**kw: object) -> FeatureView:
    return FeatureView("spend", entities=[USER], source=SRC, aggregations=AGGS, **kw)  # type: ignore[arg-type]


def entry() -> tuple[str, tuple[JoinKey, ...], tuple[Feature, ...]]:
    """(kind, join keys, features) of an aggregate view with counts, avg/min/max and a string feature."""
    return "aggregate", (JoinKey("user_id", "int64"),), (
        Feature("count_1d", "int64", "count", None, "1d", 1, "0"),
        Feature("amount_avg_7d", "float64", "avg", "amount", "7d", 7, "null"),
        Feature("amount_max_7d", "float64", "max", "amount", "7d", 7, "null"),
        Feature("amount_min_7d", "float64", "min", "amount", "7d", 7, "null"),
        Feature("merchant_count_distinct_7d", "int64", "count_distinct", "merchant", "7d", 7, "0"),
        Feature("merchant_last_7d", "string", "last", "merchant", "7d", 7, "null"),
    )


def test_expect_factories_build_gx_expectations() -> None:
    e = Expect.between("amount_max_7d", min=0, max=1000)
    assert (e.expectation_type, dict(e.kwargs), e.feature, e.severity) == (
        "ExpectColumnValuesToBeBetween", {"column": "amount_max_7d", "min_value": 0, "max_value": 1000},
        "amount_max_7d", "error")
    n = Expect.max_null_fraction("amount_avg_7d", 0.05, severity="warning")
    assert (n.expectation_type, dict(n.kwargs), n.severity) == (
        "ExpectColumnValuesToNotBeNull", {"column": "amount_avg_7d", "mostly": 0.95}, "warning")
    r = Expect.row_count(min=1)
    assert (r.expectation_type, dict(r.kwargs)) == ("ExpectTableRowCountToBeBetween",
                                                    {"min_value": 1, "max_value": None})
    g = Expect.gx("ExpectColumnValuesToMatchRegex", column="country", regex="^[A-Z]{2}$")
    assert (g.expectation_type, dict(g.kwargs), g.feature, g.custom) == (
        "ExpectColumnValuesToMatchRegex", {"column": "country", "regex": "^[A-Z]{2}$"}, "country", True)
    line = _line_of('g = Expect.gx(')
    assert g.location is not None and g.location.endswith(f"test_quality_pure.py:{line}")


def _line_of(text: str) -> int:
    with open(__file__, encoding="utf-8") as fh:
        return next(i for i, line in enumerate(fh, 1) if text in line and "_line_of" not in line)


@pytest.mark.parametrize("make, message", [
    (lambda: Expect.between("f", min=5, max=1), "min=5 is greater than max=1"),
    (lambda: Expect.between("f"), "give min=, max= or both"),
    (lambda: Expect.between("f", min=0, severity="fatal"), "severity must be one of 'error', 'warning'"),
    (lambda: Expect.between("f", min=float("nan")), "min must be a finite number"),
    (lambda: Expect.max_null_fraction("f", 1.5), "fraction must be between 0 and 1"),
    (lambda: Expect.row_count(min=-1), "min must be a whole number >= 0"),
    (lambda: Expect.gx("values_between"), "give a Great Expectations class name"),
    (lambda: Expect.gx("ExpectX", column=date(2026, 1, 1)), "cannot be stored in the plan"),
    (lambda: Alert.psi(-1), "max must be >= 0"),
    (lambda: Alert.null_fraction(2), "max is a fraction between 0 and 1"),
    (lambda: Alert.kl(0.1, features=[]), "features must be a feature name or a non-empty list"),
])
def test_bad_declarations_are_definition_errors_with_the_line(make: object, message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        make()  # type: ignore[operator]
    assert message in str(info.value)
    assert "test_quality_pure.py:" in str(info.value)


def test_view_checks_the_shape_of_its_declarations() -> None:
    # whether a named feature exists is a plan-time check (tests/unit/test_plan_errors.py): at build time a
    # feature named after a mistyped column cannot yet be told from a mistyped check
    assert view(alerts=[Alert.psi(0.3, features="nope")]).alerts[0].features == ("nope",)
    with pytest.raises(DefinitionError, match="expectations must hold objects made by Expect"):
        view(expectations=["amount_max_7d > 0"])
    with pytest.raises(DefinitionError, match="baseline_days must be a whole number of days between 1 and 365"):
        view(baseline_days=0)
    ok = view(expectations=[Expect.gx("ExpectColumnPairValuesAToBeGreaterThanB", column_A="amount_max_7d",
                                      column_B="amount_min_7d")])
    assert len(ok.expectations) == 1


def test_builtin_suite_of_an_aggregate_view() -> None:
    suite = [c.to_json() for c in builtin_suite(*entry())]
    assert [(s["type"], s["label"]) for s in suite] == [
        ("ExpectColumnValuesToNotBeNull", "join key user_id not null"),
        ("ExpectColumnValuesToNotBeNull", "feature_timestamp not null"),
        ("ExpectCompoundColumnsToBeUnique", "one row per (user_id, ds)"),
        ("ExpectColumnValuesToBeBetween", "count_1d >= 0"),
        ("ExpectColumnValuesToBeBetween", "merchant_count_distinct_7d >= 0"),
        ("avg_within_bound", "amount_avg_7d >= amount_min_7d"),
        ("avg_within_bound", "amount_avg_7d <= amount_max_7d"),
    ]
    assert suite[2]["kwargs"] == {"column_list": ["user_id", "ds"]}
    assert suite[5]["kwargs"] == {"avg": "amount_avg_7d", "bound": "amount_min_7d", "side": "min", "tolerance": 1e-9}
    assert all(s["severity"] == "error" and s["origin"] == "builtin" for s in suite)
    latest = [c.to_json() for c in builtin_suite("latest", (JoinKey("a", "int64"), JoinKey("b", "int64")), ())]
    assert [s["label"] for s in latest] == ["join key a not null", "join key b not null", "event_timestamp not null"]


def test_alert_thresholds_resolve_feature_then_view_then_default() -> None:
    rules = (Alert.psi(0.5), Alert.psi(0.1, features=["amount_avg_7d"], severity="error"),
             Alert.null_fraction(0.9, features=["amount_avg_7d", "merchant_last_7d"]), Alert.schema(severity="error"))
    mon = monitoring_entry(entry()[2], rules, 14).to_json()
    assert mon["baseline_days"] == 14 and mon["bins"] == 10 and mon["min_rows"] == 100
    assert mon["alerts"]["amount_avg_7d"] == {
        "null_fraction": {"max": 0.9, "severity": "warning", "origin": "declared"},
        "psi": {"max": 0.1, "severity": "error", "origin": "declared"},
        "kl": {"max": 0.1, "severity": "warning", "origin": "default"}}
    assert mon["alerts"]["count_1d"]["psi"] == {"max": 0.5, "severity": "warning", "origin": "declared"}
    assert mon["alerts"]["count_1d"]["null_fraction"] == {"max": 0.05, "severity": "warning", "origin": "default"}
    assert mon["alerts"]["merchant_last_7d"] == {"null_fraction": {"max": 0.9, "severity": "warning",
                                                                   "origin": "declared"}}  # not numeric: no drift
    assert mon["schema"] == {"severity": "error", "origin": "declared"}


def reference_psi(p_counts: list[int], q_counts: list[int]) -> float:
    p = np.maximum(np.array(p_counts) / sum(p_counts), st.EPSILON)
    q = np.maximum(np.array(q_counts) / sum(q_counts), st.EPSILON)
    return float(np.sum((p - q) * np.log(p / q)))


def test_psi_and_kl_against_reference_computations() -> None:
    cur, ref = [10, 20, 30, 40], [25, 25, 25, 25]
    assert st.psi(cur, ref) == pytest.approx(reference_psi(cur, ref), rel=1e-12)
    assert st.kl(cur, ref) == pytest.approx(float(entropy(np.array(cur) / 100, np.array(ref) / 100)), rel=1e-12)
    assert st.psi(ref, ref) == 0.0 and st.kl(ref, ref) == 0.0
    # an empty bin is floored at EPSILON: large and finite
    empty = st.psi([0, 50, 50], [30, 40, 30])
    assert empty == pytest.approx(reference_psi([0, 50, 50], [30, 40, 30]), rel=1e-12)
    assert math.isfinite(empty) and empty > 1
    assert st.psi([], []) is None and st.kl([0, 0], [1, 1]) is None
    with pytest.raises(ValueError, match="different bins"):
        st.psi([1, 2], [1, 2, 3])


def test_binning_and_comparisons() -> None:
    edges = [1.0, 2.0, 5.0]
    assert [st.bin_index(edges, x) for x in (-3, 1.0, 1.5, 2.0, 4.9, 5.0, 5.1)] == [0, 0, 1, 1, 2, 2, 3]
    d = date(2026, 5, 10)
    done = [d - timedelta(days=n) for n in (1, 2, 3, 9)]
    plan = st.comparisons([d, d + timedelta(days=1)], [*done, d, d + timedelta(days=1)], 7)
    assert plan == [
        st.Comparison(d, "previous", (d - timedelta(days=1),)),
        st.Comparison(d, "baseline", tuple(d - timedelta(days=n) for n in (3, 2, 1))),
        st.Comparison(d + timedelta(days=1), "previous", (d,)),
        st.Comparison(d + timedelta(days=1), "baseline", tuple(d - timedelta(days=n) for n in (3, 2, 1, 0))),
    ]
    assert st.comparisons([d], [d], 7) == []  # the first day has nothing to compare with


def test_alert_rules_and_schema_checks() -> None:
    mon = monitoring_entry(entry()[2], (Alert.kl(0.05, features="amount_avg_7d", severity="error"),), 7)
    row = {"feature": "amount_avg_7d", "null_fraction": 0.06, "psi_previous": 0.21, "psi_baseline": 0.19,
           "kl_previous": 0.04, "kl_baseline": 0.051}
    assert evaluate_alerts(mon, row) == [
        AlertHit("amount_avg_7d", "null_fraction", "", 0.06, 0.05, "warning"),
        AlertHit("amount_avg_7d", "psi", "previous", 0.21, 0.2, "warning"),
        AlertHit("amount_avg_7d", "kl", "baseline", 0.051, 0.05, "error")]
    assert evaluate_alerts(mon, {"feature": "count_1d", "null_fraction": 0.0, "psi_previous": None}) == []
    golden = Plan.from_json(json.loads((Path(__file__).parents[1] / "golden" / "demo_plan.json").read_text()))
    full = dataclasses.replace(golden.views["user_transactions"], join_keys=(JoinKey("user_id", "int64"),),
                               features=(Feature("count_1d", "int64", "count", None, "1d", 1, "0"),
                                         Feature("amount_avg_7d", "float64", "avg", "amount", "7d", 7, "null")))
    good = {"user_id": "int64", "ds": "date", "feature_timestamp": "timestamp", "count_1d": "int64",
            "amount_avg_7d": "float64"}
    assert schema_violations(full, good) == []
    bad = {**good, "count_1d": "string"}
    del bad["amount_avg_7d"]
    assert schema_violations(full, bad) == ["column count_1d is string, the plan says int64",
                                            "column amount_avg_7d is missing"]


def test_type_mismatched_declarations_are_plan_errors(make_repo: object) -> None:
    from pitstop.config import load_config
    from pitstop.errors import DefinitionErrors
    from pitstop.runtime import registry

    repo = make_repo("""
        from pitstop import Alert, BatchSource, Entity, Expect, Feature, FeatureView
        user = Entity("user", join_keys=["user_id"])
        events = BatchSource("events", path="data/events")
        v = FeatureView("v", entities=[user], source=events, features=[Feature("country", "string")],
                        expectations=[Expect.between("country", min=0),
                                      Expect.gx("ExpectColumnValuesToNotBeNull", column="event_timestamp")],
                        alerts=[Alert.psi(0.1, features=["country"])])
        """)  # type: ignore[operator]
    with pytest.raises(DefinitionErrors) as info:
        registry.plan(load_config(repo, env={}))
    text = str(info.value)
    assert "2 problem(s)" in text
    assert "defs.py:6: expectation country between 0 and None: Expect.between needs a numeric feature, but " \
           "'country' is string" in text
    assert "defs.py:8: Alert.psi on 'country': drift is measured on numeric features only" in text


def test_ds_in_selects_the_days_in_order_as_date_literals() -> None:
    from pitstop.compute.aggregates import ds_in

    assert ds_in([date(2026, 3, 2), date(2026, 1, 31)]) == "ds IN (DATE '2026-01-31', DATE '2026-03-02')"
    assert ds_in({date(2026, 1, 1)}) == "ds IN (DATE '2026-01-01')"
    assert ds_in([]) == "FALSE"  # no day: a predicate that selects nothing, not the SQL error "IN ()"
