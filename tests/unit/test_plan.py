"""Discovery, compile-time checks against real sources, fingerprints and the plan diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pitstop.config import load_config
from pitstop.errors import DefinitionErrors, PlanError
from pitstop.runtime import registry

VIEW = """
from pitstop import Aggregation, BatchSource, Entity, Feature, FeatureView

user = Entity("user", join_keys=["user_id"])
events = BatchSource("events", path="data/events", timestamp_field="event_timestamp",
                     created_timestamp_field="created_timestamp")
spend = FeatureView(
    "spend",
    entities=[user],
    source=events,
    aggregations=[Aggregation("sum", column="amount", windows={windows})],
    version={version},
    description={description!r},
)
"""


def view_defs(windows: str = '["7d"]', version: int = 1, description: str = "") -> str:
    return VIEW.format(windows=windows, version=version, description=description)


def compile_errors(repo: Path) -> list[str]:
    with pytest.raises(DefinitionErrors) as err:
        registry.plan(load_config(repo))
    return [str(e) for e in err.value.errors]


def test_compiled_view_entry_is_complete(make_repo) -> None:
    repo = make_repo(view_defs(windows='["1d", "7d", None]'))
    result = registry.apply(load_config(repo))
    assert result.written
    plan = json.loads((repo / "dags" / "pitstop_plan.json").read_text())
    view = plan["views"]["spend"]
    assert [f["name"] for f in view["features"]] == ["amount_sum_1d", "amount_sum_7d", "amount_sum_lifetime"]
    assert view["features"][0] == {"name": "amount_sum_1d", "function": "sum", "column": "amount", "window": "1d",
                                   "window_days": 1, "dtype": "float64", "empty_value": "0"}
    assert view["join_keys"] == [{"name": "user_id", "dtype": "int64"}]
    assert view["max_window_days"] is None
    assert view["ttl_seconds"] == 86400
    assert view["tables"] == {"snapshots": "snapshots/spend__v1", "tiles": "tiles/spend__v1"}
    assert view["dag_id"] == "pitstop__spend__v1"
    assert view["source"]["columns"] == {"amount": "float64", "created_timestamp": "timestamp",
                                         "event_timestamp": "timestamp", "user_id": "int64"}
    assert plan["schema_version"] == 1 and plan["project"] == "test"
    # deterministic: compiling again renders byte-identical text
    assert registry.plan(load_config(repo)).compiled.render() == (repo / "dags" / "pitstop_plan.json").read_text()


def test_missing_columns_are_reported_with_location_and_suggestion(make_repo) -> None:
    repo = make_repo("""
        from pitstop import Aggregation, BatchSource, Entity, Feature, FeatureView
        user = Entity("user", join_keys=["userid"])
        events = BatchSource("events", path="data/events", timestamp_field="event_ts")
        v = FeatureView("v", entities=[user], source=events,
                        aggregations=[Aggregation("sum", column="amout", windows=["7d"])])
        p = FeatureView("p", entities=[user], source=events, features=[Feature("country", "int64")])
    """)
    errors = compile_errors(repo)
    defs = str(repo / "feature_defs" / "defs.py")
    columns = "amount, country, created_timestamp, event_timestamp, merchant_id, user_id"
    missing = "is not a column of source 'events' (data/events)"
    assert errors == [
        f"{defs}:4: timestamp_field of source 'events': 'event_ts' {missing} (did you mean 'event_timestamp'?); "
        f"its columns are: {columns}",
        f"{defs}:7: join key of entity 'user' in view 'p': 'userid' {missing} (did you mean 'user_id'?); "
        f"its columns are: {columns}",
        f"{defs}:7: Feature 'country' is declared dtype='int64' but source 'events' has it as string; declare "
        f"dtype='string' or cast it in the source",
        f"{defs}:5: join key of entity 'user' in view 'v': 'userid' {missing} (did you mean 'user_id'?); "
        f"its columns are: {columns}",
        f"{defs}:6: aggregation column of sum: 'amout' {missing} (did you mean 'amount'?); "
        f"its columns are: {columns}",
    ]


def test_wrong_column_types_are_refused(make_repo) -> None:
    repo = make_repo("""
        from pitstop import Aggregation, BatchSource, Entity, FeatureView
        user = Entity("user", join_keys=["amount"])
        events = BatchSource("events", path="data/events")
        v = FeatureView("v", entities=[user], source=events,
                        aggregations=[Aggregation("avg", column="country", windows=["7d"])])
    """)
    errors = compile_errors(repo)
    assert any("join key 'amount' of view 'v' has type float64 in source 'events'; join keys must be int64 or "
               "string columns" in e for e in errors), errors
    assert any(e.endswith("defs.py:6: avg(country) needs a column of type int64 or float64, but 'country' is "
                          "string in source 'events'") for e in errors), errors


def test_import_failure_shows_the_users_line(make_repo) -> None:
    repo = make_repo({"good.py": "x = 1\n", "broken.py": "import os\n\nvalue = 1 / 0\n"})
    (errors,) = [compile_errors(repo)]
    assert len(errors) == 1
    assert errors[0] == (f"{repo / 'feature_defs' / 'broken.py'}:3: "
                         f"ZeroDivisionError: division by zero\n    value = 1 / 0")


def test_syntax_error_and_definition_error_during_import(make_repo) -> None:
    repo = make_repo({"a.py": "def f(:\n", "b.py": "from pitstop import Entity\nu = Entity('U', join_keys=['k'])\n"})
    errors = compile_errors(repo)
    assert errors[0].startswith(f"{repo / 'feature_defs' / 'a.py'}:1: cannot import feature_defs.a: SyntaxError:")
    assert errors[1].startswith(f"{repo / 'feature_defs' / 'b.py'}:2: Entity: invalid name 'U'")


def test_duplicate_names_name_both_places(make_repo) -> None:
    one = 'from pitstop import Entity\nuser = Entity("user", join_keys=["user_id"])\n'
    two = 'from pitstop import Entity\n\ncustomer = Entity("user", join_keys=["customer_id"])\n'
    repo = make_repo({"one.py": one, "two.py": two})
    (error,) = compile_errors(repo)
    first, second = repo / "feature_defs" / "one.py", repo / "feature_defs" / "two.py"
    assert f"duplicate Entity name 'user', defined at {first}:2 and at {second}:3" in error
    assert "rename one of them" in error


def test_cross_module_imports_share_objects_and_lists_are_collected(make_repo) -> None:
    repo = make_repo({
        "entities.py": 'from pitstop import Entity\nuser = Entity("user", join_keys=["user_id"])\n',
        "views.py": """
            from feature_defs.entities import user
            from pitstop import Aggregation, BatchSource, FeatureView
            events = BatchSource("events", path="data/events")
            VIEWS = [FeatureView(f"count_{w}", entities=[user], source=events,
                                 aggregations=[Aggregation("count", windows=[w])]) for w in ("1d", "7d")]
        """,
        "_private.py": "raise RuntimeError('files starting with _ are not imported')\n",
    })
    result = registry.apply(load_config(repo))
    assert sorted(result.compiled.data["views"]) == ["count_1d", "count_7d"]
    assert sorted(result.compiled.data["entities"]) == ["user"]


def test_description_edit_needs_no_bump_but_window_edit_does(make_repo) -> None:
    repo = make_repo(view_defs())
    config = load_config(repo)
    first = registry.apply(config)
    fp = first.compiled.data["views"]["spend"]["data_fingerprint"]

    make_repo.write(repo, "defs.py", view_defs(description="Total spend"))
    result = registry.apply(config)
    change = result.diff.changes[0]
    assert (change.status, change.values_change, change.fields) == ("changed", False, ["description"])
    assert result.compiled.data["views"]["spend"]["data_fingerprint"] == fp
    assert result.written

    make_repo.write(repo, "defs.py", view_defs(windows='["30d"]', description="Total spend"))
    with pytest.raises(PlanError) as err:
        registry.apply(config)
    defs = repo / "feature_defs" / "defs.py"
    assert str(err.value) == (
        "pitstop apply refused:\n  - view spend: changes values (features) without a version bump: set "
        f"version=2 at {defs}:7, so the new values get new tables and a fresh history while v1 keeps serving")
    # the refused apply wrote nothing
    assert json.loads(config.plan_path.read_text())["views"]["spend"]["data_fingerprint"] == fp

    make_repo.write(repo, "defs.py", view_defs(windows='["30d"]', version=2, description="Total spend"))
    result = registry.apply(config)
    change = result.diff.changes[0]
    assert (change.old_version, change.new_version, change.values_change) == (1, 2, True)
    assert change.features_added == ["amount_sum_30d"] and change.features_removed == ["amount_sum_7d"]
    assert result.compiled.data["views"]["spend"]["tables"]["snapshots"] == "snapshots/spend__v2"


def test_version_cannot_go_down(make_repo) -> None:
    repo = make_repo(view_defs(version=3))
    registry.apply(load_config(repo))
    make_repo.write(repo, "defs.py", view_defs(version=2))
    with pytest.raises(PlanError, match=r"version went down from 3 to 2; versions only go up: set version=4"):
        registry.apply(load_config(repo))


def test_removed_view_needs_prune(make_repo) -> None:
    repo = make_repo(view_defs())
    config = load_config(repo)
    registry.apply(config)
    make_repo.write(repo, "defs.py", 'from pitstop import Entity\nuser = Entity("user", join_keys=["user_id"])\n')
    with pytest.raises(PlanError, match=r"view spend: is in the checked-in plan but no longer defined in "
                                        r"feature_defs; run `pitstop apply --prune`"):
        registry.apply(config)
    result = registry.apply(config, prune=True)
    assert result.diff.removed == ["spend"]
    assert result.diff.retired_dag_ids == ["pitstop__spend__v1"]
    assert json.loads(config.plan_path.read_text())["views"] == {}


def test_a_version_bump_retires_the_old_versions_dag(make_repo) -> None:
    repo = make_repo(view_defs())
    config = load_config(repo)
    registry.apply(config)
    make_repo.write(repo, "defs.py", view_defs(windows='["7d", "30d"]', version=2))
    result = registry.apply(config)
    assert result.diff.retired_dag_ids == ["pitstop__spend__v1"]
    assert json.loads(config.plan_path.read_text())["views"]["spend"]["dag_id"] == "pitstop__spend__v2"


def test_unreadable_source_reuses_the_recorded_schema(make_repo) -> None:
    repo = make_repo(view_defs())
    config = load_config(repo)
    written = registry.apply(config).compiled.render()
    import shutil

    shutil.rmtree(repo / "data")
    result = registry.plan(config)
    assert not result.stale and result.compiled.render() == written
    assert result.compiled.warnings == ["source 'events' (data/events) is not readable from here; using the "
                                        "column types recorded in the checked-in plan"]
    config.plan_path.unlink()
    errors = compile_errors(repo)
    assert errors == [f"{repo / 'feature_defs' / 'defs.py'}:5: cannot read source 'events' at 'data/events' "
                      f"(format parquet) to learn its column types, and the checked-in plan records none: create "
                      f"the data first (for the demo: `pitstop demo-data`) or fix the path"]


def test_plan_file_errors(make_repo) -> None:
    repo = make_repo(view_defs())
    config = load_config(repo)
    config.plan_path.parent.mkdir(parents=True)
    config.plan_path.write_text("{not json")
    with pytest.raises(PlanError, match=r"is not valid JSON"):
        registry.plan(config)
    config.plan_path.write_text(json.dumps({"schema_version": 99, "views": {}}))
    with pytest.raises(PlanError, match=r"has plan schema_version 99; this pitstop reads 1"):
        registry.plan(config)


def test_reordering_and_renaming_change_no_values(make_repo) -> None:
    repo = make_repo(view_defs(windows='["1d", "7d"]'))
    config = load_config(repo)
    fp = registry.apply(config).compiled.data["views"]["spend"]["data_fingerprint"]
    text = view_defs(windows='["7d", "1d"]').replace('path="data/events"', 'path="./data/events/"')
    text = text.replace('BatchSource("events"', 'BatchSource("raw_events"')
    make_repo.write(repo, "defs.py", text)
    result = registry.apply(config)
    assert result.problems == []
    assert result.compiled.data["views"]["spend"]["data_fingerprint"] == fp
    assert result.diff.changes[0].values_change is False


def test_sys_exit_in_a_definition_file_is_reported(make_repo) -> None:
    repo = make_repo({"quits.py": "import sys\nsys.exit(3)\n"})
    assert compile_errors(repo) == [f"{repo / 'feature_defs' / 'quits.py'}:2: SystemExit: 3\n    sys.exit(3)"]


def test_training_sets_are_compiled_and_checked_against_the_views(make_repo) -> None:
    training = """
    from pitstop import TrainingSet
    good = TrainingSet("good", spine_sql="SELECT * FROM labels", features=["spend:amount_sum_7d"], output="out/t")
    """
    repo = make_repo({"defs.py": view_defs(), "training.py": training})
    plan = registry.plan(load_config(repo)).compiled.data
    assert plan["training_sets"] == {"good": {
        "spine_sql": "SELECT * FROM labels", "features": ["spend:amount_sum_7d"], "views": ["spend"],
        "output": "out/t", "format": "parquet", "timestamp_column": "event_timestamp", "full_feature_names": False,
        "owner": "", "description": "", "dag_id": "pitstop__training__good"}}
    make_repo.write(repo, "training.py", """
    from pitstop import TrainingSet
    bad = TrainingSet("bad", spine_sql="SELECT 1", features=["spnd:amount_sum_7d", "spend:amount_sum_8d"],
                      output="out")
    """)
    errors = compile_errors(repo)
    assert len(errors) == 2
    assert errors[0].endswith("TrainingSet 'bad': feature 'spnd:amount_sum_7d' names view 'spnd', which is not "
                              "defined (did you mean 'spend'?); views: spend")
    assert errors[1].endswith("TrainingSet 'bad': view 'spend' has no feature 'amount_sum_8d' (did you mean "
                              "'amount_sum_7d'?); its features: amount_sum_7d")
    assert errors[0].startswith(f"{repo / 'feature_defs' / 'training.py'}:3: ")


def test_orchestration_fields_are_metadata_only(make_repo) -> None:
    repo = make_repo(view_defs())
    store_config = load_config(repo)
    registry.apply(store_config)
    before = json.loads(store_config.plan_path.read_text())["views"]["spend"]
    assert before["dag"] == {"schedule": "@daily", "start_date": None, "catchup": False, "max_active_runs": 1}
    assert before["source"]["readiness"] == "max_event_time"
    make_repo.write(repo, "defs.py", view_defs().replace(
        'description=', 'schedule="0 6 * * *", max_active_runs=2, description=').replace(
        'created_timestamp_field="created_timestamp")',
        'created_timestamp_field="created_timestamp", readiness="none")'))
    result = registry.plan(store_config)
    after = result.compiled.data["views"]["spend"]
    assert after["data_fingerprint"] == before["data_fingerprint"]
    assert after["metadata_fingerprint"] != before["metadata_fingerprint"]
    assert after["dag"]["schedule"] == "0 6 * * *" and after["source"]["readiness"] == "none"
    assert result.problems == []
    assert "metadata only, no version bump needed" in result.diff.render()
