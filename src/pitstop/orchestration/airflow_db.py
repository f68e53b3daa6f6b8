"""What Airflow's metadata database knows about pitstop's DAGs (for the Feature catalog page): whether each
DAG is known and paused, its newest run, and its newest finished consistency check (the ``monitor`` task).
Only the api-server calls this; it imports Airflow and SQLAlchemy inside the function.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pitstop.jsontypes import JSONObject

MONITOR_TASK = "monitor"  # the DAG task that runs the sampled Delta-vs-Redis consistency check


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _last_run(run: Any, paused: bool) -> JSONObject:
    if run is None:
        return {"status": "no_runs", "reason": "no run yet" + (" (the DAG is paused)" if paused else "")}
    return {"status": "ok", "run_id": run.run_id, "state": str(run.state) if run.state else None,
            "run_type": str(run.run_type), "data_interval_start": _iso(run.data_interval_start),
            "data_interval_end": _iso(run.data_interval_end), "start_date": _iso(run.start_date),
            "end_date": _iso(run.end_date)}


def _consistency(check: tuple[Any, ...] | None, monitor_task: str) -> JSONObject:
    if check is None:
        return {"status": "never", "reason": f"no finished {monitor_task} task yet"}
    _, state, end_date, interval_start, run_id = check
    return {"status": "ok", "state": str(state) if state else None, "end_date": _iso(end_date),
            "ds": interval_start.date().isoformat() if interval_start else None, "run_id": run_id}


def airflow_runs(dag_ids: list[str], monitor_task: str = MONITOR_TASK) -> dict[str, JSONObject]:
    """Per DAG, from Airflow's metadata database (the api-server has access): whether it is known and
    paused, its newest run (by run_after) with its state and data interval, and the newest finished
    ``monitor`` task instance (the consistency check)."""
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    out: dict[str, JSONObject] = {}
    with create_session() as session:
        known = {d.dag_id: d for d in session.scalars(select(DagModel).where(DagModel.dag_id.in_(dag_ids)))}
        newest = (select(DagRun.dag_id, func.max(DagRun.run_after).label("run_after"))
                  .where(DagRun.dag_id.in_(dag_ids)).group_by(DagRun.dag_id).subquery())
        runs: JSONObject = {}
        for dag_run in session.scalars(select(DagRun).join(newest, (DagRun.dag_id == newest.c.dag_id)
                                                           & (DagRun.run_after == newest.c.run_after))):
            if dag_run.dag_id not in runs or dag_run.id > runs[dag_run.dag_id].id:
                runs[dag_run.dag_id] = dag_run
        finished = (select(TaskInstance.dag_id, func.max(TaskInstance.end_date).label("end_date"))
                    .where(TaskInstance.dag_id.in_(dag_ids), TaskInstance.task_id == monitor_task,
                           TaskInstance.end_date.is_not(None)).group_by(TaskInstance.dag_id).subquery())
        checks: dict[str, tuple[Any, ...]] = {}
        query = (select(TaskInstance.dag_id, TaskInstance.state, TaskInstance.end_date,
                        DagRun.data_interval_start, DagRun.run_id)
                 .join(finished, (TaskInstance.dag_id == finished.c.dag_id)
                       & (TaskInstance.end_date == finished.c.end_date))
                 .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
                 .where(TaskInstance.task_id == monitor_task))
        for row in session.execute(query):
            checks[row[0]] = tuple(row)
        for dag_id in dag_ids:
            model = known.get(dag_id)
            if model is None:
                missing = {"status": "not_in_airflow",
                           "reason": "not in Airflow's database yet: the DAG processor has not parsed dags/ "
                                     "(or the DAG file failed to import)"}
                out[dag_id] = {"status": "ok", "paused": None, "last_run": missing, "consistency": missing}
                continue
            out[dag_id] = {"status": "ok", "paused": bool(model.is_paused),
                           "last_run": _last_run(runs.get(dag_id), bool(model.is_paused)),
                           "consistency": _consistency(checks.get(dag_id), monitor_task)}
    return out
