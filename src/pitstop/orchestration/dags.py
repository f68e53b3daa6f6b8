"""The compiled plan -> Airflow DAGs (used by dags/pitstop_dags.py; reads only the plan and pitstop.yaml).

One DAG per view version (``pitstop__<view>__v<N>``): ``wait_for_source`` >> ``compute`` >> ``publish`` >>
``monitor`` (publish and monitor for online views), each acting only on its run's days, so reruns and
backfills are idempotent. One DAG per TrainingSet (``pitstop__training__<name>``), run when the snapshot
assets of its views update. One manual DAG, ``pitstop__materialize``, for any views over any range.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, Param, TaskGroup, get_parsing_context

from pitstop.config import Config, load_config
from pitstop.errors import PlanError
from pitstop.orchestration.operators import PitstopJobOperator, SourceReadySensor
from pitstop.orchestration.schedule import view_doc_md
from pitstop.plan import naming

MANUAL_DAG_ID = f"pitstop{naming.SEPARATOR}materialize"


def _day_param(description: str, *, required: bool = False) -> Param:
    if required:
        return Param(type="string", format="date", description=description)
    return Param(None, type=["null", "string"], format="date", description=description)


def _range_params() -> dict[str, Param]:
    return {
        "start": _day_param("First day to materialize (YYYY-MM-DD). Empty: the run's data interval."),
        "end": _day_param("Last day to materialize (YYYY-MM-DD). Empty: the run's data interval."),
        "force": Param(False, type="boolean", description="Do not wait for the source data: compute with what "
                                                              "the source holds now."),
        "cascade": Param(True, type="boolean", description="Also recompute later materialized snapshots whose "
                                                               "windows include a recomputed day."),
    }


def _default_args(config: Config, owner: str) -> dict[str, Any]:
    settings = config.airflow
    return {
        "owner": owner or "pitstop",
        "retries": settings.retries,
        "retry_delay": timedelta(seconds=settings.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(seconds=settings.max_retry_delay_seconds),
    }


def view_asset(plan: dict[str, Any], name: str) -> Asset:
    entry = plan["views"][name]
    return Asset(naming.asset_uri(plan["project"], name, entry["version"]), group="pitstop")


def _chain(config: Config, plan: dict[str, Any], name: str, entry: dict[str, Any], repo: str) -> None:
    settings = config.airflow
    wait = SourceReadySensor(
        task_id="wait_for_source", view=name, source=entry["source"], repo=repo, deferrable=settings.deferrable,
        poke_interval=settings.sensor_poke_seconds, timeout=settings.sensor_timeout_seconds, retries=0,
        doc_md="Waits until the source holds every event before S(D) of the run's last day (a timeout fails "
               "the run; no retry).")
    spark = {"repo": repo, "target": name, "conn_id": settings.spark_conn_id}
    compute = PitstopJobOperator(task_id="compute", job="materialize", outlets=[view_asset(plan, name)],
                                 doc_md="Tiles and snapshots of the run's days into Delta (jobs/materialize.py).",
                                 **spark)
    wait >> compute
    if entry["online"]:
        publish = PitstopJobOperator(task_id="publish", job="publish",
                                     doc_md="The run's last day into Redis (atomic switch; an older day never "
                                            "replaces a newer one).", **spark)
        monitor = PitstopJobOperator(task_id="monitor", job="monitor",
                                     doc_md="Sampled Delta-vs-Redis consistency of the published day.", **spark)
        compute >> publish >> monitor


def _start(value: str | None) -> datetime | None:
    if value is None:
        return None
    day = date.fromisoformat(value)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def view_dag(config: Config, plan: dict[str, Any], name: str) -> DAG:
    entry = plan["views"][name]
    orchestration = entry["dag"]
    tags = {"pitstop", f"view:{name}"} | ({f"owner:{entry['owner']}"} if entry["owner"] else set())
    with DAG(
        dag_id=entry["dag_id"],
        description=(entry["description"] or f"pitstop view {name}")[:200],
        schedule=CronDataIntervalTimetable(orchestration["schedule"], timezone="UTC"),
        start_date=_start(orchestration["start_date"]),
        catchup=orchestration["catchup"],
        max_active_runs=orchestration["max_active_runs"],
        default_args=_default_args(config, entry["owner"]),
        params=_range_params(),
        tags=sorted(tags),
        doc_md=view_doc_md(name, entry, plan),
        render_template_as_native_obj=False,
    ) as dag:
        _chain(config, plan, name, entry, str(config.repo))
    return dag


def manual_dag(config: Config, plan: dict[str, Any]) -> DAG:
    names = sorted(plan["views"])
    params = _range_params()
    params["start"] = _day_param("First day to materialize (YYYY-MM-DD).", required=True)
    params["end"] = _day_param("Last day to materialize (YYYY-MM-DD).", required=True)
    params["views"] = Param(names, type="array", items={"type": "string", "enum": names},
                            description="The views to materialize (each in its own task group).")
    with DAG(
        dag_id=MANUAL_DAG_ID,
        description="Materialize any views over any range of days (trigger it with params)",
        schedule=None,
        start_date=None,
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(config, "pitstop"),
        params=params,
        tags=["pitstop"],
        doc_md="# pitstop: materialize\n\nTrigger with `views`, `start`, `end` (and `force`, `cascade`): each "
               "chosen view runs the same tasks as its own DAG over the whole range in one Spark job per task.\n"
               "Views: " + ", ".join(f"`{n}`" for n in names) + "\n",
    ) as dag:
        for name in names:
            with TaskGroup(group_id=name):
                _chain(config, plan, name, plan["views"][name], str(config.repo))
    return dag


def training_dag(config: Config, plan: dict[str, Any], name: str) -> DAG:
    entry = plan["training_sets"][name]
    features = "\n".join(f"- `{ref}`" for ref in entry["features"])
    with DAG(
        dag_id=entry["dag_id"],
        description=(entry["description"] or f"pitstop training set {name}")[:200],
        schedule=[view_asset(plan, view) for view in entry["views"]],
        start_date=None,
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(config, entry["owner"]),
        tags=sorted({"pitstop", f"training:{name}"} | ({f"owner:{entry['owner']}"} if entry["owner"] else set())),
        doc_md=f"# Training set {name}\n\n{entry['description'] or ''}\n\nRuns when every view it reads has "
               f"materialized a new day: the spine\n\n```sql\n{entry['spine_sql']}\n```\n\njoined point in time "
               f"with\n\n{features}\n\nwritten as {entry['format']} to `{entry['output']}/<run>` with its manifest.\n",
    ) as dag:
        PitstopJobOperator(task_id="build", job="training_set", repo=str(config.repo), target=name,
                           conn_id=config.airflow.spark_conn_id,
                           doc_md="jobs/training_set.py: the as-of join and its manifest.")
    return dag


def load_plan(config: Config) -> dict[str, Any]:
    path = config.plan_path
    try:
        plan: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise PlanError(f"no compiled plan at {path}: run `pitstop apply` in {config.repo}") from None
    except json.JSONDecodeError as exc:
        raise PlanError(f"{path} is not valid JSON ({exc}): run `pitstop apply` to rewrite it") from None
    return plan


def build_dags(repo: Path) -> dict[str, DAG]:
    """Every DAG of the repository's compiled plan, by dag_id. When Airflow parses the file to run one task
    (``get_parsing_context().dag_id``), only that DAG is built."""
    config = load_config(repo)
    plan = load_plan(config)
    wanted = get_parsing_context().dag_id
    builders: list[tuple[str, Any]] = [(e["dag_id"], lambda n=n: view_dag(config, plan, n))
                                       for n, e in sorted(plan["views"].items())]
    builders += [(e["dag_id"], lambda n=n: training_dag(config, plan, n))
                 for n, e in sorted(plan.get("training_sets", {}).items())]
    if plan["views"]:
        builders.append((MANUAL_DAG_ID, lambda: manual_dag(config, plan)))
    return {dag_id: build() for dag_id, build in builders if wanted is None or wanted == dag_id}
