"""The tasks of pitstop's DAGs: a source sensor (deferrable) and spark-submit of the jobs in jobs/.

Imported by dags/pitstop_dags.py at parse time, so this module imports only Airflow's SDK, the Spark
provider and pitstop's pure modules at the top; the pieces a task needs when it runs come inside
``execute``. A job's exit code 3 (terminal: bad input, failed validation) fails the task without a retry;
anything else (1: transient) is retried with exponential backoff.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from pitstop.orchestration.schedule import run_days, snapshot_time

TERMINAL_EXIT = 3
JOBS = ("materialize", "publish", "monitor", "training_set")


def _selected(context: Any, view: str) -> None:
    """The all-views DAG passes params.views: skip the tasks of the views not chosen."""
    views = context["params"].get("views")
    if views is not None and view not in views:
        raise AirflowSkipException(f"view {view} is not in params.views {views}")


def _days(context: Any) -> tuple[date, date] | None:
    from pitstop.errors import UsageError

    try:
        return run_days(context.get("data_interval_start"), context.get("data_interval_end"), context["params"])
    except UsageError as exc:
        raise AirflowFailException(str(exc)) from None


def check_source(source: dict[str, Any], path: str, until: datetime) -> tuple[bool, str]:
    """One readiness check; a source that cannot be read yet (missing folder, no Delta log) is not ready."""
    from pitstop.orchestration.readiness import check

    try:
        result = check(source, path, until)
    except (OSError, ValueError) as exc:
        return False, f"{path} cannot be checked yet: {type(exc).__name__}: {exc}"
    return result.ready, result.detail


class SourceReadyTrigger(BaseTrigger):
    """Runs in the triggerer: checks the source every ``poke_seconds`` until it is ready."""

    def __init__(self, source: dict[str, Any], path: str, until: str, poke_seconds: float) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.source, self.path, self.until, self.poke_seconds = source, path, until, poke_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"source": self.source, "path": self.path, "until": self.until, "poke_seconds": self.poke_seconds})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        until = datetime.fromisoformat(self.until)
        while True:
            ready, detail = await asyncio.to_thread(check_source, self.source, self.path, until)
            if ready:
                yield TriggerEvent({"ready": True, "detail": detail})  # type: ignore[no-untyped-call]
                return
            self.log.info("source not ready: %s; next check in %ss", detail, self.poke_seconds)
            await asyncio.sleep(self.poke_seconds)


class SourceReadySensor(BaseSensorOperator):
    """Waits until the view's source holds every event before S(last day of the run): by default its newest
    event time is >= S(D) (``BatchSource(readiness=...)`` chooses the check). Deferrable: the waiting
    happens in the triggerer and holds no worker slot. Params ``force=true`` skips the wait."""

    ui_color = "#e8f4ea"

    def __init__(self, *, view: str, source: dict[str, Any], repo: str, deferrable: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(mode="poke" if deferrable else "reschedule", **kwargs)
        self.view, self.source, self.repo, self.deferrable = view, source, repo, deferrable

    def _target(self, context: Any) -> tuple[str, datetime] | None:
        from pitstop.plan.naming import source_location

        days = _days(context)
        if days is None:
            return None
        return source_location(self.source["path"], self.repo), snapshot_time(days[1])

    def execute(self, context: Any) -> Any:
        _selected(context, self.view)
        if context["params"].get("force"):
            self.log.warning("params.force: not waiting for source %s", self.source["name"])
            return None
        target = self._target(context)
        if target is None:
            self.log.info("this data interval ends no day: nothing to wait for")
            return None
        path, until = target
        ready, detail = check_source(self.source, path, until)
        self.log.info("source %s through %s: %s", self.source["name"], until.isoformat(), detail)
        if ready:
            return None
        if self.deferrable:
            self.defer(trigger=SourceReadyTrigger(self.source, path, until.isoformat(), self.poke_interval),
                       method_name="execute_complete", timeout=timedelta(seconds=self.timeout))
        return super().execute(context)

    def poke(self, context: Any) -> bool:
        target = self._target(context)
        if target is None:
            return True
        ready, detail = check_source(self.source, *target)
        self.log.info("source %s: %s", self.source["name"], detail)
        return ready

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> None:
        self.log.info("source %s ready: %s", self.source["name"], (event or {}).get("detail"))


class PitstopJobOperator(SparkSubmitOperator):
    """spark-submit of ``jobs/<job>.py`` for one view (or training set), its arguments from the run.

    The master comes from the Airflow connection ``conn_id`` (pitstop.yaml ``airflow.spark_conn_id``,
    default ``pitstop_spark``; its host is the master, e.g. ``local[*]`` or ``spark://host:7077``). A missing
    connection is an error, never the provider's silent fallback to YARN. The Spark settings (Delta Lake,
    UTC, pitstop.yaml ``spark.conf``) and the cached Delta jars are passed as ``--conf``."""

    ui_color = "#fde9d9"

    def __init__(self, *, job: str, target: str, repo: str, **kwargs: Any) -> None:
        if job not in JOBS:
            raise ValueError(f"unknown pitstop job {job!r}; jobs: {', '.join(JOBS)}")
        kwargs.setdefault("name", f"pitstop-{job}-{target}")
        super().__init__(application=str(Path(repo) / "jobs" / f"{job}.py"), **kwargs)
        self.job, self.target, self.repo = job, target, repo

    def job_arguments(self, context: Any) -> list[str] | None:
        """The job's command line for this run; None: nothing to do."""
        args = ["--repo", self.repo]
        if self.job == "training_set":
            return [*args, "--name", self.target, "--run-id", str(context["run_id"])]
        days = _days(context)
        if days is None:
            return None
        args += ["--view", self.target]
        if self.job == "materialize":
            args += ["--start", days[0].isoformat(), "--end", days[1].isoformat(), "--no-publish"]
            if not context["params"].get("cascade", True):
                args.append("--no-cascade")
        elif self.job == "publish":
            args += ["--ds", days[1].isoformat()]
        else:
            from pitstop.config import load_config

            args += ["--sample", str(load_config(Path(self.repo)).airflow.consistency_sample)]
        return args

    def _master(self) -> str:
        from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
        from airflow.sdk import BaseHook

        try:
            BaseHook.get_connection(self._conn_id)
        except Exception as exc:  # AirflowNotFoundException, or a secrets backend error
            raise AirflowFailException(
                f"the Airflow connection {self._conn_id!r} (the Spark master for spark-submit) is not defined "
                f"({type(exc).__name__}): define it, e.g. AIRFLOW_CONN_{self._conn_id.upper()}="
                f"'{{\"conn_type\": \"spark\", \"host\": \"local[*]\"}}' or spark://HOST:7077 "
                f"(`pitstop airflow` defines it from pitstop.yaml's spark.master)") from None
        return str(SparkSubmitHook(conn_id=self._conn_id)._connection["master"])

    def execute(self, context: Any) -> None:
        from pitstop.config import load_config
        from pitstop.stores.spark import SUBMIT_FIXED, session_conf

        if self.job != "training_set":
            _selected(context, self.target)
        args = self.job_arguments(context)
        if args is None:
            self.log.info("this data interval ends no day: nothing to do")
            return
        self.application_args = args
        config = load_config(Path(self.repo))
        master = self._master()
        conf = session_conf(master, dict(config.spark_conf))
        conf.pop("spark.master")
        self.conf = {**conf, **(self.conf or {})}
        python = sys.executable
        env = {"PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", python), "PYSPARK_DRIVER_PYTHON": python}
        if master.startswith("local"):
            env["SPARK_LOCAL_IP"] = os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")
        self.env_vars = {**env, **(self.env_vars or {})}
        self.log.info("spark-submit %s on %s (settings fixed at submit: %s)", " ".join([self.application, *args]),
                      master, ", ".join(k for k in SUBMIT_FIXED if k in self.conf))
        try:
            super().execute(context)
        except AirflowException as exc:
            process = getattr(self._hook, "_submit_sp", None)
            if process is not None and process.returncode == TERMINAL_EXIT:
                raise AirflowFailException(f"pitstop {self.job} failed with a terminal error (exit "
                                           f"{TERMINAL_EXIT}: fix the input, a retry cannot help): {exc}") from None
            raise


def utc_day(value: date) -> datetime:
    return datetime(value.year, value.month, value.day, tzinfo=UTC)
