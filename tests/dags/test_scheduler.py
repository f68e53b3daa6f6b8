"""A real scheduler run: `airflow standalone` (scheduler, DAG processor, triggerer, api-server) on a one-view
repository; a 3-day backfill created with the CLI runs every task against real Spark, Delta and Redis; the
asset updates trigger the TrainingSet DAG; the same backfill again with --reprocess-behavior completed really
executes and changes no value. Slow (each task is a spark-submit): marked, still run in CI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from pitstop.stores import engine
from pitstop.stores.engine import ENV_ENGINE

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.redis]
DAG = "pitstop__spend__v1"
TRAINING_DAG = "pitstop__training__labels"
FORCE = '{"force": true}'  # the runs' params: compute days the source check refuses (here: before start_date)
DEFS = """
from datetime import date
from pitstop import Aggregation, BatchSource, Entity, FeatureView, TrainingSet

user = Entity("user", join_keys=["user_id"])
transactions = BatchSource("transactions", path="data/source/transactions")
spend = FeatureView(
    "spend", entities=[user], source=transactions, owner="ml@example.com",
    aggregations=[Aggregation("count", windows=["1d", "7d"]), Aggregation("sum", column="amount", windows=["7d"])],
    start_date=date(2027, 1, 1),  # no scheduled run before the backfill's: the test creates every run itself
)
labels = TrainingSet(
    "labels", features=["spend:count_7d", "spend:amount_sum_7d"], output="data/training/labels",
    spine_sql="SELECT user_id, event_timestamp FROM parquet.`data/source/transactions` WHERE ds = '2026-10-30'",
)
"""


def last_json(text: str) -> Any:
    """The JSON an Airflow CLI command printed after its warnings."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith(("[", "{")):
            return json.loads(line)
    raise AssertionError(f"no JSON in the output:\n{text[-2000:]}")


def runs(airflow: Any, dag_id: str) -> list[dict[str, Any]]:
    return list(last_json(airflow.run("dags", "list-runs", dag_id, "-o", "json").stdout or "[]"))


def wait_for(what: str, check: Any, timeout: float, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(20)  # each check is an Airflow CLI process (seconds of CPU): poll gently
    tail = log.read_text(errors="replace")[-6000:] if log.exists() else ""
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; standalone log tail:\n{tail}")


def backfill_done(airflow: Any, dag_id: str, days: list[str], after: str) -> Any:
    def check() -> list[dict[str, Any]] | None:
        found = {r["logical_date"][:10]: r for r in runs(airflow, dag_id) if r["logical_date"]}
        failed = [r for r in found.values() if r["state"] == "failed"]
        if failed:
            pytest.fail(f"backfill run(s) failed: {failed}")
        mine = [found.get(d) for d in days]
        if all(r is not None and r["state"] == "success" and (r["end_date"] or "") > after for r in mine):
            return mine  # type: ignore[return-value]
        return None

    return check


def create_backfill(airflow: Any, *args: str) -> None:
    """`airflow backfill create`; SQLite can refuse it while the scheduler writes ("database is locked", as the
    stack notes say), and a refused creation writes nothing, so it is retried."""
    for _ in range(8):
        proc = airflow.run("backfill", "create", *args, check=False)
        if proc.returncode == 0:
            return
        if "database is locked" not in proc.stdout + proc.stderr:
            break
        time.sleep(5)
    pytest.fail(f"airflow backfill create {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                f"{proc.stderr[-3000:]}")


def backfill_completed(airflow: Any, dag_id: str) -> bool:
    """Whether the scheduler has marked the DAG's newest backfill complete. It does so in a later loop than the
    one that finishes the last run; creating the next backfill before that fails with AlreadyRunningBackfill
    (seen in a CI run), and with the scheduler stopped it would never be marked."""
    import sqlite3

    with closing(sqlite3.connect(airflow.home / "airflow.db", timeout=60)) as db:
        row = db.execute("SELECT completed_at FROM backfill WHERE dag_id = ? ORDER BY id DESC LIMIT 1",
                         (dag_id,)).fetchone()
    return row is not None and row[0] is not None


def snapshot_rows(repo: Path, spark: Any, days: list[date]) -> dict[str, list[dict[str, Any]]]:
    from pitstop import FeatureStore

    store = FeatureStore(repo, env={})
    store.use_spark(spark)
    return {d.isoformat(): sorted((r.asDict() for r in store.snapshot("spend", d).collect()),
                                  key=lambda r: r["user_id"]) for d in days}


def test_scheduler_runs_a_cli_backfill_and_a_reprocess_changes_nothing(
        tmp_path: Path, airflow_homes: Any, redis_server: Any, spark: Any) -> None:
    from pitstop import FeatureStore
    from pitstop.config import load_config
    from pitstop.demo.data import generate_demo_data
    from pitstop.orchestration.local import start_standalone, stop, wait_healthy
    from pitstop.runtime import registry
    from pitstop.stores import delta

    repo = tmp_path / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "feature_defs" / "defs.py").write_text(DEFS)
    root = Path(__file__).resolve().parents[2]
    for folder in ("jobs", "dags"):
        (repo / folder).mkdir()
        for file in (root / folder).glob("*.py"):
            (repo / folder / file.name).write_text(file.read_text())
    (repo / "plugins").mkdir()
    (repo / "pitstop.yaml").write_text(
        f"project: sched\nspark:\n  master: local[2]\n  conf:\n    spark.sql.shuffle.partitions: \"2\"\n"
        f"    spark.ui.enabled: \"false\"\nonline_store:\n  url: {redis_server.url}\n"
        f"airflow:\n  retries: 1\n  retry_delay_seconds: 5\n  sensor_poke_seconds: 5\n  consistency_sample: 100\n")
    generate_demo_data(repo / "data" / "source", transactions=2_000, users=40, merchants=5, days=4,
                       end=date(2026, 10, 31))
    registry.apply(load_config(repo, env={}))
    airflow = airflow_homes(repo)
    port = int(airflow.env["AIRFLOW__API__PORT"])
    log = airflow.home / "standalone.log"
    # the repository's own warm engine, as a user runs it (`pitstop engine start`): the tasks find it through
    # the repository, not through PITSTOP_ENGINE, and it runs in the repository, so the training set's spine
    # SQL reads `data/source/...` from the repository, as spark-submit's jobs do (the tests' shared engine runs
    # elsewhere: relative paths there would name other files)
    airflow.env.pop(ENV_ENGINE, None)
    env = {k: v for k, v in os.environ.items() if k != ENV_ENGINE}
    started = subprocess.run([sys.executable, "-m", "pitstop.cli", "--repo", str(repo), "engine", "start"],
                             env=env, capture_output=True, text=True, check=False, timeout=300)
    assert started.returncode == 0, started.stderr
    # Backfills are created while no scheduler runs: on SQLite a creation that meets the scheduler's writes can
    # be refused half way ("database is locked"), and the scheduler then dies on the DagRun rows Airflow
    # removes again (ObjectDeletedError, seen in a CI run). With Postgres both may run at once.
    airflow.run("dags", "reserialize", timeout=300)
    airflow.run("dags", "unpause", DAG)
    airflow.run("dags", "unpause", TRAINING_DAG)
    days = ["2026-10-28", "2026-10-29", "2026-10-30"]
    began = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    # the days lie before the view's start_date (2027, so the scheduler makes no run of its own): pitstop
    # refuses such days unless forced, so the backfill's runs carry params.force
    create_backfill(airflow, "--dag-id", DAG, "--from-date", days[0], "--to-date", days[-1], "--max-active-runs", "1",
                    "--dag-run-conf", FORCE)
    process = start_standalone(airflow.env, log)
    try:
        wait_healthy(port, process, timeout=240, log=log)
        first = wait_for("the 3-day backfill", backfill_done(airflow, DAG, days, began), 1800, log)
        assert [r["run_id"].split("__")[0] for r in first] == ["backfill"] * 3
        running = engine.load(repo)
        assert running is not None
        compute_logs = sorted((airflow.home / "logs" / f"dag_id={DAG}").rglob("task_id=compute/*.log"))
        assert len(compute_logs) == 3
        assert all(f"on the Spark Connect engine {running.url}" in p.read_text() for p in compute_logs)

        store = FeatureStore(repo, env={})
        store.use_spark(spark)
        assert store.materialized_days("spend") == [date(2026, 10, d) for d in (28, 29, 30)]
        before = snapshot_rows(repo, spark, [date(2026, 10, d) for d in (28, 29, 30)])
        snapshots = f"{store.config.offline_store_path}/snapshots/spend__v1"
        version_before = delta.latest_version(spark, snapshots)
        published = store.online_reader().published("spend")
        assert published.ds == date(2026, 10, 30)  # each run published its day; the newest stays served
        keys = [{"user_id": r["user_id"]} for r in before["2026-10-30"]]
        online_before = store.get_online_features(["spend:count_7d", "spend:amount_sum_7d"], keys).to_list()
        assert [r["count_7d"] for r in online_before] == [r["count_7d"] for r in before["2026-10-30"]]

        # the compute tasks updated the view's asset: the TrainingSet DAG ran and wrote its training set
        def training_done() -> list[dict[str, Any]]:
            found = runs(airflow, TRAINING_DAG)
            failed = [r for r in found if r["state"] == "failed"]
            if failed:
                task_logs = sorted((airflow.home / "logs" / f"dag_id={TRAINING_DAG}").rglob("*.log"))
                tail = task_logs[-1].read_text()[-4000:] if task_logs else ""
                pytest.fail(f"training-set run(s) failed: {failed}\n{tail}")
            return [r for r in found if r["state"] == "success"]

        training = wait_for("the asset-triggered training-set run", training_done, 600, log)
        assert training[0]["run_id"].startswith("asset_triggered__")
        outputs = sorted((repo / "data" / "training" / "labels").iterdir())
        assert outputs and (outputs[0] / "_pitstop_manifest.json").is_file()
        manifest = json.loads((outputs[0] / "_pitstop_manifest.json").read_text())
        assert manifest["features"] == ["spend:count_7d", "spend:amount_sum_7d"]

        wait_for("the scheduler to mark the first backfill complete", lambda: backfill_completed(airflow, DAG), 600,
                 log)
        stop(process)  # the second backfill is created with no scheduler running, as the first
        again = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        create_backfill(airflow, "--dag-id", DAG, "--from-date", days[0], "--to-date", days[-1],
                        "--max-active-runs", "1", "--reprocess-behavior", "completed", "--dag-run-conf", FORCE)
        process = start_standalone(airflow.env, log)
        wait_healthy(port, process, timeout=240, log=log)
        wait_for("the reprocessing backfill", backfill_done(airflow, DAG, days, again), 1800, log)
        assert delta.latest_version(spark, snapshots) > version_before  # the runs really executed
        assert snapshot_rows(repo, spark, [date(2026, 10, d) for d in (28, 29, 30)]) == before
        assert store.online_reader().published("spend").ds == date(2026, 10, 30)
        assert store.get_online_features(["spend:count_7d", "spend:amount_sum_7d"], keys).to_list() == online_before
    finally:
        stop(process)
        engine.stop(repo)
