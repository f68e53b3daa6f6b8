"""`pitstop materialize`, `snapshot` and `history`, and the job entry point, on the demo definitions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pitstop.cli import main

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_repo(tmp_path: Path, spark: Any, redis_url: str, copy_demo: Callable[..., Path]) -> Path:
    return copy_demo(tmp_path / "demo", f"project: demo\noffline_store:\n  path: {tmp_path / 'delta'}\n"
                                         f"online_store:\n  url: {redis_url}\n")


def test_materialize_snapshot_history(demo_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--repo", str(demo_repo), "materialize", "user_transactions", "user_profile",
                 "--start", "2026-10-30", "--end", "2026-10-31", "--force"])  # the data ends on 10-31
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "user_transactions: materialized 2 day(s) 2026-10-30 .. 2026-10-31" in out
    assert "user_profile: materialized 2 day(s)" in out
    # then published: the newest day, read back online through `pitstop get`
    assert "user_transactions: published ds 2026-10-31 (Delta version 1) to Redis: " in out
    assert "user_profile: published ds 2026-10-31" in out
    capsys.readouterr()
    assert main(["--repo", str(demo_repo), "get", "user_transactions:count_7d", "user_profile:country",
                 "--entity", "user_id=1", "--entity", "user_id=999999"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [sorted(r) for r in got] == [["count_7d", "country", "user_id"]] * 2
    assert got[1] == {"user_id": 999999, "count_7d": 0, "country": None}  # unknown: empty-window values
    assert got[0]["country"] is not None  # user 1's profile row predates the materialized days: still served
    assert main(["--repo", str(demo_repo), "get", "user_transactions:count_7d", "--entity", "user_id=x"]) == 3
    assert "user_id is int64 in the plan; 'x' is not a whole number" in capsys.readouterr().err
    target = tmp_path / "snap.parquet"
    assert main(["--repo", str(demo_repo), "snapshot", "user_transactions", "--ds", "2026-10-31",
                 "--out", str(target)]) == 0
    table = pq.read_table(target)
    assert table.column_names[:2] == ["user_id", "feature_timestamp"]
    assert "merchant_id_count_distinct_30d" in table.column_names and table.num_rows > 100
    assert main(["--repo", str(demo_repo), "snapshot", "user_profile", "--ds", "2026-10-31",
                 "--out", str(tmp_path / "p.parquet")]) == 0
    profile = pq.read_table(tmp_path / "p.parquet")
    assert profile.column_names == ["user_id", "feature_timestamp", "country", "credit_limit", "is_verified"]
    assert len(set(profile.column("user_id").to_pylist())) == profile.num_rows  # one row per user
    capsys.readouterr()
    assert main(["--repo", str(demo_repo), "history", "user_transactions"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["VERSION", "TIMESTAMP", "OPERATION", "DS", "RANGE", "RUN"]
    assert lines[1].split()[0] == "1" and "2026-10-30..2026-10-31" in lines[1]
    assert lines[2].split()[0] == "0" and "CREATE TABLE" in lines[2]


def test_bad_range_and_unknown_view(demo_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--repo", str(demo_repo), "materialize", "user_transactions", "--start", "2026-10-31",
                 "--end", "2026-10-30"]) == 3
    assert "--start 2026-10-31 is after --end 2026-10-30" in capsys.readouterr().err
    assert main(["--repo", str(demo_repo), "materialize", "nope", "--start", "2026-10-31",
                 "--end", "2026-10-31"]) == 3
    assert "unknown view 'nope'; views in the plan: merchant_transactions, user_profile, user_transactions" \
        in capsys.readouterr().err


def test_job_entry_point(demo_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("materialize_job", ROOT / "jobs" / "materialize.py")
    assert spec is not None and spec.loader is not None
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    code = job.main("materialize", ["--repo", str(demo_repo), "--view", "merchant_transactions",
                                    "--start", "2026-10-31", "--end", "2026-10-31", "--no-publish", "--force"])
    assert code == 0
    out = capsys.readouterr().out
    assert "merchant_transactions: materialized 1 day(s) 2026-10-31 .. 2026-10-31" in out
    assert "published" not in out
    spec = importlib.util.spec_from_file_location("publish_job", ROOT / "jobs" / "publish.py")
    assert spec is not None and spec.loader is not None
    publish_job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(publish_job)
    assert publish_job.main("publish", ["--repo", str(demo_repo), "--view", "merchant_transactions"]) == 0
    assert "merchant_transactions: published ds 2026-10-31" in capsys.readouterr().out
    assert publish_job.main("publish", ["--repo", str(demo_repo), "--view", "merchant_transactions"]) == 0
    assert "is already published; nothing changed" in capsys.readouterr().out
    assert job.main("materialize", ["--repo", str(demo_repo), "--view", "merchant_transactions",
                                    "--start", "2026-10-31", "--end", "2026-10-30"]) == 3  # terminal: do not retry
