"""Pure parts of the online store: entity fields, empty values, request parsing, metrics text."""

from __future__ import annotations

import gc

import pytest

from pitstop.errors import UsageError
from pitstop.plan import naming
from pitstop.runtime.online import check_entity, empty_value, parse_entity
from pitstop.runtime.serve import Metrics, _entity_rows

PLAN = {"project": "p", "views": {
    "v": {"kind": "aggregate", "version": 2, "online": True, "data_fingerprint": "f",
          "join_keys": [{"name": "account_id", "dtype": "int64"}, {"name": "device", "dtype": "string"}],
          "features": [{"name": "count_7d", "dtype": "int64", "empty_value": "0"}]}}}


def test_entity_fields_are_unambiguous_for_composite_keys() -> None:
    assert naming.entity_field([1, "12"]) == "1:12:12"
    assert naming.entity_field([11, "2"]) == "2:111:2"
    assert naming.entity_field([1]) == "1:1"
    assert naming.entity_field(["a:b"]) == "3:a:b"
    assert naming.online_pointer_key("p", "v", 2) == "pitstop:{p:v__v2}:current"
    assert naming.online_data_prefix("p", "v", 2) == "pitstop:{p:v__v2}:g"


def test_empty_values_are_typed() -> None:
    assert empty_value({"dtype": "int64", "empty_value": "0"}) == 0
    value = empty_value({"dtype": "float64", "empty_value": "0"})
    assert value == 0.0 and isinstance(value, float)
    assert empty_value({"dtype": "float64", "empty_value": "null"}) is None
    assert empty_value({"dtype": "string"}) is None


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


def test_http_entities_as_columns_or_rows() -> None:
    assert _entity_rows({"entities": {"a": [1, 2], "b": ["x", "y"]}}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert _entity_rows({"entity_rows": [{"a": 1}]}) == [{"a": 1}]
    with pytest.raises(UsageError, match=r"different lengths"):
        _entity_rows({"entities": {"a": [1, 2], "b": ["x"]}})
    with pytest.raises(UsageError, match=r"give 'entities'"):
        _entity_rows({})


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
