"""A local Airflow for a feature repository, without Docker: `pitstop airflow` and the tests use it.

AIRFLOW_HOME is ``<repo>/.airflow`` (SQLite metadata, logs, the generated admin password), the DAG and
plugin folders are the repository's, the examples are off, and the Spark connection spark-submit uses is
defined from pitstop.yaml's spark.master unless the environment defines it already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from pitstop.config import Config

ADMIN_USER = "admin"
BIN = Path(sys.executable).parent
# SQLite metadata: wait up to 60 s for a lock instead of failing at once with "database is locked" when the
# scheduler and a CLI command (say `airflow backfill create`) write at the same time.
SQLITE_CONNECT_ARGS = {"timeout": 60}


def airflow_env(config: Config, *, home: Path | None = None, port: int = 8080,
                base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for running Airflow (standalone or any component) on this repository."""
    env = dict(os.environ if base is None else base)
    home = home or config.repo / ".airflow"
    conn_var = f"AIRFLOW_CONN_{config.airflow.spark_conn_id.upper()}"
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(config.repo / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(config.repo / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__PARALLELISM": env.get("AIRFLOW__CORE__PARALLELISM", "4"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__API__PORT": str(port),
        # workers call the execution API at the base URL: it must follow the port (stack notes)
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": env.get("AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "30"),
        "PITSTOP_REPO": str(config.repo),
        # spark-submit (and the venv's airflow) from this interpreter's bin folder (stack notes)
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    })
    env.setdefault(conn_var, json.dumps({"conn_type": "spark", "host": config.spark_master}))
    if not env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS", f"{__name__}.SQLITE_CONNECT_ARGS")
        env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC", f"{__name__}.SQLITE_CONNECT_ARGS")
        # a task's calls to the execution API can wait on that lock: give them as long (default 5 s; a task
        # whose start call timed out failed in a CI run)
        env.setdefault("AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT", "60")
    return env


def admin_password(home: Path) -> str | None:
    """The password `airflow standalone` generated for the admin user, once it has."""
    path = home / "simple_auth_manager_passwords.json.generated"
    if not path.is_file():
        return None
    value = json.loads(path.read_text()).get(ADMIN_USER)
    return str(value) if value else None


def airflow_command(*args: str) -> list[str]:
    return [str(BIN / "airflow"), *args]


def migrate(env: Mapping[str, str]) -> None:
    """Create or upgrade the metadata database (SQLite under AIRFLOW_HOME by default)."""
    proc = subprocess.run(airflow_command("db", "migrate"), env=dict(env), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        from pitstop.errors import SetupError

        raise SetupError(f"`airflow db migrate` failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}"
                         f"{proc.stderr[-2000:]}")


def start_standalone(env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`airflow standalone` (scheduler, DAG processor, triggerer, api-server) in its own process group."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(airflow_command("standalone"), env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


STANDALONE = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def wait_healthy(port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 180,
                 components: tuple[str, ...] = STANDALONE, log: Path | None = None) -> dict[str, object]:
    """Poll /api/v2/monitor/health until ``components`` report healthy (default: all of `airflow standalone`;
    ``("metadatabase",)`` for an api-server alone). Raises SetupError with the log's tail when the process
    exits first or the time runs out: a failing start never hangs."""
    from pitstop.errors import SetupError

    def tail() -> str:
        return f"\n{log.read_text(errors='replace')[-3000:]}" if log is not None and log.exists() else ""

    url = f"http://localhost:{port}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SetupError(f"Airflow exited with code {process.returncode} before it was healthy{tail()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                health: dict[str, object] = json.loads(response.read())
            states = {k: (v or {}).get("status") for k, v in health.items() if isinstance(v, dict)}
            if all(states.get(k) == "healthy" for k in components):
                return health
            last = json.dumps(states)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(2)
    raise SetupError(f"Airflow was not healthy at {url} after {timeout:.0f} s (last: {last}){tail()}")


def stop(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Stop an Airflow started here and everything it forked (its own process group): TERM, then KILL."""
    import contextlib
    import signal

    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with contextlib.suppress(ProcessLookupError):  # children that outlived the leader (task runners, JVMs)
        os.killpg(process.pid, signal.SIGKILL)
