"""The tasks of pitstop's DAGs: a source sensor (deferrable) and spark-submit of the jobs in jobs/ (or, with a
Spark Connect engine, the jobs run as plain Python processes connected to it).

Imported by dags/pitstop_dags.py at parse time, so this module imports only Airflow's SDK, the Spark
provider and pitstop's pure modules at the top; the pieces a task needs when it runs come inside
``execute``. The jobs exit by pitstop's one contract (``pitstop.errors``): 3 (terminal: bad input, a bad
definition, a source not ready) and 2 (a check found problems: a failed validation gate, a monitor mismatch)
fail the task without a retry; anything else (1: transient) is retried with exponential backoff.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from pitstop.config import ArrowS3Options
from pitstop.errors import EXIT_CHECK, EXIT_TERMINAL
from pitstop.jsontypes import JSONObject
from pitstop.orchestration.schedule import run_days, snapshot_time
from pitstop.plan.model import ViewSource

TERMINAL_EXIT = EXIT_TERMINAL
JOBS = ("materialize", "publish", "monitor", "training_set")


def selected_views(context: Any, view: str | None, known: list[str]) -> list[str]:
    """The views a task acts on: its own view, or (``view=None``: the all-views DAG) params.views."""
    if view is not None:
        return [view]
    chosen = list(context["params"].get("views") or [])
    unknown = sorted(set(chosen) - set(known))
    if unknown or not chosen:
        raise AirflowFailException(f"params.views must list some of {', '.join(known)}; got {chosen}")
    return sorted(set(chosen))


def _days(context: Any) -> tuple[date, date] | None:
    from pitstop.errors import UsageError

    try:
        return run_days(context.get("data_interval_start"), context.get("data_interval_end"), context["params"])
    except UsageError as exc:
        raise AirflowFailException(str(exc)) from None


def check_source(source: ViewSource, path: str, until: datetime,
                 s3: ArrowS3Options | None = None) -> tuple[bool, str]:
    """One readiness check; a source that cannot be read yet (missing folder, no Delta log) is not ready.
    ``s3``: pyarrow S3 options for s3a:// sources (pitstop.yaml ``s3:``). A Delta table pitstop cannot read
    correctly raises UnsupportedDeltaTable: the task fails instead of waiting for ever."""
    from pitstop.stores.readiness import check

    try:
        result = check(source, path, until, s3)
    except (OSError, ValueError) as exc:
        return False, f"{path} cannot be checked yet: {type(exc).__name__}: {exc}"
    return result.ready, result.detail


Check = tuple[ViewSource, str]  # a source's plan entry and its resolved path


def _check_all(checks: list[Check], until: datetime,
               s3: ArrowS3Options | None = None) -> tuple[list[Check], list[str]]:
    """(the checks still not ready, a line per source for the log)."""
    waiting, lines = [], []
    for source, path in checks:
        ready, detail = check_source(source, path, until, s3)
        lines.append(f"{source.name}: {detail}")
        if not ready:
            waiting.append((source, path))
    return waiting, lines


class SourceReadyTrigger(BaseTrigger):
    """Runs in the triggerer: checks the sources every ``poke_seconds`` until every one is ready."""

    def __init__(self, checks: Sequence[Check | list[Any]], until: str, poke_seconds: float,
                 s3: ArrowS3Options | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        # from the sensor: (ViewSource, path); from the triggerer's copy (serialize below): [JSON, path]
        self.checks: list[Check] = [(ViewSource.from_json(source) if isinstance(source, dict) else source, path)
                                    for source, path in checks]
        self.until, self.poke_seconds, self.s3 = until, poke_seconds, s3

    def serialize(self) -> tuple[str, JSONObject]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"checks": [[source.to_json(), path] for source, path in self.checks], "until": self.until,
                 "poke_seconds": self.poke_seconds, "s3": self.s3})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        until = datetime.fromisoformat(self.until)
        checks = [(source, path) for source, path in self.checks]
        while True:
            checks, lines = await asyncio.to_thread(_check_all, checks, until, self.s3)
            if not checks:
                yield TriggerEvent({"ready": True, "detail": "; ".join(lines)})  # type: ignore[no-untyped-call]
                return
            self.log.info("sources not ready: %s; next check in %ss", "; ".join(lines), self.poke_seconds)
            await asyncio.sleep(self.poke_seconds)


class SourceReadySensor(BaseSensorOperator):
    """Waits until the source of each view it acts on holds every event before S(last day of the run): by
    default its newest event time is >= S(D) (``BatchSource(readiness=...)`` chooses the check).
    Deferrable: the waiting happens in the triggerer and holds no worker slot. Params ``force=true`` skips
    the wait. ``view=None`` (the all-views DAG): the views in params.views."""

    ui_color = "#e8f4ea"

    def __init__(self, *, view: str | None, sources: dict[str, ViewSource], repo: str, deferrable: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(mode="poke" if deferrable else "reschedule", **kwargs)
        self.view, self.sources, self.repo, self.deferrable = view, sources, repo, deferrable

    def _s3(self) -> ArrowS3Options | None:
        from pitstop.config import load_config

        config = load_config(Path(self.repo))
        return config.arrow_s3()

    def _target(self, context: Any) -> tuple[list[Check], datetime] | None:
        from pitstop.plan.naming import source_location

        views = selected_views(context, self.view, sorted(self.sources))
        days = _days(context)
        if days is None:
            return None
        checks = {(self.sources[v].name, self.sources[v].path): self.sources[v] for v in views}
        return ([(src, source_location(src.path, self.repo)) for src in checks.values()],
                snapshot_time(days[1]))

    def execute(self, context: Any) -> Any:
        target = self._target(context)
        if context["params"].get("force"):
            self.log.warning("params.force: not waiting for the source data")
            return None
        if target is None:
            self.log.info("this data interval ends no day: nothing to wait for")
            return None
        checks, until = target
        s3 = self._s3()
        waiting, lines = _check_all(checks, until, s3)
        self.log.info("sources through %s: %s", until.isoformat(), "; ".join(lines))
        if not waiting:
            return None
        if self.deferrable:
            self.defer(trigger=SourceReadyTrigger(waiting, until.isoformat(), self.poke_interval, s3),
                       method_name="execute_complete", timeout=timedelta(seconds=self.timeout))
        return super().execute(context)

    def poke(self, context: Any) -> bool:
        target = self._target(context)
        if target is None:
            return True
        waiting, lines = _check_all(*target, self._s3())
        self.log.info("sources: %s", "; ".join(lines))
        return not waiting

    def execute_complete(self, context: Any, event: JSONObject | None = None) -> None:
        self.log.info("sources ready: %s", (event or {}).get("detail"))


class PitstopJobOperator(SparkSubmitOperator):
    """spark-submit of ``jobs/<job>.py`` for one view (or training set), its arguments from the run.

    The master comes from the Airflow connection ``conn_id`` (pitstop.yaml ``airflow.spark_conn_id``,
    default ``pitstop_spark``; its host is the master, e.g. ``local[*]`` or ``spark://host:7077``). A missing
    connection is an error, never the provider's silent fallback to YARN. The Spark settings (Delta Lake,
    UTC, pitstop.yaml ``spark.conf``) and the cached Delta jars are passed as ``--conf``."""

    ui_color = "#fde9d9"

    def __init__(self, *, job: str, target: str | None, repo: str, views: dict[str, bool] | None = None,
                 view_assets: dict[str, str] | None = None, **kwargs: Any) -> None:
        """``target``: the view (or training set) the task acts on; None: the views in params.views, of
        ``views`` (every view of the plan -> online?), with ``view_assets`` (view -> asset URI) emitted
        through the task's AssetAlias outlet for the chosen views."""
        if job not in JOBS:
            raise ValueError(f"unknown pitstop job {job!r}; jobs: {', '.join(JOBS)}")
        kwargs.setdefault("name", f"pitstop-{job}-{target or 'views'}")
        super().__init__(application=str(Path(repo) / "jobs" / f"{job}.py"), **kwargs)
        self.job, self.target, self.repo, self.views = job, target, repo, views or {}
        self.view_assets = view_assets or {}

    def job_views(self, context: Any) -> list[str]:
        """The views this run acts on; publish and monitor skip the offline ones."""
        views = selected_views(context, self.target, sorted(self.views))
        if self.job in ("publish", "monitor") and self.target is None:
            views = [v for v in views if self.views[v]]
            if not views:
                raise AirflowSkipException("none of the chosen views is online")
        return views

    def job_arguments(self, context: Any) -> list[str] | None:
        """The job's command line for this run; None: nothing to do."""
        args = ["--repo", self.repo]
        if self.job == "training_set":
            return [*args, "--name", str(self.target), "--run-id", str(context["run_id"])]
        days = _days(context)
        if days is None:
            return None
        for view in self.job_views(context):
            args += ["--view", view]
        if self.job == "materialize":
            args += ["--start", days[0].isoformat(), "--end", days[1].isoformat(), "--no-publish"]
            if not context["params"].get("cascade", True):
                args.append("--no-cascade")
            if context["params"].get("force"):
                args.append("--force")  # the job's own source check, like the wait above
        elif self.job == "publish":
            args += ["--ds", days[1].isoformat()]
        else:
            from pitstop.config import load_config

            args += ["--sample", str(load_config(Path(self.repo)).airflow.consistency_sample)]
        return args

    def _run_connected(self, command: list[str], env: dict[str, str]) -> int:
        """Run a job as a Python process (its lines into the task log); its exit code. Killed with the task."""
        import subprocess

        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        self._connected = proc
        assert proc.stdout is not None
        for line in proc.stdout:
            self.log.info("%s", line.rstrip())
        return proc.wait()

    def on_kill(self) -> None:
        proc = getattr(self, "_connected", None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
        else:
            super().on_kill()

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
        from pitstop.stores.engine import ENV_ENGINE, remote_for
        from pitstop.stores.spark import SUBMIT_FIXED, classic_env, config_conf

        args = self.job_arguments(context)
        if args is None:
            self.log.info("this data interval ends no day: nothing to do")
            return
        self.application_args = args
        config = load_config(Path(self.repo))
        master = self._master()
        remote = master if master.startswith("sc://") else remote_for(config)
        python = sys.executable
        code: int | None = None
        # the job runs from the repository, as the CLI does: relative paths in the plan and in spine SQL resolve
        # the same way (the task runner is a process of its own; its directory is restored anyway)
        cwd = os.getcwd()
        os.chdir(self.repo)
        try:
            if remote is not None:  # a Spark Connect engine: the job is a plain Python process, no JVM of its own
                self.log.info("python %s on the Spark Connect engine %s", " ".join([self.application, *args]), remote)
                code = self._run_connected([python, self.application, *args], {**classic_env(), ENV_ENGINE: remote})
                if code:
                    raise AirflowException(f"the job exited with code {code}")
            else:
                conf = config_conf(config, master)
                conf.pop("spark.master")
                self.conf = {**conf, **(self.conf or {})}
                env = {"PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                       "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", python), "PYSPARK_DRIVER_PYTHON": python,
                       ENV_ENGINE: "local"}
                if master.startswith("local"):
                    env["SPARK_LOCAL_IP"] = os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")
                self.env_vars = {**env, **(self.env_vars or {})}
                self.log.info("spark-submit %s on %s (settings fixed at submit: %s)",
                              " ".join([self.application, *args]), master,
                              ", ".join(k for k in SUBMIT_FIXED if k in self.conf))
                super().execute(context)
                code = 0
        except AirflowException as exc:
            if remote is None:
                process = getattr(self._hook, "_submit_sp", None)
                code = None if process is None else process.returncode
            if code == EXIT_TERMINAL:
                raise AirflowFailException(f"pitstop {self.job} failed with a terminal error (exit "
                                           f"{EXIT_TERMINAL}: fix the input, a retry cannot help): {exc}") from None
            if code == EXIT_CHECK:
                raise AirflowFailException(f"pitstop {self.job}: a check found problems (exit {EXIT_CHECK}: a "
                                           f"failed validation gate or an online/offline mismatch, a retry gives "
                                           f"the same answer; the task log says what): {exc}") from None
            raise
        finally:
            os.chdir(cwd)
        if self.view_assets and self.outlets:  # the all-views DAG: asset events for the chosen views only
            from airflow.sdk import Asset

            events = context["outlet_events"][self.outlets[0]]
            for view in self.job_views(context):
                events.add(Asset(self.view_assets[view], group="pitstop"))


