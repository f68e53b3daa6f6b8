"""The generated DAGs: DagBag loads them, parsing stays light, and each DAG has the shape, schedule, params,
retries, assets and documentation the plan asks for. Parsed from the repository's own dags/ folder."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_IDS = ["pitstop__materialize", "pitstop__merchant_transactions__v1", "pitstop__training__fraud_training",
           "pitstop__user_profile__v1", "pitstop__user_transactions__v1"]


@pytest.fixture(scope="module")
def dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"), safe_mode=False)


def test_dagbag_loads_every_dag_without_import_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == DAG_IDS


def test_parsing_imports_no_heavy_library_and_no_feature_defs(tmp_path: Path) -> None:
    """A fresh interpreter parses the DAG file; pyspark, great_expectations, redis and feature_defs stay out."""
    code = ("import json, runpy, sys\n"
            "g = runpy.run_path(sys.argv[1])\n"
            "heavy = {m.split('.')[0] for m in sys.modules}\n"
            "heavy &= {'pyspark', 'great_expectations', 'redis', 'feature_defs'}\n"
            "print(json.dumps({'dags': sorted(k for k in g if k.startswith('pitstop__')), 'heavy': sorted(heavy)}))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "dags" / "pitstop_dags.py")], capture_output=True,
                         text=True, check=True, env={"PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path),
                                                     "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"dags": DAG_IDS, "heavy": []}


def test_view_dag_shape_schedule_and_retries(dagbag: Any) -> None:
    plan = json.loads((ROOT / "dags" / "pitstop_plan.json").read_text())
    dag = dagbag.dags["pitstop__user_transactions__v1"]
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {
        "wait_for_source": ["compute"], "compute": ["publish"], "publish": ["monitor"], "monitor": []}
    timetable = dag.timetable
    assert type(timetable).__name__ == "CronDataIntervalTimetable"
    assert (timetable.expression, str(timetable.timezone)) == ("0 0 * * *", "UTC")
    # the run for [D, D+1) is the run of day D (a data-interval timetable, not Airflow 3's default trigger one):
    # the scheduler's first run covers the start date
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    first = CronDataIntervalTimetable(timetable.expression, "UTC").next_dagrun_info(
        last_automated_data_interval=None, restriction=TimeRestriction(dag.start_date, None, catchup=True))
    assert (first.data_interval.start, first.data_interval.end) == \
        (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC))
    assert dag.start_date == datetime(2026, 10, 1, tzinfo=UTC)
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert sorted(dag.tags) == ["owner:fraud-team@example.com", "pitstop", "view:user_transactions"]
    assert dag.doc_md.startswith("# user_transactions v1\n")
    assert "| `merchant_id_count_distinct_30d` | count_distinct | merchant_id | 30d | int64 | 0 |" in dag.doc_md
    compute = dag.get_task("compute")
    assert (compute.retries, compute.retry_delay, compute.retry_exponential_backoff, compute.max_retry_delay) == \
        (3, timedelta(seconds=60), 2.0, timedelta(seconds=1800))
    assert [a.uri for a in compute.outlets] == ["x-pitstop://demo/user_transactions__v1"]
    assert compute.owner == "fraud-team@example.com"
    sensor = dag.get_task("wait_for_source")
    assert (sensor.retries, sensor.deferrable, sensor.poke_interval, sensor.timeout) == (3, True, 300, 21600)
    assert {v: s.to_json() for v, s in sensor.sources.items()} == {
        "user_transactions": plan["views"]["user_transactions"]["source"]}
    assert compute.application == str(ROOT / "jobs" / "materialize.py")
    assert dag.get_task("publish").application == str(ROOT / "jobs" / "publish.py")
    assert dag.get_task("monitor").application == str(ROOT / "jobs" / "monitor.py")
    assert {k: dag.params[k] for k in ("start", "end", "force", "cascade")} == \
        {"start": None, "end": None, "force": False, "cascade": True}


def test_every_view_dag_is_named_by_version_and_offline_views_stop_at_compute(dagbag: Any) -> None:
    plan = json.loads((ROOT / "dags" / "pitstop_plan.json").read_text())
    for name, entry in plan["views"].items():
        dag = dagbag.dags[entry["dag_id"]]
        assert entry["dag_id"] == f"pitstop__{name}__v{entry['version']}"
        expected = ["compute", "monitor", "publish", "wait_for_source"] if entry["online"] else \
            ["compute", "wait_for_source"]
        assert sorted(dag.task_ids) == expected


def test_manual_dag_takes_views_and_a_range(dagbag: Any) -> None:
    dag = dagbag.dags["pitstop__materialize"]
    assert type(dag.timetable).__name__ == "NullTimetable"  # triggered only
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {
        "wait_for_source": ["compute"], "compute": ["publish"], "publish": ["monitor"], "monitor": []}
    views = dag.params.get_param("views")
    assert views.value == ["merchant_transactions", "user_profile", "user_transactions"]
    assert views.schema["items"]["enum"] == ["merchant_transactions", "user_profile", "user_transactions"]
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        dag.params.get_param("views").resolve(["nope"])
    with pytest.raises(ParamValidationError):  # start and end are required for this DAG
        dag.params.get_param("start").resolve(None)
    compute = dag.get_task("compute")
    assert [type(o).__name__ for o in compute.outlets] == ["AssetAlias"]
    assert compute.view_assets == {v: f"x-pitstop://demo/{v}__v1" for v in views.value}
    context = {"params": {"views": ["user_profile", "merchant_transactions"], "start": "2026-10-01",
                          "end": "2026-10-07"}, "data_interval_start": None, "data_interval_end": None}
    assert compute.job_arguments(context) == [
        "--repo", str(ROOT), "--view", "merchant_transactions", "--view", "user_profile",
        "--start", "2026-10-01", "--end", "2026-10-07", "--no-publish"]
    assert dag.get_task("publish").job_arguments(context) == [
        "--repo", str(ROOT), "--view", "merchant_transactions", "--view", "user_profile", "--ds", "2026-10-07"]
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match=r"params.views must list some of merchant_transactions, "
                                                   r"user_profile, user_transactions; got \['nope'\]"):
        compute.job_arguments({**context, "params": {**context["params"], "views": ["nope"]}})


def test_training_dag_runs_when_its_views_assets_update(dagbag: Any) -> None:
    dag = dagbag.dags["pitstop__training__fraud_training"]
    assert dag.task_ids == ["build"]
    condition = dag.timetable.asset_condition
    assert type(condition).__name__ == "AssetAll"  # every view has a new day, not any one of them
    assert sorted(a.uri for a in condition.objects) == [
        "x-pitstop://demo/merchant_transactions__v1", "x-pitstop://demo/user_profile__v1",
        "x-pitstop://demo/user_transactions__v1"]
    assert dag.get_task("build").application == str(ROOT / "jobs" / "training_set.py")
