"""The same jobs on a real Spark standalone cluster (a master and two workers, separate JVMs on loopback):
materialize (with the validation gate), publish and a training set give exactly what local mode gives."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pitstop.cli import main

pytestmark = [pytest.mark.spark, pytest.mark.redis, pytest.mark.cluster, pytest.mark.slow]
VIEWS = ["user_transactions", "user_profile"]
FEATURES = ("user_transactions:count_7d,user_transactions:amount_sum_30d,user_transactions:amount_avg_7d,"
            "user_transactions:amount_max_1d,user_transactions:merchant_id_count_distinct_30d,"
            "user_profile:country,user_profile:credit_limit")
# Delta tables whose content is data (the log, quality, stats and validation tables record run ids and times)
DATA_TABLES = ["snapshots/user_transactions__v1", "tiles/user_transactions__v1", "latest/user_profile__v1"]
CLI_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from pitstop.errors import SetupError
    from pitstop.stores.local_spark import start_cluster

    try:
        cluster = start_cluster(tmp_path_factory.mktemp("spark-cluster"), workers=2, cores=1, memory="1536m")
    except SetupError as exc:
        pytest.fail(f"the Spark standalone cluster did not start: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def repo(tmp_path: Path, copy_demo: Callable[..., Path]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = copy_demo(tmp_path / "demo", "project: demo\nspark:\n  conf:\n    spark.sql.shuffle.partitions: '4'\n"
                     "    spark.databricks.delta.snapshotPartitions: '2'\n    spark.executor.memory: 1g\n")
    # spine rows before, at and after S(2026-10-31) = 2026-11-01T00:00Z, and a never-seen user
    at = datetime(2026, 11, 1, tzinfo=UTC)
    users = [*range(200), 999_999]
    times = [at + timedelta(microseconds=m) for m in (-1, 0, 1)] + [at + timedelta(hours=9)]
    pq.write_table(pa.table({
        "user_id": pa.array([u for u in users for _ in times], pa.int64()),
        "event_timestamp": pa.array([t for _ in users for t in times], pa.timestamp("us", tz="UTC")),
        "label": pa.array([i % 2 for i in range(len(users) * len(times))], pa.int64()),
    }), tmp_path / "spine.parquet")
    return repo


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    exe = Path(sys.executable).parent / "pitstop"
    try:
        done = subprocess.run([str(exe), *args], env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`pitstop {' '.join(args)}` on the cluster did not finish in {CLI_TIMEOUT_S}s: "
                    f"{(exc.stderr or b'')[-3000:]!r}")
    assert done.returncode == 0, f"`pitstop {' '.join(args)}` failed:\n{done.stdout}\n{done.stderr[-5000:]}"
    return done.stdout


def _table(spark: Any, path: Path) -> list[tuple[Any, ...]]:
    frame = spark.read.format("delta").load(str(path))
    columns = sorted(frame.columns)
    return [tuple(r) for r in frame.select(*columns).orderBy(*columns).collect()]


def _redis(url: str) -> dict[bytes, Any]:
    """Every key's content; the publish pointer without its wall-clock time."""
    import redis

    client = redis.Redis.from_url(url)
    out: dict[bytes, Any] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"hash":
            value = client.hgetall(key)
            value.pop(b"published_at", None)
        elif kind == b"string":
            value = client.get(key)
        elif kind == b"zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            value = (kind, client.dump(key))
        out[key] = value
    client.close()
    return out


def test_cluster_run_equals_local_run(repo: Path, tmp_path: Path, spark: Any, spark_cluster: Any,
                                      redis_server: Any, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow.parquet as pq
    import redis

    base = redis_server.url.rsplit("/", 1)[0]
    local_url, cluster_url = f"{base}/1", f"{base}/2"
    for url in (local_url, cluster_url):
        redis.Redis.from_url(url).flushdb()
    materialize = ["materialize", *VIEWS, "--start", "2026-10-30", "--end", "2026-10-31", "--force"]
    training = ["training-set", "--spine", str(tmp_path / "spine.parquet"), "--features", FEATURES]

    # local[2]: the session fixture, in-process
    monkeypatch.setenv("PITSTOP_OFFLINE_STORE_PATH", str(tmp_path / "local"))
    monkeypatch.setenv("PITSTOP_ONLINE_STORE_URL", local_url)
    assert main(["--repo", str(repo), *materialize]) == 0, capsys.readouterr().err
    assert main(["--repo", str(repo), *training, "--out", str(tmp_path / "ts-local")]) == 0, capsys.readouterr().err
    capsys.readouterr()

    # the cluster: the same commands in their own driver process, spark.master from the environment
    env = {**os.environ, "PITSTOP_SPARK_MASTER": spark_cluster.master_url, "SPARK_LOCAL_IP": "127.0.0.1",
           "PITSTOP_ENGINE": "local",  # the cluster, not the tests' warm engine
           "PITSTOP_OFFLINE_STORE_PATH": str(tmp_path / "cluster"), "PITSTOP_ONLINE_STORE_URL": cluster_url,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = _cli(["--repo", str(repo), *materialize], env, repo)
    assert "user_transactions: materialized 2 day(s) 2026-10-30 .. 2026-10-31" in out
    assert "validation passed: 2 day(s) x 13 checks" in out
    assert "user_transactions: published ds 2026-10-31 (Delta version 1) to Redis: 187 entities" in out
    assert "user_profile: published ds 2026-10-31 (Delta version 1)" in out
    out = _cli(["--repo", str(repo), *training, "--out", str(tmp_path / "ts-cluster")], env, repo)

    # it really ran distributed: one application per command, with executors on both workers
    status = spark_cluster.status()
    apps = status["completedapps"] + status["activeapps"]
    assert len(apps) == 2, apps
    for work in spark_cluster.worker_dirs():
        runs = sorted(p.name for p in work.glob("app-*"))
        assert len(runs) == 2, f"{work}: {runs}"  # an executor of each application ran on this worker
        assert all((work / r).rglob("stderr") for r in runs)

    # the same Delta tables, row for row
    for table in DATA_TABLES:
        local_rows = _table(spark, tmp_path / "local" / table)
        assert local_rows, table
        assert _table(spark, tmp_path / "cluster" / table) == local_rows, table
    # the same training set, every spine row kept
    order = [("user_id", "ascending"), ("event_timestamp", "ascending")]
    ts_local = pq.read_table(tmp_path / "ts-local").sort_by(order)
    ts_cluster = pq.read_table(tmp_path / "ts-cluster").sort_by(order)
    assert ts_local.num_rows == 201 * 4
    assert ts_cluster.equals(ts_local)
    # the same online values, byte for byte (the publish pointer's clock time aside)
    local_redis, cluster_redis = _redis(local_url), _redis(cluster_url)
    assert len(local_redis) == 8
    assert cluster_redis == local_redis
