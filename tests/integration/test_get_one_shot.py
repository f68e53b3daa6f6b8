"""`pitstop get` against a real redis-server, read with the one-shot socket client (stores/redis_lite.py):
the same answers and the same errors as the pooled redis-py reader, without importing redis-py, pandas,
pyspark or airflow (checked on the modules of the fresh process that ran the command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from pitstop.config import load_config
from pitstop.errors import ConnectionFailed
from pitstop.plan import naming
from pitstop.plan.model import Plan
from pitstop.runtime import registry
from pitstop.runtime.online import OnlineReader
from pitstop.stores import local_redis, online
from pitstop.stores.redis_client import connect
from pitstop.stores.redis_lite import LiteClient, connect_lite
from pitstop.values import json_default

pytestmark = [pytest.mark.redis]

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pyspark", "great_expectations", "redis", "pandas", "airflow", "pyarrow")
DS = date(2026, 10, 30)
FEATURES = ["user_transactions:count_7d", "user_transactions:amount_sum_7d", "user_transactions:amount_avg_7d",
            "user_profile:country"]

RUNNER = """
import contextlib, io, json, sys
from pitstop.cli import main
err = io.StringIO()
with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as std:
    code = main(json.loads(sys.argv[1]))
heavy = sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))
print(json.dumps({"code": code, "stderr": err.getvalue(), "stdout": std.getvalue(), "imported": heavy}))
""".replace("HEAVY", repr(HEAVY))


def get(repo: Path, url: str, *argv: str) -> dict[str, Any]:
    env = {**os.environ, "PITSTOP_ONLINE_STORE_URL": url,
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(["get", *argv])], cwd=repo, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, copy_demo: Callable[..., Path]) -> Path:
    return copy_demo(tmp_path_factory.mktemp("get") / "demo", "project: demo\n", transactions=200, users=20,
                     merchants=5, days=2)


def publish_by_hand(url: str, plan: Plan) -> None:
    """Publish a generation of user_transactions for users 1 and 2 through the store's own primitives (a new
    generation, its fields, the switch script): what `pitstop publish` leaves in Redis, without Spark."""
    import msgpack

    entry = plan.view("user_transactions")
    keys = online.ViewKeys.of(plan.project, "user_transactions", entry.version)
    client = connect(url)
    try:
        generation = online.new_generation(client, keys)
        values = {1: [3, 5, 9, 10.5, 20.25, 30.0, 10.5, 4.05, 3.33, 10.5, 12.0, 13.0, 1, 2],
                  2: [0, 1, 1, 0.0, 7.0, 7.0, None, 7.0, 7.0, None, 7.0, 7.0, 0, 1]}
        for user, row in values.items():
            assert len(row) == len(entry.features)
            client.hset(keys.data(generation), naming.entity_field([user]), msgpack.packb(row))
        outcome, _ = online.switch(client, keys, generation, DS, 4, len(values), online.schema_id(entry))
        assert outcome == "switched"
        client.script_flush()  # the read script is not loaded: the one-shot client must load it (NOSCRIPT)
    finally:
        client.close()


def expected(repo: Path, url: str, rows: list[dict[str, Any]], now: datetime | None = None) -> dict[str, Any]:
    """What the pooled redis-py reader answers, printed as `pitstop get --metadata` prints it."""
    config = load_config(repo, {"PITSTOP_ONLINE_STORE_URL": url})
    reader = OnlineReader(config, registry.load_plan(config))
    try:
        assert not isinstance(reader.client, LiteClient)
        response = reader.read(FEATURES, rows, now=now)
    finally:
        reader.close()
    out = {"rows": response.to_list(), "metadata": {k: v.to_dict() for k, v in response.metadata.items()}}
    loaded: dict[str, Any] = json.loads(json.dumps(out, default=json_default))
    return loaded


@pytest.fixture
def db3(redis_url: str) -> Iterator[str]:
    """The private server's database 3 (SELECT on connect), flushed by ``redis_url`` before and after."""
    yield redis_url.rsplit("/", 1)[0] + "/3"


def test_get_reads_published_values_like_redis_py_without_importing_it(demo: Path, db3: str) -> None:
    plan = registry.load_plan(load_config(demo, {}))
    publish_by_hand(db3, plan)
    result = get(demo, db3, *FEATURES, "--entity", "user_id=1", "--entity", "user_id=2", "--entity", "user_id=3",
                 "--metadata")
    assert result["code"] == 0, result["stderr"]
    assert result["imported"] == []
    answer = json.loads(result["stdout"])
    assert answer["rows"] == [
        {"user_id": 1, "count_7d": 5, "amount_sum_7d": 20.25, "amount_avg_7d": 4.05, "country": None},
        {"user_id": 2, "count_7d": 1, "amount_sum_7d": 7.0, "amount_avg_7d": 7.0, "country": None},
        {"user_id": 3, "count_7d": 0, "amount_sum_7d": 0.0, "amount_avg_7d": None, "country": None},
    ]
    meta = answer["metadata"]
    assert meta["user_transactions"]["ds"] == "2026-10-30" and meta["user_transactions"]["delta_version"] == 4
    assert meta["user_profile"] == {"view": "user_profile", "version": plan.view("user_profile").version,
                                    "ds": None, "snapshot_time": None, "delta_version": None, "stale": True}
    now = datetime.now(UTC)
    want = expected(demo, db3, [{"user_id": 1}, {"user_id": 2}, {"user_id": 3}], now)
    assert answer["rows"] == want["rows"]
    for view in ("user_transactions", "user_profile"):
        assert {k: v for k, v in answer["metadata"][view].items() if k != "stale"} == \
            {k: v for k, v in want["metadata"][view].items() if k != "stale"}


def test_get_with_a_password_and_the_errors_redis_py_gives(demo: Path, redis_url: str) -> None:
    import redis

    admin = redis.Redis.from_url(redis_url)
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    try:
        admin.config_set("requirepass", "s3cret/#")
        good = f"redis://:s3cret%2F%23@127.0.0.1:{port}/0"
        result = get(demo, good, "user_transactions:count_7d", "--entity", "user_id=1")
        assert result["code"] == 0, result["stderr"]
        assert json.loads(result["stdout"]) == [{"user_id": 1, "count_7d": None}]  # nothing published
        assert result["imported"] == []
        for url in (f"redis://:wrong@127.0.0.1:{port}/0", f"redis://127.0.0.1:{port}/0",
                    f"redis://:s3cret@127.0.0.1:{local_redis.free_port()}/0"):
            result = get(demo, url, "user_transactions:count_7d", "--entity", "user_id=1")
            with pytest.raises(ConnectionFailed) as pooled:
                expected(demo, url, [{"user_id": 1}])
            assert result["code"] == 1
            assert result["stderr"] == f"error: {pooled.value}\n"  # the same words as redis-py's reader
            assert "s3cret" not in result["stderr"] and "wrong" not in result["stderr"]
    finally:
        admin.config_set("requirepass", "")
        admin.close()


def test_only_plain_urls_are_read_without_redis_py() -> None:
    lite = connect_lite("redis://u%40x:p%3Aw@example.test:6380/2")
    assert lite is not None and (lite.address, lite.db, lite.username, lite.password) == \
        (("example.test", 6380), 2, "u@x", "p:w")
    lite = connect_lite("unix:///tmp/redis.sock?db=4")
    assert lite is not None and (lite.address, lite.db) == ("/tmp/redis.sock", 4)
    lite = connect_lite("redis://localhost")
    assert lite is not None and (lite.address, lite.db, lite.password) == (("localhost", 6379), 0, None)
    for url in ("rediss://localhost:6380/0", "redis+cluster://localhost:7000", "redis://localhost/0?ssl_cert_reqs=none",
                "redis://localhost/x"):
        assert connect_lite(url) is None, url
