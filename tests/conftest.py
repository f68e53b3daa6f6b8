"""Shared fixtures: one session-scoped Spark, private redis-server instances, throwaway repositories."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
UNIT = REPO_ROOT / "tests" / "unit"
# markers that say a test needs more than this process: such a test is not "pure"
IMPURE = {"spark", "redis", "slow", "cluster", "objectstore", "subprocess"}


def pytest_itemcollected(item: pytest.Item) -> None:
    """Every tests/unit test without an impure marker is ``pure``: `make check` runs ``-m pure``."""
    if item.path.is_relative_to(UNIT) and not IMPURE & {m.name for m in item.iter_markers()}:
        item.add_marker(pytest.mark.pure)


# The warm engine: the pitstop commands the tests start as processes (the CLI, jobs/, Airflow's tasks, the
# scheduler run) connect to one Spark Connect server started here for the whole run, instead of each starting a
# JVM; the tests' own in-process code uses the session-scoped `spark` fixture below, as before. With
# PITSTOP_TEST_ENGINE=local no engine starts and every command starts Spark in-process (the cold path).
ENV_TEST_ENGINE = "PITSTOP_TEST_ENGINE"
TEST_SETTINGS = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    # one JVM serves the whole session: every GX validation is a dozen Spark jobs, and their retained
    # history plus cached frames once left too little heap to broadcast a small table (a CI run)
    "spark.driver.memory": "3g",
    "spark.sql.ui.retainedExecutions": "50",
    "spark.ui.retainedJobs": "100",
    "spark.ui.retainedStages": "100",
    # the tests' tables hold a few rows: adaptive execution's re-planning submits each shuffle stage as a
    # job of its own, ~40% of the Spark jobs of a one-day materialize run (71 -> 41 on a table's first
    # run, 80 -> 49 on the next day's); production sessions keep it, for data of real size
    "spark.sql.adaptive.enabled": "false",
}
_engine: Any = None


def pytest_configure(config: pytest.Config) -> None:
    from pitstop.stores import engine

    engine.this_process = "local"  # this process (and each xdist worker) runs its own Spark: the fixture's
    if hasattr(config, "workerinput") or os.environ.get(ENV_TEST_ENGINE, "connect") == "local":
        return  # a worker inherits the controller's PITSTOP_ENGINE
    if os.environ.get(engine.ENV_ENGINE) or config.getoption("collectonly"):
        return
    global _engine
    from pitstop.stores.spark import ensure_delta_jars, session_conf

    ensure_delta_jars()
    _engine = engine.start_server(session_conf("local[2]", TEST_SETTINGS), REPO_ROOT)
    os.environ[engine.ENV_ENGINE] = _engine.url  # read by every process the tests start


def pytest_unconfigure(config: pytest.Config) -> None:
    if _engine is not None:
        from pitstop.stores.local_redis import stop_pid

        stop_pid(_engine.pid, timeout_s=30.0)


# `make test` runs two pytest-xdist workers with --dist loadgroup, whose groups are made here: a group runs in
# one worker, in file order. A file is a group (its module fixtures are built once); tests/dags is one group,
# so its session-scoped Airflow home (a database migration) is built once. (xdist's own xdist_group marker
# does not reach its scheduler under pytest 9: it renames the test ids through an attribute pytest 9 no
# longer reads.)
SHARED_GROUPS = ("tests/dags/",)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return next((g for g in SHARED_GROUPS if path.startswith(g)), path)

    return ByGroup(config, log)


def write_events(folder: Path, rows: int = 20, *, extra: dict[str, Any] | None = None) -> Path:
    """A tiny parquet source: user_id, merchant_id, amount, country, event_timestamp, created_timestamp."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    columns: dict[str, Any] = {
        "user_id": pa.array([i % 5 for i in range(rows)], pa.int64()),
        "merchant_id": pa.array([f"m{i % 3}" for i in range(rows)], pa.string()),
        "amount": pa.array([float(i) for i in range(rows)], pa.float64()),
        "country": pa.array(["US"] * rows, pa.string()),
        "event_timestamp": pa.array([start + timedelta(hours=i) for i in range(rows)], pa.timestamp("us", tz="UTC")),
        "created_timestamp": pa.array([start + timedelta(hours=i, minutes=5) for i in range(rows)],
                                      pa.timestamp("us", tz="UTC")),
    }
    columns.update(extra or {})
    pq.write_table(pa.table(columns), folder / "part-00000.parquet")
    return folder


def _copy_demo(target: Path, yaml: str, *, transactions: int = 3_000, users: int = 200, merchants: int = 20,
              days: int = 10) -> Path:
    """The demo definitions and their checked-in plan copied into ``target``, ``yaml`` as its pitstop.yaml,
    and demo data of the given size ending 2026-10-31 under data/source."""
    import shutil
    from datetime import date

    from pitstop.demo.data import generate_demo_data

    shutil.copytree(REPO_ROOT / "feature_defs", target / "feature_defs", ignore=shutil.ignore_patterns("__pycache__"))
    (target / "dags").mkdir()
    shutil.copy(REPO_ROOT / "dags" / "pitstop_plan.json", target / "dags" / "pitstop_plan.json")
    (target / "pitstop.yaml").write_text(yaml)
    generate_demo_data(target / "data" / "source", transactions=transactions, users=users, merchants=merchants,
                       days=days, end=date(2026, 10, 31))
    return target


@pytest.fixture(scope="session")
def copy_demo() -> Callable[..., Path]:
    """``copy_demo(target, yaml, transactions=, users=, merchants=, days=)``: a copy of the demo to run on."""
    return _copy_demo


SOURCE_DEFS = """
from pitstop import Aggregation, BatchSource, Entity, Feature, FeatureView

user = Entity("user", join_keys=["user_id"])
events = BatchSource("events", path="data/events", timestamp_field="event_timestamp",
                     created_timestamp_field="created_timestamp", readiness="none")
"""


class RepoFactory:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.count = 0

    def __call__(self, defs: dict[str, str] | str, *, project: str = "test", data: bool = True) -> Path:
        self.count += 1
        repo = self.base / f"repo{self.count}"
        (repo / "feature_defs").mkdir(parents=True)
        (repo / "pitstop.yaml").write_text(f"project: {project}\n")
        files = {"defs.py": defs} if isinstance(defs, str) else defs
        for name, text in files.items():
            path = repo / "feature_defs" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        if data:
            write_events(repo / "data" / "events")
        return repo

    def write(self, repo: Path, name: str, text: str) -> None:
        (repo / "feature_defs" / name).write_text(textwrap.dedent(text))


@pytest.fixture
def make_repo(tmp_path: Path) -> RepoFactory:
    return RepoFactory(tmp_path)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from pitstop.stores.spark import build_session

    session = build_session("local[2]", TEST_SETTINGS, app_name="pitstop-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A private redis-server on a free loopback port for the whole session."""
    from pitstop.stores.local_redis import free_port, start_redis

    proc = start_redis(free_port(), tmp_path_factory.mktemp("redis"))
    yield proc
    proc.stop()


@pytest.fixture
def redis_url(redis_server: Any) -> Iterator[str]:
    """The session server's URL, flushed before and after each test: a test's published views must not
    reach later tests that read the same server without this fixture (the Airflow tests' demo repository
    has the same project name as the demo copies here)."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield str(redis_server.url)
    client.flushall()
    client.close()


Factory = Callable[..., Path]
