"""The offline store on S3 (s3a:// through Hadoop's S3A connector) against a local S3 API server (moto in
server mode, its own process on loopback): Delta commits, time travel, validation results, training-set
manifests written and rebuilt on S3, `pitstop status` reading the Delta logs with pyarrow; credentials
from the environment and never printed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.objectstore, pytest.mark.slow]
BUCKET = "lake"
SECRET = "pitstop-test-secret-7f3a9c"  # must never appear in any output
ACCESS_KEY = "pitstop-test-access-key"
CLI_TIMEOUT_S = 600
FEATURES = "user_transactions:count_7d,user_transactions:amount_sum_30d,user_transactions:amount_max_1d"


class S3Server:
    def __init__(self, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.port, self.proc, self.log = port, proc, log

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET)

    def keys(self, prefix: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 API server on a free loopback port; fails (never hangs) when it does not come up."""
    from pitstop.stores.local_redis import free_port, stop_pid

    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the S3 API server (moto) exited with code {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                stop_pid(proc.pid)
                pytest.fail(f"the S3 API server (moto) did not listen on 127.0.0.1:{port} within 30s: "
                            f"{log.read_text()[-2000:]}")
            time.sleep(0.2)
    server = S3Server(port, proc, log)
    server.client().create_bucket(Bucket=BUCKET)
    yield server
    stop_pid(proc.pid)


@pytest.fixture
def s3_repo(tmp_path: Path, s3_server: S3Server, redis_url: str, copy_demo: Callable[..., Path]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = copy_demo(tmp_path / "demo",
                     f"project: demo\noffline_store:\n  path: s3a://{BUCKET}/pitstop\n"
                     f"s3:\n  endpoint: {s3_server.endpoint}\n  region: us-east-1\n"
                     f"spark:\n  master: local[2]\n  conf:\n    spark.sql.shuffle.partitions: '2'\n"
                     f"online_store:\n  url: {redis_url}\n",
                     transactions=2_000, users=100, merchants=10, days=8)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    pq.write_table(pa.table({
        "user_id": pa.array([u for u in range(100) for _ in range(2)], pa.int64()),
        "event_timestamp": pa.array([at + timedelta(hours=h) for _ in range(100) for h in (1, 20)],
                                    pa.timestamp("us", tz="UTC")),
    }), tmp_path / "spine.parquet")
    return repo


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PITSTOP_"))}
    return {**env, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def _cli(repo: Path, *args: str, code: int = 0) -> str:
    exe = Path(sys.executable).parent / "pitstop"
    try:
        done = subprocess.run([str(exe), "--repo", str(repo), *args], env=_env(), cwd=repo, capture_output=True,
                              text=True, timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`pitstop {' '.join(args)}` did not finish in {CLI_TIMEOUT_S}s")
    both = done.stdout + done.stderr
    assert SECRET not in both, f"`pitstop {' '.join(args)}` printed the S3 secret key"
    assert done.returncode == code, f"`pitstop {' '.join(args)}` exited {done.returncode}:\n{both[-5000:]}"
    return done.stdout


def _read_parquet(server: S3Server, prefix: str) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import fs

    s3 = fs.S3FileSystem(endpoint_override=f"127.0.0.1:{server.port}", scheme="http", region="us-east-1",
                         access_key=ACCESS_KEY, secret_key=SECRET)
    files = [k for k in server.keys(prefix) if k.endswith(".parquet")]
    assert files, f"no parquet under s3://{BUCKET}/{prefix}"
    table = pa.concat_tables(pq.read_table(f"{BUCKET}/{k}", filesystem=s3) for k in files)
    return table.sort_by([(c, "ascending") for c in ("user_id", "event_timestamp")])


def test_offline_store_on_s3(s3_repo: Path, s3_server: S3Server, tmp_path: Path, redis_url: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import redis

    out = _cli(s3_repo, "config")
    assert f"s3a://{BUCKET}/pitstop" in out and s3_server.endpoint in out

    # 1. materialize two days, validate and publish: every table on S3
    out = _cli(s3_repo, "materialize", "user_transactions", "--start", "2026-10-30", "--end", "2026-10-31", "--force")
    assert "user_transactions: materialized 2 day(s) 2026-10-30 .. 2026-10-31" in out
    assert "validation passed: 2 day(s) x 13 checks (snapshot version 1)" in out, out
    assert "user_transactions: published ds 2026-10-31 (Delta version 1) to Redis" in out
    snapshots = "pitstop/snapshots/user_transactions__v1/"
    keys = s3_server.keys(snapshots)
    assert f"{snapshots}_delta_log/00000000000000000000.json" in keys
    assert any(k.startswith(f"{snapshots}ds=2026-10-31/") and k.endswith(".parquet") for k in keys)
    validation = s3_server.keys("pitstop/validation/user_transactions__v1/version=1/")
    assert any(k.endswith("/ds=2026-10-31.json") for k in validation), validation
    assert any("/docs/" in k and k.endswith(".html") for k in validation), validation  # GX Data Docs uploaded
    assert redis.Redis.from_url(redis_url).exists("pitstop:{demo:user_transactions__v1}:current")

    # 2. a training set written to S3, its manifest beside it
    ts1 = f"s3a://{BUCKET}/training/v1"
    out = _cli(s3_repo, "training-set", "--spine", str(tmp_path / "spine.parquet"), "--features", FEATURES,
               "--out", ts1)
    assert f"wrote 200 rows x 5 columns to {ts1} (parquet)" in out
    manifest = json.loads(s3_server.client().get_object(Bucket=BUCKET, Key="training/v1/_pitstop_manifest.json")
                          ["Body"].read())
    assert manifest["tables"]["user_transactions"]["version"] == 1
    first = _read_parquet(s3_server, "training/v1/")
    assert first.num_rows == 200

    # 3. a backfill changes the day the training set read: the source is corrected and 2026-10-31 recomputed
    day = s3_repo / "data" / "source" / "transactions" / "ds=2026-10-31"
    for file in day.glob("*.parquet"):
        table = pq.read_table(file)
        amounts = pa.array([9_999.0] * table.num_rows, pa.float64())
        pq.write_table(table.set_column(table.schema.get_field_index("amount"), "amount", amounts), file)
    out = _cli(s3_repo, "materialize", "user_transactions", "--start", "2026-10-31", "--end", "2026-10-31", "--force")
    assert "validation passed: 1 day(s) x 13 checks (snapshot version 2)" in out, out
    out = _cli(s3_repo, "history", "user_transactions")
    assert "2026-10-31" in out

    # 4. the manifest on S3 rebuilds the first training set exactly (time travel to version 0) ...
    out = _cli(s3_repo, "training-set", "--from-manifest", ts1, "--out", f"s3a://{BUCKET}/training/v1-rebuilt")
    rebuilt = _read_parquet(s3_server, "training/v1-rebuilt/")
    assert rebuilt.equals(first)
    # ... while a new training set sees the corrected day
    _cli(s3_repo, "training-set", "--spine", str(tmp_path / "spine.parquet"), "--features", FEATURES,
         "--out", f"s3a://{BUCKET}/training/v2")
    second = _read_parquet(s3_server, "training/v2/")
    assert set(second.column("amount_max_1d").to_pylist()) - {None} == {9_999.0}
    assert not second.equals(first)

    # 5. status reads the Delta logs on S3 with pyarrow (no Spark) and Redis
    status = json.loads(_cli(s3_repo, "status", "--json"))
    row = next(r for r in status if r["view"] == "user_transactions")
    assert row["offline"]["status"] == "ok" and row["offline"]["ds"] == "2026-10-31", row["offline"]
    assert row["offline"]["first_ds"] == "2026-10-30"
    assert row["validation"]["status"] == "ok" and row["validation"]["success"] is True, row["validation"]
    assert row["validation"]["days"] == ["2026-10-31"] and row["validation"]["snapshot_version"] == 2
    assert row["online"]["status"] == "ok" and row["online"]["ds"] == "2026-10-31"
