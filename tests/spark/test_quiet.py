"""Nothing from the JVM reaches the terminal: a CLI run prints only pitstop's own lines (no Java warnings,
no Spark log), and jar resolution writes Ivy's output to a log file that the error names."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pitstop.errors import SetupError

pytestmark = pytest.mark.spark

DEFS = """
from pitstop import Aggregation, BatchSource, Entity, FeatureView
user = Entity("user", join_keys=["user_id"])
events = BatchSource("events", path="data/events")
spend = FeatureView("spend", entities=[user], source=events, online=False,
                    aggregations=[Aggregation("count", windows=["1d"]), Aggregation("approx_count_distinct",
                                  column="merchant", windows=["1d"])])
"""


def test_cli_materialize_prints_nothing_on_stderr(tmp_path: Path) -> None:
    import pandas as pd

    repo = tmp_path / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text(f"project: t\noffline_store:\n  path: {tmp_path / 'delta'}\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS))
    (repo / "data" / "events").mkdir(parents=True)
    pd.DataFrame({"user_id": [1, 1, 2], "merchant": ["a", "b", "a"],  # pandas' default: nanoseconds, naive
                  "event_timestamp": pd.to_datetime(["2026-03-01 01:00", "2026-03-01 02:00", "2026-03-02 00:00"])}
                 ).to_parquet(repo / "data" / "events" / "part.parquet")
    env = dict(os.environ)
    pitstop = [sys.executable, "-m", "pitstop.cli", "--repo", str(repo)]
    applied = subprocess.run([*pitstop, "apply"], capture_output=True, text=True, env=env, check=False)
    assert applied.returncode == 0, applied.stderr
    done = subprocess.run([*pitstop, "materialize", "spend", "--start", "2026-03-01", "--end", "2026-03-01"],
                          capture_output=True, text=True, env=env, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert "spend" in done.stdout


def test_jar_resolution_output_goes_to_a_log_named_on_failure(tmp_path: Path, monkeypatch: Any,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    from pitstop.stores import spark as spark_store

    monkeypatch.setenv("PITSTOP_CACHE_DIR", str(tmp_path / "cache"))
    coordinate = "org.example.pitstop:no-such-artifact:0.0.1"
    with pytest.raises(SetupError) as err:
        spark_store._ensure(coordinate, None, "no-such-artifact")
    log = tmp_path / "cache" / "logs" / f"jars-{spark_store._ivy_dir(coordinate).name}.log"
    assert str(err.value).startswith(f"could not download the jars {coordinate} from Maven Central (Ivy's log: "
                                     f"{log}). ")
    assert coordinate.replace(":", "#", 1).split(":")[0] in log.read_text()  # Ivy's own lines are in the log
    assert capfd.readouterr() == ("", "")
