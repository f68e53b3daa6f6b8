"""A local Airflow for a feature repository, without Docker: `pitstop airflow` and the tests use it.

AIRFLOW_HOME is ``<repo>/.airflow`` (SQLite metadata, logs, the generated admin password), the DAG and
plugin folders are the repository's, the examples are off, and the Spark connection spark-submit uses is
defined from pitstop.yaml's spark.master unless the environment defines it already.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from pitstop.config import Config

ADMIN_USER = "admin"


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
    })
    env.setdefault(conn_var, json.dumps({"conn_type": "spark", "host": config.spark_master}))
    return env


def admin_password(home: Path) -> str | None:
    """The password `airflow standalone` generated for the admin user, once it has."""
    path = home / "simple_auth_manager_passwords.json.generated"
    if not path.is_file():
        return None
    value = json.loads(path.read_text()).get(ADMIN_USER)
    return str(value) if value else None
