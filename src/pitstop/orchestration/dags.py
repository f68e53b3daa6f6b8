"""The compiled plan -> Airflow DAGs (used by dags/pitstop_dags.py; reads only the plan and pitstop.yaml).

One DAG per view version (``pitstop__<view>__v<N>``): ``wait_for_source`` >> ``compute`` >> ``publish`` >>
``monitor`` (publish and monitor for online views), each acting only on its run's days, so reruns and
backfills are idempotent. One DAG per TrainingSet (``pitstop__training__<name>``), run when the snapshot
assets of its views update. One manual DAG, ``pitstop__materialize``, for any views over any range.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, AssetAlias, CronDataIntervalTimetable, Param, get_parsing_context

from pitstop.config import Config, load_config
from pitstop.errors import PlanError
from pitstop.orchestration.operators import PitstopJobOperator, SourceReadySensor
from pitstop.orchestration.schedule import view_doc_md
from pitstop.plan import model, naming
from pitstop.plan.model import Plan

MANUAL_DAG_ID = f"pitstop{naming.SEPARATOR}materialize"
MANUAL_ALIAS = "pitstop-materialize"


def _day_param(description: str, *, required: bool = False) -> Param:
    if required:
        return Param(type="string", format="date", description=description)
    return Param(None, type=["null", "string"], format="date", description=description)


def _range_params() -> dict[str, Param]:
    return {
        "start": _day_param("First day to materialize (YYYY-MM-DD). Empty: the run's data interval."),
        "end": _day_param("Last day to materialize (YYYY-MM-DD). Empty: the run's data interval."),
        "force": Param(False, type="boolean", description="Do not wait for the source data, and compute days the "
                                                              "source check refuses (before the first event or "
                                                              "start_date): compute with what the source holds now."),
        "cascade": Param(True, type="boolean", description="Also recompute later materialized snapshots whose "
                                                               "windows include a recomputed day."),
    }


def _default_args(config: Config, owner: str | None) -> dict[str, Any]:
    settings = config.airflow
    return {
        "owner": owner or "pitstop",
        "retries": settings.retries,
        "retry_delay": timedelta(seconds=settings.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(seconds=settings.max_retry_delay_seconds),
    }


def view_asset(plan: Plan, name: str) -> Asset:
    entry = plan.views[name]
    return Asset(naming.asset_uri(plan.project, name, entry.version), group="pitstop")


def _chain(config: Config, plan: Plan, view: str | None, repo: str) -> None:
    """wait_for_source >> compute >> publish >> monitor for one view, or (view=None) for params.views."""
    settings = config.airflow
    views = plan.views if view is None else {view: plan.views[view]}
    online = {name: bool(entry.online) for name, entry in views.items()}
    wait = SourceReadySensor(
        task_id="wait_for_source", view=view, sources={n: e.source for n, e in views.items()}, repo=repo,
        deferrable=settings.deferrable, poke_interval=settings.sensor_poke_seconds,
        timeout=settings.sensor_timeout_seconds,
        doc_md="Waits until the source holds every event before S(D) of the run's last day, at most "
               f"{settings.sensor_timeout_seconds} s.")
    spark: dict[str, Any] = {"repo": repo, "target": view, "views": online, "conn_id": settings.spark_conn_id}
    if view is None:
        assets: dict[str, Any] = {"outlets": [AssetAlias(MANUAL_ALIAS)],
                                  "view_assets": {n: view_asset(plan, n).uri for n in views}}
    else:
        assets = {"outlets": [view_asset(plan, view)]}
    compute = PitstopJobOperator(task_id="compute", job="materialize",
                                 doc_md="Tiles and snapshots of the run's days into Delta, then the validation gate "
                                        "(jobs/materialize.py): a failing day is rolled back, not retried.",
                                 **assets, **spark)
    wait >> compute
    if any(online.values()):
        publish = PitstopJobOperator(task_id="publish", job="publish",
                                     doc_md="The run's last day into Redis (atomic switch; an older day never "
                                            "replaces a newer one).", **spark)
        monitor = PitstopJobOperator(task_id="monitor", job="monitor",
                                     doc_md="Sampled Delta-vs-Redis consistency of the published day.", **spark)
        compute >> publish >> monitor


def _start(day: date | None) -> datetime | None:
    if day is None:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def view_dag(config: Config, plan: Plan, name: str) -> DAG:
    entry = plan.views[name]
    orchestration = entry.dag
    tags = {"pitstop", f"view:{name}"} | ({f"owner:{entry.owner}"} if entry.owner else set())
    with DAG(
        dag_id=entry.dag_id,
        description=(entry.description or f"pitstop view {name}")[:200],
        schedule=CronDataIntervalTimetable(orchestration.schedule, timezone="UTC"),
        start_date=_start(orchestration.start_date),
        catchup=orchestration.catchup,
        max_active_runs=orchestration.max_active_runs,
        default_args=_default_args(config, entry.owner),
        params=_range_params(),
        tags=sorted(tags),
        doc_md=view_doc_md(name, entry, plan),
    ) as dag:
        _chain(config, plan, name, str(config.repo))
    return dag


def manual_dag(config: Config, plan: Plan) -> DAG:
    names = sorted(plan.views)
    params = _range_params()
    params["start"] = _day_param("First day to materialize (YYYY-MM-DD).", required=True)
    params["end"] = _day_param("Last day to materialize (YYYY-MM-DD).", required=True)
    params["views"] = Param(names, type="array", items={"type": "string", "enum": names},
                            description="The views to materialize (in one Spark job per task).")
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
        doc_md="# pitstop: materialize\n\nTrigger with `views`, `start`, `end` (and `force`, `cascade`): the chosen "
               "views run the same tasks as their own DAGs, over the whole range, all views in one Spark job per "
               "task; the asset events of the chosen views are emitted (through the alias "
               f"`{MANUAL_ALIAS}`), so their training sets follow.\n"
               "Views: " + ", ".join(f"`{n}`" for n in names) + "\n",
    ) as dag:
        _chain(config, plan, None, str(config.repo))
    return dag


def training_dag(config: Config, plan: Plan, name: str) -> DAG:
    entry = plan.training_sets[name]
    features = "\n".join(f"- `{ref}`" for ref in entry.features)
    with DAG(
        dag_id=entry.dag_id,
        description=(entry.description or f"pitstop training set {name}")[:200],
        schedule=[view_asset(plan, view) for view in entry.views],
        start_date=None,
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(config, entry.owner),
        tags=sorted({"pitstop", f"training:{name}"} | ({f"owner:{entry.owner}"} if entry.owner else set())),
        doc_md=f"# Training set {name}\n\n{entry.description or ''}\n\nRuns when every view it reads has "
               f"materialized a new day: the spine\n\n```sql\n{entry.spine_sql}\n```\n\njoined point in time "
               f"with\n\n{features}\n\nwritten as {entry.format} to `{entry.output}/<run>` with its manifest.\n",
    ) as dag:
        PitstopJobOperator(task_id="build", job="training_set", repo=str(config.repo), target=name,
                           conn_id=config.airflow.spark_conn_id,
                           doc_md="jobs/training_set.py: the as-of join and its manifest.")
    return dag


def load_plan(config: Config) -> Plan:
    plan = model.read(config.plan_path)
    if plan is None:
        raise PlanError(f"no compiled plan at {config.plan_path}: run `pitstop apply` in {config.repo}")
    return plan


def build_dags(repo: Path) -> dict[str, DAG]:
    """Every DAG of the repository's compiled plan, by dag_id. When Airflow parses the file to run one task
    (``get_parsing_context().dag_id``), only that DAG is built."""
    config = load_config(repo)
    plan = load_plan(config)
    wanted = get_parsing_context().dag_id
    builders: list[tuple[str, Any]] = [(e.dag_id, lambda n=n: view_dag(config, plan, n))
                                       for n, e in sorted(plan.views.items())]
    builders += [(e.dag_id, lambda n=n: training_dag(config, plan, n))
                 for n, e in sorted(plan.training_sets.items())]
    if plan.views:
        builders.append((MANUAL_DAG_ID, lambda: manual_dag(config, plan)))
    return {dag_id: build() for dag_id, build in builders if wanted is None or wanted == dag_id}
