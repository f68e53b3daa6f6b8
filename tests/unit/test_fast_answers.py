"""Fast answers: `pitstop plan` with nothing changed does not import Great Expectations, and argument mistakes of
`training-set` and `materialize` are answered, with their exit code and message, before any Spark session
starts. Each check runs the CLI in a fresh Python process and then looks at the modules it imported (no
timings are asserted)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pyspark", "great_expectations", "redis", "pandas", "airflow")

# runs each argv through pitstop.cli.main in this one process; after each, which heavy packages are imported
RUNNER = """
import contextlib, io, json, sys
from pitstop.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as std:
        code = main(argv)
    heavy = sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))
    out.append({"code": code, "stderr": err.getvalue(), "stdout": std.getvalue(), "imported": heavy})
print(json.dumps(out))
""".replace("HEAVY", repr(HEAVY))


def run_cli(repo: Path, *argvs: list[str]) -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps([list(a) for a in argvs])], cwd=repo, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    result: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, copy_demo: Callable[..., Path]) -> Path:
    repo = copy_demo(tmp_path_factory.mktemp("fast") / "demo", "project: demo\nonline_store:\n  url: "
                     "redis://127.0.0.1:1/0\n", transactions=500, users=50, merchants=10, days=3)
    import pyarrow as pa
    import pyarrow.parquet as pq

    ts = pa.array([0, 1], pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table({"user_id": pa.array([1, 2], pa.int64()), "event_timestamp": ts}), repo / "spine.parquet")
    pq.write_table(pa.table({"user_id": pa.array([1, 2], pa.int64())}), repo / "no_ts.parquet")
    pq.write_table(pa.table({"user_id": pa.array(["1", "2"]), "event_timestamp": ts}), repo / "text_key.parquet")
    pq.write_table(pa.table({"user_id": pa.array([1, 2], pa.int64()), "event_timestamp": ts,
                             "amount_sum_7d": pa.array([1.0, 2.0])}), repo / "clash.parquet")
    folder = repo / "spine_dir"
    folder.mkdir()
    pq.write_table(pa.table({"user_id": pa.array([1], pa.int32()), "event_timestamp": pa.array([0], pa.date32())}),
                   folder / "part-0.parquet")
    (repo / "out").mkdir()
    (repo / "out" / "part-0.parquet").write_bytes(b"x")
    return repo


@pytest.mark.subprocess
def test_plan_with_nothing_changed_does_not_import_great_expectations(demo: Path) -> None:
    cache = demo / ".pitstop" / "cache" / f"gx-expectations-{version('great_expectations')}.json"
    first, second = run_cli(demo, ["plan"], ["plan", "--check"])
    # the first plan checks the demo's Expect.gx against GX and keeps the answer for this GX version
    assert first["code"] == 0 and "great_expectations" in first["imported"]
    answers = json.loads(cache.read_text())
    assert answers == {json.dumps(["ExpectColumnValuesToMatchRegex", {"column": "country", "regex": "^[A-Z]{2}$"}],
                                  sort_keys=True): {"problem": None}}
    (third,) = run_cli(demo, ["plan", "--check"])  # a fresh process: nothing changed, GX never imported
    for result in (second, third):
        assert result["code"] == 0, result["stderr"]
        assert "No changes: the checked-in plan is up to date." in result["stdout"]
        assert "The checked-in plan is up to date." in result["stdout"]
    # nor pyarrow's dataset reader (and pandas with it): the sources' column types are kept while their files are
    # unchanged
    assert not {"great_expectations", "pyspark", "redis", "airflow", "pandas"} & set(third["imported"]), \
        third["imported"]
    assert "pyarrow.dataset" not in third["stdout"]


def test_source_types_are_read_again_when_a_file_changes(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pitstop.stores import schema_cache

    folder = tmp_path / "data" / "events" / "ds=2026-01-01"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"user_id": pa.array([1], pa.int64()), "amount": pa.array([1.5])}), folder / "a.parquet")
    cache = tmp_path / ".pitstop" / "cache"
    first = schema_cache.read_source_schema("data/events", "parquet", tmp_path, cache)
    assert first == {"user_id": "int64", "amount": "float64", "ds": "string"}
    kept = json.loads((cache / schema_cache.CACHE_FILE).read_text())
    assert list(kept) == [f"parquet:{(tmp_path / 'data' / 'events').resolve()}"]
    assert next(iter(kept.values()))["schema"] == first
    # a cached answer is the one returned while nothing changed (shown by editing the kept copy)
    key = next(iter(kept))
    kept[key]["schema"]["amount"] = "kept"
    (cache / schema_cache.CACHE_FILE).write_text(json.dumps(kept))
    assert schema_cache.read_source_schema("data/events", "parquet", tmp_path, cache)["amount"] == "kept"
    # a rewritten file, an added file: read again
    pq.write_table(pa.table({"user_id": pa.array([1], pa.int64()), "amount": pa.array(["x"])}), folder / "a.parquet")
    os.utime(folder / "a.parquet", ns=(1, 1))
    assert schema_cache.read_source_schema("data/events", "parquet", tmp_path, cache) == \
        {"user_id": "int64", "amount": "string", "ds": "string"}
    (tmp_path / "data" / "events" / "ds=2025-12-31").mkdir()
    pq.write_table(pa.table({"user_id": pa.array([1], pa.int64()), "amount": pa.array(["y"]), "extra": [1]}),
                   tmp_path / "data" / "events" / "ds=2025-12-31" / "b.parquet")
    assert "extra" in (schema_cache.read_source_schema("data/events", "parquet", tmp_path, cache) or {})
    # a source that does not exist (yet) is not kept
    assert schema_cache.read_source_schema("data/none", "parquet", tmp_path, cache) is None


@pytest.mark.subprocess
def test_a_changed_expectation_is_checked_by_gx_and_its_answer_kept(demo: Path, tmp_path: Path) -> None:
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(demo, repo, ignore=shutil.ignore_patterns(".pitstop", "__pycache__"))
    fraud = repo / "feature_defs" / "fraud.py"
    fraud.write_text(fraud.read_text().replace('Expect.gx("ExpectColumnValuesToMatchRegex"',
                                               'Expect.gx("ExpectColumnValuesToMatchRegexx"'))
    first, = run_cli(repo, ["plan"])
    second, = run_cli(repo, ["plan"])
    assert first["code"] == second["code"] == 3  # a bad definition: terminal
    assert "great_expectations" in first["imported"] and "great_expectations" not in second["imported"]
    message = re.search(r"expectation .*'ExpectColumnValuesToMatchRegexx' is not a Great Expectations 1\.x "
                        r"expectation \(did you mean [^)]*ExpectColumnValuesToMatchRegex[,)][^\n]*", first["stderr"])
    assert message is not None, first["stderr"]
    assert message.group(0) in second["stderr"]  # the same error, answered from the kept answer
    assert first["stderr"] == second["stderr"]


@pytest.mark.subprocess
def test_argument_mistakes_are_answered_before_spark_starts(demo: Path) -> None:
    spine = str(demo / "spine.parquet")
    out = str(demo / "new_out")
    ts = ["training-set", "--features", "user_transactions:amount_sum_7d", "--out", out]
    cases: list[tuple[list[str], int, str]] = [
        (["training-set", "--spine", spine, "--features", "user_transactions:nope", "--out", out], 3,
         "error: view 'user_transactions' has no feature 'nope'; its features: count_1d, count_7d, count_30d, "),
        (["training-set", "--spine", spine, "--features", "nope:x", "--out", out], 3,
         "error: unknown view 'nope' in 'nope:x'; views: merchant_transactions, user_profile, user_transactions"),
        (["training-set", "--spine", spine, "--features", "user_transactions:amount_sum_7d", "--out",
          str(demo / "out")], 3,
         f"error: {demo / 'out'} already exists; choose another --out or pass --overwrite"),
        (["training-set", "--spine", spine, "--features", "user_transactions:amount_sum_7d", "--out", out,
          "--format", "parquet", "--timestamp-column", "ts"], 3,
         f"error: the spine ({spine}) has no timestamp column 'ts'; its columns: user_id, event_timestamp. Pass "
         f"timestamp_column= (--timestamp-column) to name another"),
        ([*ts, "--spine", str(demo / "no_ts.parquet")], 3,
         f"error: the spine ({demo / 'no_ts.parquet'}) has no timestamp column 'event_timestamp'; its columns: "
         f"user_id."),
        ([*ts, "--spine", str(demo / "text_key.parquet")], 3,
         "error: spine column 'user_id' is string, but the views' join key user_id is bigint: cast it in the spine "
         "(e.g. CAST(user_id AS BIGINT))"),
        ([*ts, "--spine", str(demo / "clash.parquet")], 3,
         "error: feature column(s) amount_sum_7d would replace spine columns of the same name; pass "
         "full_feature_names=True (--full-names) or rename the spine columns"),
        ([*ts, "--spine", str(demo / "spine_dir")], 3,
         "error: spine column 'event_timestamp' is date; it must be a timestamp (or ISO 8601 text): a date is "
         "ambiguous (which time of the day?); cast it, e.g. CAST(event_timestamp AS TIMESTAMP) for midnight"),
        ([*ts, "--spine", str(demo / "missing.parquet")], 3,
         f"error: spine '{demo / 'missing.parquet'}' is neither an existing path (parquet, csv or Delta) nor a "
         f"Spark SQL query (SELECT ...)"),
        (["training-set", "--spine", spine, "--features", "user_transactions:amount_sum_7d"], 3,
         "error: give --out PATH to write the training set (or --print-sql to only print its SQL)"),
        (["training-set", "--from-manifest", str(demo / "nothing.json"), "--out", out], 3,
         f"error: no training-set manifest at {demo / 'nothing.json'}"),
        (["materialize", "user_transactions", "--start", "2026-10-02", "--end", "2026-10-01"], 3,
         "error: --start 2026-10-02 is after --end 2026-10-01: give a range with start <= end"),
        (["materialize", "user_transactions", "nope", "--start", "2026-10-01", "--end", "2026-10-01"], 3,
         "error: unknown view 'nope'; views in the plan: merchant_transactions, user_profile, user_transactions"),
    ]
    unknown = "error: unknown view 'nope'. Views in the plan: merchant_transactions, user_profile, user_transactions"
    cases += [(argv, 3, unknown) for argv in (["validate", "nope", "--ds", "2026-10-01"], ["history", "nope"],
                                              ["snapshot", "nope", "--ds", "2026-10-01", "--out", out],
                                              ["consistency", "nope"], ["vacuum", "user_profile", "nope"])]
    results = run_cli(demo, *[argv for argv, _, _ in cases])
    for (argv, code, message), result in zip(cases, results, strict=True):
        assert result["code"] == code, (argv, result)
        assert result["stderr"].startswith(message), (argv, result["stderr"])
        assert len(result["stderr"].strip().splitlines()) == 1, result["stderr"]
        assert "pyspark" not in result["imported"], (argv, result["imported"])
    assert not (demo / "new_out").exists()


@pytest.mark.subprocess
def test_preload_imports_great_expectations_in_a_background_thread_that_gx_waits_for() -> None:
    """materialize starts GX's import once its Spark session and source are up, so the import overlaps the run's
    Spark work; the gate's first use of GX waits for that thread instead of importing a second time."""
    code = ("import sys, threading\n"
            "from pitstop.stores import gx_suite\n"
            "assert 'great_expectations' not in sys.modules\n"
            "gx_suite.preload(); first = gx_suite._preloading\n"
            "gx_suite.preload(); assert gx_suite._preloading is first  # one thread, however often it is asked\n"
            "names = [t.name for t in threading.enumerate()]\n"
            "gx = gx_suite._gx()\n"
            "print(first.name in names, first.is_alive(), gx.__name__,\n"
            "      hasattr(gx.expectations, 'ExpectColumnToExist'))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "great_expectations", "True"]
