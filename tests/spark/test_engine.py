"""The warm engine: `pitstop engine start` runs a Spark Connect server for a repository; its commands and its
Python API connect to it (and get the same answers as in-process Spark); a changed start-up setting, or
PITSTOP_ENGINE=local, sends them back in-process; an endpoint that does not answer is a clear error, at
once; `pitstop engine stop` stops it. The sessions are made in child processes: a process that has made a
Spark Connect session keeps pyspark in Connect mode, and this one runs the tests' in-process Spark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pitstop.config import load_config
from pitstop.stores import engine

pytestmark = [pytest.mark.spark, pytest.mark.subprocess]

PROBE = """
import json, sys
from pitstop import FeatureStore
store = FeatureStore(sys.argv[1])
spark = store.spark
rows = store.sql("SELECT user_id, count_1d FROM pitstop.spend__v1 ORDER BY user_id").collect()
print(json.dumps({"connect": type(spark).__module__.startswith("pyspark.sql.connect"),
                  "tz": spark.conf.get("spark.sql.session.timeZone"),
                  "rows": [list(r) for r in rows]}))
"""
DEFS = """
from pitstop import Aggregation, BatchSource, Entity, FeatureView
user = Entity("user", join_keys=["user_id"])
events = BatchSource("events", path="data/events")
spend = FeatureView("spend", entities=[user], source=events, online=False,
                    aggregations=[Aggregation("count", windows=["1d"])])
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != engine.ENV_ENGINE}  # not the tests' own engine
    return {**env, **extra}


def _pitstop(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pitstop.cli", "--repo", str(repo), *args], capture_output=True,
                          text=True, env=_env(**env), check=False, timeout=600)


def _probe(repo: Path, **env: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", PROBE, str(repo)], capture_output=True, text=True, env=_env(**env),
                          check=False, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_commands_use_the_running_engine_and_fall_back_in_process(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    monkeypatch.setattr(engine, "this_process", None)  # status and remote_for answer as for a command
    monkeypatch.delenv(engine.ENV_ENGINE, raising=False)
    repo = tmp_path / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text("project: t\nspark:\n  master: local[1]\n  conf:\n"
                                       "    spark.sql.shuffle.partitions: \"2\"\n    spark.ui.enabled: \"false\"\n")
    (repo / "feature_defs" / "defs.py").write_text(DEFS)
    (repo / "data" / "events").mkdir(parents=True)
    pd.DataFrame({"user_id": [1, 1, 2], "event_timestamp": pd.to_datetime(
        ["2026-03-01 01:00", "2026-03-01 02:00", "2026-03-01 03:00"], utc=True)}
                 ).to_parquet(repo / "data" / "events" / "part.parquet")
    assert _pitstop(repo, "apply").returncode == 0

    started = _pitstop(repo, "engine", "start")
    assert started.returncode == 0, started.stderr
    running = engine.load(repo)
    assert running is not None and running.alive()
    assert started.stdout.startswith(f"Spark Connect engine at {running.url} (pid {running.pid}, master local[1]")
    # the start ran its warm-up workload on the new engine (Delta writes, time travel, a join) and said so
    assert running.warm_up_s is not None and running.warm_up_s > 0
    assert f"of which {running.warm_up_s:.1f} s warming it up;" in started.stdout
    try:
        config = load_config(repo, env={})
        assert engine.status(config).endswith("sessions use it")
        # a materialize over the engine: the Delta tables (created, replaced, committed) are real
        done = _pitstop(repo, "materialize", "spend", "--start", "2026-03-01", "--end", "2026-03-01", "--force")
        assert done.returncode == 0, done.stderr
        assert "spend: materialized 1 day(s) 2026-03-01 .. 2026-03-01" in done.stdout
        warm = _probe(repo)
        assert warm == {"connect": True, "tz": "UTC", "rows": [[1, 2], [2, 1]]}
        assert _probe(repo, PITSTOP_ENGINE="local") == {**warm, "connect": False}  # the cold path, same answer

        # a start-up setting changed since the engine started: commands start Spark in-process again
        (repo / "pitstop.yaml").write_text((repo / "pitstop.yaml").read_text().replace("local[1]", "local[2]"))
        assert engine.remote_for(load_config(repo, env={})) is None
        assert "is not used: pitstop.yaml's start-up Spark settings changed" in engine.status(load_config(repo, env={}))

        refused = _pitstop(repo, "sql", "SELECT 1", PITSTOP_ENGINE="sc://127.0.0.1:1")
        assert refused.returncode == 3
        assert refused.stderr.startswith("error: the Spark Connect engine at sc://127.0.0.1:1 does not answer: ")
        wrong = _pitstop(repo, "sql", "SELECT 1", PITSTOP_ENGINE="warm")
        assert wrong.returncode == 3
        assert "PITSTOP_ENGINE='warm' is neither `local` nor a Spark Connect URL" in wrong.stderr
    finally:
        stopped = _pitstop(repo, "engine", "stop")
    assert stopped.stdout.strip() == f"stopped the Spark Connect engine at {running.url} (pid {running.pid})"
    assert not engine.state_path(repo).exists()
    assert not running.alive()
    assert _pitstop(repo, "engine", "stop").stdout.strip() == "no engine runs for this repository"
