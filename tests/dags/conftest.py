"""Airflow fixtures: a small copy of the demo repository and a real Airflow home for it.

Airflow reads its configuration when it is first imported, so the DAG-structure tests import it in this
process only after AIRFLOW_HOME points at a private folder (set here, at collection time); every Airflow
*command* runs as a subprocess with ``AirflowHome.env``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_TMP = Path(os.environ.get("TMPDIR", "/tmp"))
os.environ.setdefault("AIRFLOW_HOME", str(_TMP / f"pitstop-tests-airflow-{os.getpid()}"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class AirflowHome:
    repo: Path
    home: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        """An Airflow CLI command against this home; its output is shown when it fails."""
        proc = subprocess.run([str(BIN / "airflow"), *args], env=self.env, cwd=self.repo, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            pytest.fail(f"airflow {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n"
                        f"{proc.stderr[-4000:]}")
        return proc


def make_home(repo: Path, home: Path, port: int) -> AirflowHome:
    from pitstop.config import load_config
    from pitstop.orchestration.local import airflow_env

    env = airflow_env(load_config(repo, env={}), home=home, port=port)
    airflow = AirflowHome(repo, home, env)
    airflow.run("db", "migrate", timeout=300)
    return airflow


@pytest.fixture(scope="session")
def demo_repo(tmp_path_factory: pytest.TempPathFactory, redis_server: Any) -> Path:
    from pitstop.demo.repo import small_demo_repo

    return small_demo_repo(REPO_ROOT, tmp_path_factory.mktemp("airflow-demo"), str(redis_server.url))


@pytest.fixture(scope="session")
def airflow_home(demo_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowHome]:
    from pitstop.stores.local_redis import free_port

    yield make_home(demo_repo, tmp_path_factory.mktemp("airflow-home"), free_port())


@pytest.fixture(scope="session")
def airflow_homes(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """make(repo) -> a fresh, migrated AirflowHome for another repository, on a free port."""
    from pitstop.stores.local_redis import free_port

    def make(repo: Path) -> AirflowHome:
        return make_home(repo, tmp_path_factory.mktemp("airflow-home"), free_port())

    return make
