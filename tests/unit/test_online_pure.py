"""Pure parts of the online store: entity fields, empty values, request parsing, metrics text."""

from __future__ import annotations

import dataclasses
import gc
import json
from pathlib import Path

import pytest

from pitstop.errors import UsageError
from pitstop.plan import naming
from pitstop.plan.model import Feature, JoinKey, Plan
from pitstop.runtime.online import check_entity, empty_value, parse_entity
from pitstop.runtime.serve import Metrics, parse_request


def _plan() -> Plan:
    """Project p with one online view v (version 2) keyed by (account_id int64, device string)."""
    golden = Plan.from_json(json.loads((Path(__file__).parents[1] / "golden" / "demo_plan.json").read_text()))
    view = dataclasses.replace(golden.views["user_transactions"], name="v", version=2, online=True,
                               data_fingerprint="f",
                               join_keys=(JoinKey("account_id", "int64"), JoinKey("device", "string")),
                               features=(Feature("count_7d", "int64", "count", None, "7d", 7, "0"),))
    return dataclasses.replace(golden, project="p", views={"v": view})


PLAN = _plan()


def test_entity_fields_are_unambiguous_for_composite_keys() -> None:
    assert naming.entity_field([1, "12"]) == "1:12:12"
    assert naming.entity_field([11, "2"]) == "2:111:2"
    assert naming.entity_field([1]) == "1:1"
    assert naming.entity_field(["a:b"]) == "3:a:b"
    assert naming.online_pointer_key("p", "v", 2) == "pitstop:{p:v__v2}:current"
    assert naming.online_data_prefix("p", "v", 2) == "pitstop:{p:v__v2}:g"


def test_empty_values_are_typed() -> None:
    assert empty_value(Feature("x", "int64", empty_value="0")) == 0
    value = empty_value(Feature("x", "float64", empty_value="0"))
    assert value == 0.0 and isinstance(value, float)
    assert empty_value(Feature("x", "float64", empty_value="null")) is None
    assert empty_value(Feature("x", "string")) is None


def test_cli_entities_are_parsed_to_the_plan_types() -> None:
    assert parse_entity("account_id=1,device=12", PLAN, ["v:count_7d"]) == {"account_id": 1, "device": "12"}
    with pytest.raises(UsageError, match=r"'user_id' is not a join key of the views asked for; join keys: "
                                         r"account_id, device"):
        parse_entity("user_id=1", PLAN, ["v:count_7d"])
    with pytest.raises(UsageError, match=r"account_id is int64 in the plan; '1.5' is not a whole number"):
        parse_entity("account_id=1.5,device=x", PLAN, ["v:count_7d"])
    with pytest.raises(UsageError, match=r"write it as key=value"):
        parse_entity("account_id", PLAN, ["v:count_7d"])


def test_entity_rows_are_checked() -> None:
    types = {"account_id": "int64", "device": "string"}
    check_entity({"account_id": 1, "device": "x"}, 0, types)
    with pytest.raises(UsageError, match=r"entity row 3: account_id=True \(bool\) must be an int"):
        check_entity({"account_id": True, "device": "x"}, 3, types)
    with pytest.raises(UsageError, match=r"entity row 0: device=5 \(int\) must be a str"):
        check_entity({"account_id": 1, "device": 5}, 0, types)


def test_join_keys_outside_their_type_are_refused() -> None:
    types = {"account_id": "int64", "device": "string"}
    check_entity({"account_id": 2**63 - 1, "device": "x"}, 0, types)
    check_entity({"account_id": -(2**63), "device": "é"}, 0, types)
    with pytest.raises(UsageError, match=r"entity row 1: account_id=9223372036854775808 is outside the range of the "
                                         r"join key 'account_id', int64 in the plan: \[-9223372036854775808, "
                                         r"9223372036854775807\]$"):
        check_entity({"account_id": 2**63, "device": "x"}, 1, types)
    with pytest.raises(UsageError, match=r"account_id=<an integer of 33,220 bits> is outside the range"):
        check_entity({"account_id": 10**10000, "device": "x"}, 0, types)
    with pytest.raises(UsageError, match=r"device='a\\ud800' is not valid Unicode text \(surrogates not allowed "
                                         r"at character 1\)"):
        check_entity({"account_id": 1, "device": "a\ud800"}, 0, types)
    deep: list[object] = []
    for _ in range(5000):  # a value nested past the interpreter's recursion limit is shown bounded
        deep = [deep]
    with pytest.raises(UsageError, match=r"entity row 0: account_id=\[\[\[\.\.\.\]\]\] \(list\) must be an int"):
        check_entity({"account_id": deep, "device": "x"}, 0, types)


def test_http_request_bodies_are_parsed_to_their_one_shape() -> None:
    def parse(body: object) -> tuple[list[str], list[dict[str, object]], bool]:
        return parse_request(json.dumps(body).encode(), 3)

    assert parse({"features": ["v:f"], "entities": {"a": [1, 2], "b": ["x", "y"]}}) == \
        (["v:f"], [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], False)
    assert parse({"features": ["v:f"], "entity_rows": [{"a": 1}], "full_feature_names": True}) == \
        (["v:f"], [{"a": 1}], True)
    cases: list[tuple[object, str]] = [
        ({"features": ["v:f"], "entities": {"a": [1, 2], "b": ["x"]}},
         "the lists in 'entities' have different lengths: 'a': 2, 'b': 1"),
        ({"features": ["v:f"]}, "give 'entities' ({\"user_id\": [1, 2]}) or 'entity_rows' ([{\"user_id\": 1}])"),
        ({"features": ["v:f"], "entities": {"a": [1]}, "entity_rows": [{"a": 1}]},
         "give either 'entities' (columns: {\"user_id\": [1, 2]}) or 'entity_rows' (rows: [{\"user_id\": 1}, "
         "{\"user_id\": 2}]), not both"),
        ({"features": ["v:f"], "entities": {"a": [1]}, "fulll_feature_names": True},
         "unknown field(s) in the request body: 'fulll_feature_names' (did you mean 'full_feature_names'?); the "
         "fields are features, entities, entity_rows, full_feature_names"),
        ({"features": ["v:f"], "entities": {"a": [1]}, "full_feature_names": "yes"},
         "'full_feature_names' must be true or false, got a JSON string"),
        ({"features": "v:f", "entities": {"a": [1]}}, "'features' must be a list of 'view:feature' strings, got a "
                                                      "JSON string"),
        ({"features": ["v:f", 1], "entities": {"a": [1]}}, "'features' must be a list of 'view:feature' strings, "
                                                          "got a JSON array holding other values"),
        ({"features": ["v:f"], "entities": {"a": 1}}, "'entities' 'a' must be a list of values, e.g. "
                                                       "{\"user_id\": [1, 2]}, got a JSON number"),
        ({"features": ["v:f"], "entities": {}}, "'entities' must be an object of join keys to lists of values, "
                                                 "e.g. {\"user_id\": [1, 2]}, got an empty object"),
        ({"features": ["v:f"], "entity_rows": {"a": 1}}, "'entity_rows' must be a list of objects like "
                                                          "{\"user_id\": 1}, got a JSON object"),
        ({"features": ["v:f"], "entity_rows": [{"a": 1}] * 4}, "4 entities in one request; the limit is 3"),
        ({"features": ["v:f"], "entities": {"a": [1] * 4}}, "4 entities in one request; the limit is 3"),
        ([1], "the request body must be a JSON object like {\"features\": [\"view:feature\"], \"entities\": "
              "{\"user_id\": [1]}}, got a JSON array"),
    ]
    for body, message in cases:
        with pytest.raises(UsageError) as err:
            parse(body)
        assert str(err.value).startswith(message), (body, str(err.value))
    raw_cases: list[tuple[bytes, str]] = [
        (b"[" * 100_000, "the request body nests arrays or objects too deeply to parse"),
        (b"{not json", "the request body is not JSON: Expecting property name enclosed in double quotes: line 1 "
                       "column 2 (char 1)"),
        (b"", "the request body is not JSON: Expecting value: line 1 column 1 (char 0)"),
        (b'{"a": "\xff"}', "the request body is not UTF-8 text (byte 7: invalid start byte)"),
        (b'{"features": ["v:f"], "entities": {"a": [NaN]}}', "the request body is not valid JSON: NaN is not a "
                                                             "JSON value"),
        (b'{"entities": {"a": [' + b"9" * 5000 + b"]}}", "the request body has an integer of more than 4,300 digits"),
    ]
    for raw, message in raw_cases:
        with pytest.raises(UsageError) as err:
            parse_request(raw, 3)
        assert str(err.value).startswith(message), (raw[:40], str(err.value))


def test_metrics_text() -> None:
    metrics = Metrics()
    metrics.observe("/get-online-features", 200, 0.0004)
    metrics.observe("/get-online-features", 200, 0.003)
    metrics.observe("/get-online-features", 400, 2.0)
    metrics.observe("/health", 200, 0.1)
    text = metrics.render()
    assert 'pitstop_requests_total{path="/get-online-features",status="200"} 2' in text
    assert 'pitstop_requests_total{path="/health",status="200"} 1' in text
    assert 'pitstop_request_seconds_bucket{le="0.0005"} 1' in text
    assert 'pitstop_request_seconds_bucket{le="0.005"} 2' in text
    assert 'pitstop_request_seconds_bucket{le="1.0"} 2' in text
    assert 'pitstop_request_seconds_bucket{le="+Inf"} 3' in text
    assert "pitstop_request_seconds_count 3" in text
    full = gc.get_stats()[2]["collections"]
    assert f'pitstop_gc_collections_total{{generation="2"}} {full}' in text
