"""Every definition error: the message names the problem, the bad value, the fix and file:line."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest

from pitstop import Aggregation, BatchSource, Entity, Feature, FeatureView
from pitstop.definitions._validate import display_path
from pitstop.definitions.functions import FUNCTION_NAMES
from pitstop.definitions.windows import parse_window
from pitstop.errors import DefinitionError

HERE = display_path(__file__)


def line_after() -> int:
    """The line number of the statement right after the caller's."""
    return sys._getframe(1).f_lineno + 1


def _src() -> BatchSource:
    return BatchSource("events", path="data/events")


def _user() -> Entity:
    return Entity("user", join_keys=["user_id"])


@pytest.mark.parametrize("bad", ["User", "1user", "user-id", "user id", "", "a__b", "x" * 64])
def test_invalid_identifier_names_file_line_and_rule(bad: str) -> None:
    line = line_after()
    with pytest.raises(DefinitionError) as err:
        Entity(bad, join_keys=["user_id"])
    message = str(err.value)
    assert err.value.location == f"{HERE}:{line + 1}"
    assert message.startswith(f"{HERE}:{line + 1}: Entity: ")
    assert repr(bad) in message
    if bad == "a__b":
        assert "'__' is reserved" in message
    elif len(bad) > 63:
        assert "the limit is 63" in message
    else:
        assert "[a-z][a-z0-9_]*" in message


def test_identifier_error_suggests_a_valid_name() -> None:
    with pytest.raises(DefinitionError, match=r"for example 'user_id'"):
        Entity("User-Id", join_keys=["user_id"])


def test_invalid_join_key_and_feature_names() -> None:
    with pytest.raises(DefinitionError, match=r"Entity 'user' join key: invalid name 'User ID'"):
        Entity("user", join_keys=["User ID"])
    with pytest.raises(DefinitionError, match=r"join_keys must be a list of names, got 'user_id' "
                                              r"\(write join_keys=\['user_id'\]\)"):
        Entity("user", join_keys="user_id")  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match=r"Aggregation\('sum', column='amount'\) name: invalid name 'Spend'"):
        Aggregation("sum", column="amount", windows=["7d"], name="Spend")


def test_unknown_function_lists_the_valid_ones() -> None:
    line = line_after()
    with pytest.raises(DefinitionError) as err:
        Aggregation("median", column="amount", windows=["7d"])
    assert str(err.value) == (f"{HERE}:{line + 1}: Aggregation('median', column='amount'): unknown function "
                              f"'median'; valid functions: {', '.join(FUNCTION_NAMES)}")
    assert FUNCTION_NAMES == ("count", "sum", "avg", "min", "max", "count_distinct", "approx_count_distinct",
                              "last", "stddev_samp", "var_samp")


@pytest.mark.parametrize(("window", "reason"), [
    ("7x", "the only unit is 'd' (days)"),
    ("0d", "a window must be at least one day"),
    ("-1d", "a window must be at least one day"),
    ("7", "expected a positive whole number of days followed by 'd'"),
    ("1.5d", "expected a positive whole number of days followed by 'd'"),
])
def test_bad_windows(window: str, reason: str) -> None:
    line = line_after()
    with pytest.raises(DefinitionError) as err:
        Aggregation("count", windows=["1d", window])
    message = str(err.value)
    assert message.startswith(f"{HERE}:{line + 1}: Aggregation('count', column=None): bad window {window!r}: ")
    assert reason in message
    assert 'write e.g. "1d", "7d", "30d", or None for a lifetime window' in message


def test_window_not_a_string_and_empty_and_repeated() -> None:
    with pytest.raises(DefinitionError, match=r'window 7 is not a string \(write "7d"\)'):
        Aggregation("count", windows=[7])  # type: ignore[list-item]
    with pytest.raises(DefinitionError, match=r"windows is empty: give at least one"):
        Aggregation("count")
    with pytest.raises(DefinitionError, match=r"repeat a window"):
        Aggregation("count", windows=["7d", "7d"])
    with pytest.raises(DefinitionError, match=r"windows must be a list, got '7d' \(write windows=\['7d'\]\)"):
        Aggregation("count", windows="7d")


def test_parse_window_values() -> None:
    assert parse_window("1d") == 1
    assert parse_window("30d") == 30
    assert parse_window(None) is None


def test_function_needs_column() -> None:
    with pytest.raises(DefinitionError, match=r"sum needs a column: Aggregation\('sum', column='amount'"):
        Aggregation("sum", windows=["7d"])


def test_view_with_neither_or_both() -> None:
    agg = Aggregation("count", windows=["7d"])
    line = line_after()
    with pytest.raises(DefinitionError) as err:
        FeatureView("v", entities=[_user()], source=_src())
    assert str(err.value) == (
        f"{HERE}:{line + 1}: FeatureView 'v': has neither aggregations nor features: give "
        f"aggregations=[Aggregation(...)] for windowed aggregates OR features=[Feature(...)] for latest values, "
        f"not both")
    with pytest.raises(DefinitionError, match=r"FeatureView 'v': has both aggregations and features"):
        FeatureView("v", entities=[_user()], source=_src(), aggregations=[agg],
                    features=[Feature("amount", "float64")])


def test_feature_names_follow_the_design_rules() -> None:
    view = FeatureView("v", entities=[_user()], source=_src(), aggregations=[
        Aggregation("count", windows=["1d", "7d", None]),
        Aggregation("sum", column="amount", windows=["7d"]),
        Aggregation("sum", column="amount", windows=["30d"], name="spend"),
        Aggregation("approx_count_distinct", column="merchant_id", windows=["7d"]),
    ])
    assert view.feature_names() == ("count_1d", "count_7d", "count_lifetime", "amount_sum_7d", "spend_30d",
                                    "merchant_id_approx_count_distinct_7d")
    assert view.effective_ttl == timedelta(days=1)
    assert view.join_keys == ("user_id",)


def test_duplicate_feature_names_and_reserved_columns() -> None:
    with pytest.raises(DefinitionError, match=r"feature name\(s\) \['amount_sum_7d'\] are produced more than once"):
        FeatureView("v", entities=[_user()], source=_src(), aggregations=[
            Aggregation("sum", column="amount", windows=["7d"]),
            Aggregation("sum", column="amount", windows=["7d", "30d"])])
    with pytest.raises(DefinitionError, match=r"clash with a join key or a reserved column"):
        FeatureView("v", entities=[_user()], source=_src(), features=[Feature("user_id", "int64")])


def test_latest_value_view_defaults_and_bad_fields() -> None:
    view = FeatureView("p", entities=[_user()], source=_src(), features=[Feature("country", "string")])
    assert view.effective_ttl is None
    with pytest.raises(DefinitionError, match=r"unknown dtype 'str'; valid dtypes: int64, float64, string, bool, "
                                              r"timestamp"):
        Feature("country", "str")
    with pytest.raises(DefinitionError, match=r"version must be an integer ≥ 1, got 0"):
        FeatureView("p", entities=[_user()], source=_src(), features=[Feature("country", "string")], version=0)
    with pytest.raises(DefinitionError, match=r"ttl must be a datetime.timedelta"):
        FeatureView("p", entities=[_user()], source=_src(), features=[Feature("country", "string")],
                    ttl=3600)  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match=r"lateness applies to aggregations only"):
        FeatureView("p", entities=[_user()], source=_src(), features=[Feature("country", "string")], lateness=2)
    with pytest.raises(DefinitionError, match=r"inclusive_cutoff applies to latest-value views"):
        FeatureView("a", entities=[_user()], source=_src(), aggregations=[Aggregation("count", windows=["1d"])],
                    inclusive_cutoff=True)
    with pytest.raises(DefinitionError, match=r"inclusive_cutoff must be True or False, got 'yes'"):
        FeatureView("p", entities=[_user()], source=_src(), features=[Feature("country", "string")],
                    inclusive_cutoff="yes")  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match=r"lateness must be a whole number of days ≥ 0, got -1"):
        FeatureView("a", entities=[_user()], source=_src(), aggregations=[Aggregation("count", windows=["1d"])],
                    lateness=-1)
    with pytest.raises(DefinitionError, match=r"tags must be a dict of strings to strings"):
        FeatureView("a", entities=[_user()], source=_src(), aggregations=[Aggregation("count", windows=["1d"])],
                    tags={"tier": 1})  # type: ignore[dict-item]


def test_source_errors() -> None:
    with pytest.raises(DefinitionError, match=r"unknown format 'csv'; valid formats: parquet, delta"):
        BatchSource("events", path="x", format="csv")
    with pytest.raises(DefinitionError, match=r"path must not be empty"):
        BatchSource("events", path="")
    with pytest.raises(DefinitionError, match=r"created_timestamp_field and timestamp_field are both 'ts'"):
        BatchSource("events", path="x", timestamp_field="ts", created_timestamp_field="ts")


def test_overlapping_entity_keys_are_refused() -> None:
    a = Entity("a", join_keys=["k"])
    b = Entity("b", join_keys=["k"])
    with pytest.raises(DefinitionError, match=r"join keys \['k', 'k'\] overlap"):
        FeatureView("v", entities=[a, b], source=_src(), aggregations=[Aggregation("count", windows=["1d"])])


def test_objects_are_frozen_and_compare_by_value() -> None:
    a, b = _user(), _user()
    assert a == b
    with pytest.raises(AttributeError):
        a.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(("column", "rule"), [
    ("Order-ID", "[a-z][a-z0-9_]*"),
    ("amount__usd", "'__' is reserved"),
    ("a" * 60, "the limit is 63"),
])
def test_feature_names_built_from_columns_are_checked(column: str, rule: str) -> None:
    with pytest.raises(DefinitionError) as err:
        FeatureView("v", entities=[_user()], source=_src(),
                    aggregations=[Aggregation("max", column=column, windows=["7d"])])
    assert rule in str(err.value)
    assert "give the aggregation a valid name= (the window suffix is added)" in str(err.value)
    view = FeatureView("v", entities=[_user()], source=_src(),
                       aggregations=[Aggregation("max", column=column, windows=["7d"], name="peak")])
    assert view.feature_names() == ("peak_7d",)


def test_non_string_function_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match=r"unknown function \['count'\]; valid functions: count, sum"):
        Aggregation(["count"], windows=["7d"])  # type: ignore[arg-type]


def test_schedule_fields_are_checked_with_their_fix() -> None:
    from datetime import date, datetime

    def view(**kwargs: object) -> FeatureView:
        return FeatureView("v", entities=[_user()], source=_src(), aggregations=[Aggregation("count", windows=["1d"])],
                           **kwargs)  # type: ignore[arg-type]

    assert view(schedule="0 6 * * *", start_date=date(2026, 1, 1), catchup=True, max_active_runs=2).schedule \
        == "0 6 * * *"
    with pytest.raises(DefinitionError, match=r"schedule must be one of @daily, @weekly, @monthly or a five-field cron "
                                              r"line such as '0 6 \* \* \*' \(daily at 06:00 UTC\), got '@hourly'"):
        view(schedule="@hourly")
    with pytest.raises(DefinitionError, match=r"start_date must be a datetime.date \(e.g. date\(2026, 1, 1\)\) or "
                                              r"None, got '2026-01-01'"):
        view(start_date="2026-01-01")
    with pytest.raises(DefinitionError, match=r"start_date must be a datetime\.date"):
        view(start_date=datetime(2026, 1, 1))
    with pytest.raises(DefinitionError, match="max_active_runs must be a whole number ≥ 1, got 0"):
        view(max_active_runs=0)
    with pytest.raises(DefinitionError, match="catchup must be True or False, got 'yes'"):
        view(catchup="yes")


def test_source_readiness_is_checked() -> None:
    assert BatchSource("e", path="x", format="delta", readiness="delta_commit").readiness == "delta_commit"
    with pytest.raises(DefinitionError, match="unknown readiness 'max'; valid checks: max_event_time, delta_commit, "
                                              "none"):
        BatchSource("e", path="x", readiness="max")
    with pytest.raises(DefinitionError, match="readiness='delta_commit' needs format='delta'"):
        BatchSource("e", path="x", readiness="delta_commit")


def test_training_set_definition_errors() -> None:
    from pitstop import TrainingSet

    line = line_after()
    with pytest.raises(DefinitionError) as err:
        TrainingSet("t", spine_sql="SELECT 1", features=["count_7d"], output="out")
    assert err.value.location == f"{HERE}:{line + 1}"
    assert "bad feature reference 'count_7d': write it as view:feature" in str(err.value)
    with pytest.raises(DefinitionError, match="features is empty"):
        TrainingSet("t", spine_sql="SELECT 1", features=[], output="out")
    with pytest.raises(DefinitionError, match="repeat a feature"):
        TrainingSet("t", spine_sql="SELECT 1", features=["a:b", "a:b"], output="out")
    with pytest.raises(DefinitionError, match="unknown format 'csv'; valid formats: parquet, delta"):
        TrainingSet("t", spine_sql="SELECT 1", features=["a:b"], output="out", format="csv")
    with pytest.raises(DefinitionError, match="spine_sql must not be empty"):
        TrainingSet("t", spine_sql=" ", features=["a:b"], output="out")
    ts = TrainingSet("t", spine_sql="SELECT 1", features=["b:x", "a:y", "b:z"], output="out")
    assert ts.views == ("b", "a")
