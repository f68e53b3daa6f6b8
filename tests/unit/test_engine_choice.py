"""Which Spark a session uses (the warm engine, a Connect endpoint, in-process), and which settings pin an
engine: pure checks; tests/spark/test_engine.py runs a real engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitstop.config import load_config
from pitstop.stores import engine


def test_engine_choice_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pitstop.yaml").write_text("project: t\nspark:\n  master: sc://cluster.example:15002\n")
    config = load_config(tmp_path, env={})
    monkeypatch.setattr(engine, "this_process", None)
    monkeypatch.delenv(engine.ENV_ENGINE, raising=False)
    assert engine.remote_for(config) == "sc://cluster.example:15002"  # pitstop.yaml's master
    monkeypatch.setenv(engine.ENV_ENGINE, "sc://127.0.0.1:15002")
    assert engine.remote_for(config) == "sc://127.0.0.1:15002"  # the variable wins
    monkeypatch.setenv(engine.ENV_ENGINE, "local")
    assert engine.remote_for(config) is None
    monkeypatch.setattr(engine, "this_process", "local")
    monkeypatch.setenv(engine.ENV_ENGINE, "sc://127.0.0.1:15002")
    assert engine.remote_for(config) is None  # this process's own choice comes first


def test_static_settings_make_the_fingerprint() -> None:
    base = {"spark.master": "local[2]", "spark.jars": "/a.jar", "spark.sql.shuffle.partitions": "8"}
    assert engine.fingerprint(base) == engine.fingerprint({**base, "spark.sql.shuffle.partitions": "2"})
    assert engine.fingerprint(base) != engine.fingerprint({**base, "spark.master": "local[1]"})
    assert engine.fingerprint(base) != engine.fingerprint({**base, "spark.hadoop.fs.s3a.endpoint": "http://x"})
    assert engine.is_static("spark.driver.memory") and not engine.is_static("spark.sql.session.timeZone")
