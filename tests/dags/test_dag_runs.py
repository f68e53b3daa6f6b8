"""Real DAG runs: `airflow dags test` of a demo DAG for one day against real Spark, Delta and Redis, and the
operator's terminal-error path (exit 3: failed without a retry). Slow: each task is a spark-submit."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.redis]

VIEW = "user_transactions"


def online_equals_snapshot(repo: Path, spark: Any, view: str, ds: date) -> int:
    """Every key of the Delta snapshot of ds reads the same values from Redis; returns the keys compared."""
    from pitstop import FeatureStore

    store = FeatureStore(repo, env={})
    store.use_spark(spark)
    entry = store.load_plan().view(view)
    keys = entry.key_names
    names = entry.feature_names
    rows = [r.asDict() for r in store.snapshot(view, ds).collect()]
    assert rows, f"the snapshot of {ds} is empty"
    response = store.get_online_features([f"{view}:{n}" for n in names], [{k: r[k] for k in keys} for r in rows])
    assert response.metadata[view].ds == ds
    online = response.to_list()
    for want, got in zip(rows, online, strict=True):
        assert {n: got[n] for n in keys + names} == {n: want[n] for n in keys + names}
    return len(rows)


def test_airflow_dags_test_materializes_validates_publishes_one_day(airflow_home: Any, spark: Any) -> None:
    # logical date 2026-10-31: the manual run's data interval is the day before it, [10-30, 10-31)
    proc = airflow_home.run("dags", "test", f"pitstop__{VIEW}__v1", "2026-10-31", timeout=900)
    log = proc.stdout + proc.stderr
    assert "data_interval_start=2026-10-30 00:00:00+00:00, data_interval_end=2026-10-31 00:00:00+00:00" in log
    assert re.search(r"DagRun Finished: dag_id=pitstop__user_transactions__v1, .* state=success", log)
    assert f"{VIEW}: materialized 1 day(s) 2026-10-30 .. 2026-10-30" in log
    assert "every value agrees" in log  # the monitor task's consistency report
    from pitstop import FeatureStore

    store = FeatureStore(airflow_home.repo, env={})
    store.use_spark(spark)
    assert store.materialized_days(VIEW) == [date(2026, 10, 30)]
    assert online_equals_snapshot(airflow_home.repo, spark, VIEW, date(2026, 10, 30)) > 10


def test_a_terminal_job_error_fails_the_task_without_retry(airflow_home: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """publish of a view that has nothing materialized exits 3: AirflowFailException (Airflow never retries it)."""
    from airflow.sdk.exceptions import AirflowFailException

    from pitstop.orchestration.operators import PitstopJobOperator

    for key, value in airflow_home.env.items():
        if key.startswith(("AIRFLOW_CONN_", "PATH")):
            monkeypatch.setenv(key, value)
    task = PitstopJobOperator(task_id="publish", job="publish", target="merchant_transactions",
                              repo=str(airflow_home.repo), conn_id="pitstop_spark", retries=3)
    context = {"params": {}, "data_interval_start": datetime(2026, 10, 1, tzinfo=UTC),
               "data_interval_end": datetime(2026, 10, 2, tzinfo=UTC), "run_id": "test"}
    with pytest.raises(AirflowFailException, match=r"terminal error \(exit 3: fix the input, a retry cannot help\)"):
        task.execute(context)
    assert task.application_args == ["--repo", str(airflow_home.repo), "--view", "merchant_transactions",
                                     "--ds", "2026-10-01"]


def test_a_missing_spark_connection_is_an_error_not_yarn(airflow_home: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from pitstop.orchestration.operators import PitstopJobOperator

    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_SPARK", raising=False)
    task = PitstopJobOperator(task_id="compute", job="materialize", target=VIEW, repo=str(airflow_home.repo),
                              conn_id="no_such_spark")
    context = {"params": {}, "data_interval_start": datetime(2026, 10, 1, tzinfo=UTC),
               "data_interval_end": datetime(2026, 10, 2, tzinfo=UTC), "run_id": "test"}
    with pytest.raises(AirflowFailException,
                       match=r"the Airflow connection 'no_such_spark' \(the Spark master for spark-submit\) is not "):
        task.execute(context)
    assert json.loads(airflow_home.env["AIRFLOW_CONN_PITSTOP_SPARK"]) == {"conn_type": "spark", "host": "local[2]"}
