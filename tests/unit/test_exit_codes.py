"""The one exit-code contract of the CLI and the jobs (0 done, 1 transient, 2 a check found problems, 3 terminal),
each code from a real failing case, and the one reporter (plain lines in logs, a live bar in a terminal)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from pitstop.cli import build_parser, main
from pitstop.errors import (
    EXIT_CHECK,
    EXIT_TERMINAL,
    EXIT_TRANSIENT,
    ConnectionFailed,
    ConsistencyError,
    DefinitionError,
    JobFailed,
    PitstopError,
    PlanError,
    SourceNotReady,
    UsageError,
    ValidationFailed,
    exit_code_for,
)
from pitstop.runtime.reporter import Reporter

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_each_error_class_says_its_exit_code() -> None:
    from datetime import date

    assert [exit_code_for(e) for e in (ConnectionFailed("x"), JobFailed("x"))] == [1, 1]
    assert [exit_code_for(e) for e in (ValidationFailed("x"), ConsistencyError("x"))] == [2, 2]
    assert [exit_code_for(e) for e in (DefinitionError("x"), SourceNotReady("x"), UsageError("x"), PlanError("x"),
                                       PitstopError("x"))] == [3, 3, 3, 3, 3]
    assert exit_code_for(ValueError("a bug")) == 1  # like an uncaught exception: Python exits 1
    # retry only the transient ones: a check's answer and a terminal error stay as they are
    assert ConnectionFailed("x").transient and not ConnectionFailed("x").terminal
    assert ValidationFailed("x").terminal and SourceNotReady("x").terminal and not SourceNotReady("x").transient
    # errors carry what they are about: nothing parses their text
    error = ValidationFailed("gate", view="spend", version=2, days=[date(2026, 4, 3), date(2026, 4, 2)],
                             snapshot_version=7)
    assert (error.view, error.start, error.end, error.days, error.version, error.snapshot_version) == (
        "spend", date(2026, 4, 2), date(2026, 4, 3), [date(2026, 4, 3), date(2026, 4, 2)], 2, 7)
    assert ConsistencyError("x", views=["a", "b"]).views == ["a", "b"]
    assert SourceNotReady("x", view="v", start=date(2026, 1, 1), end=date(2026, 1, 2)).end == date(2026, 1, 2)


def test_a_bad_definition_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "shop"
    assert run(capsys, "init", str(repo))[0] == 0
    defs = repo / "feature_defs" / "example.py"
    defs.write_text(defs.read_text().replace('windows=["7d"]),', 'windows=["7 days"]),'))
    for command in ("plan", "apply"):
        code, out, err = run(capsys, "--repo", str(repo), command)
        assert code == EXIT_TERMINAL == 3, err
        assert out == "" and err.startswith("error: 1 problem(s) in the feature definitions:\n")
        assert "example.py:" in err and "7 days" in err


def test_plan_drift_under_check_exits_2_and_plan_without_check_exits_0(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "shop"
    assert run(capsys, "init", str(repo))[0] == 0
    defs = repo / "feature_defs" / "example.py"
    text = defs.read_text()
    assert 'owner="you@example.com"' in text
    defs.write_text(text.replace('owner="you@example.com"', 'owner="data@example.com"'))  # no bump needed
    code, out, err = run(capsys, "--repo", str(repo), "plan", "--check")
    assert code == EXIT_CHECK == 2
    assert "customer_orders" in out
    assert err == "\nThe checked-in plan is stale: run `pitstop apply` and commit dags/pitstop_plan.json.\n"
    code, out, err = run(capsys, "--repo", str(repo), "plan")
    assert (code, err) == (0, "") and out.rstrip().endswith("Run `pitstop apply` to write the plan.")
    assert run(capsys, "--repo", str(repo), "apply")[0] == 0
    assert run(capsys, "--repo", str(repo), "plan", "--check")[0] == 0


def test_a_redis_server_that_is_down_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from pitstop.stores.local_redis import free_port, start_redis

    repo = tmp_path / "shop"
    assert run(capsys, "init", str(repo))[0] == 0
    server = start_redis(free_port(), tmp_path / "redis")
    monkeypatch.setenv("PITSTOP_ONLINE_STORE_URL", f"redis://127.0.0.1:{server.port}/0")
    argv = ["--repo", str(repo), "get", "customer_orders:count_7d", "--entity", "customer_id=1"]
    try:
        code, out, _ = run(capsys, *argv)
        assert code == 0 and '"count_7d": null' in out  # up: nothing published yet
    finally:
        server.stop()
    code, out, err = run(capsys, *argv)
    assert code == EXIT_TRANSIENT == 1
    assert out == "" and err.startswith("error: ") and f"127.0.0.1:{server.port}" in err


def test_the_jobs_exit_by_the_same_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A job's command line is the CLI's contract: a command-line mistake and an unknown view are terminal (3),
    answered before any Spark session starts."""
    repo = tmp_path / "shop"
    assert run(capsys, "init", str(repo))[0] == 0
    job = [sys.executable, str(ROOT / "jobs" / "materialize.py"), "--repo", str(repo)]
    bad_day = subprocess.run([*job, "--view", "customer_orders", "--start", "2026-13-01", "--end", "2026-01-20"],
                             capture_output=True, text=True, timeout=120)
    assert bad_day.returncode == 3
    assert "argument --start: '2026-13-01' is not a date in YYYY-MM-DD form" in bad_day.stderr
    unknown = subprocess.run([*job, "--view", "nope", "--start", "2026-01-20", "--end", "2026-01-20"],
                             capture_output=True, text=True, timeout=120)
    assert (unknown.returncode, unknown.stdout) == (3, "")
    assert unknown.stderr == ("error: unknown view 'nope'; views in the plan: customer_last_order, "
                              "customer_orders\n")
    monitor = subprocess.run([sys.executable, str(ROOT / "jobs" / "monitor.py"), "--repo", str(repo), "--view",
                              "customer_orders", "--sample", "many"], capture_output=True, text=True, timeout=120)
    assert monitor.returncode == 3 and "argument --sample: invalid int value: 'many'" in monitor.stderr


def test_help_states_the_contract() -> None:
    parser = build_parser()
    text = parser.format_help()
    assert "exit codes:\n  0  done\n  1  transient error" in text
    assert "  2  a check found problems" in text and "  3  terminal error" in text
    sub = next(a for a in parser._actions if a.dest == "command").choices  # type: ignore[attr-defined]
    assert "exit 2 when the checked-in plan" in sub["plan"].format_help()
    assert "on one day's snapshot; exit 2 when it fails" in " ".join(text.split())  # validate
    assert "exit 2 when one fails" in " ".join(text.split())  # doctor
    for job in ("materialize", "publish", "monitor", "training_set"):
        done = subprocess.run([sys.executable, str(ROOT / "jobs" / f"{job}.py"), "--help"], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0 and "exit codes:\n  0  done\n" in done.stdout


def test_the_reporter_writes_plain_lines_when_not_a_terminal() -> None:
    out, err = io.StringIO(), io.StringIO()
    reporter = Reporter(stdout=out, stderr=err)
    assert not reporter.live  # a StringIO is no terminal
    reporter.out("result")
    reporter.warn("careful")
    with reporter.progress("spend", 2, unit="chunk") as progress:
        progress.step("2026-03-01..2026-03-03", rows=1200)
        reporter.info("between the steps")
        progress.step("2026-03-04..2026-03-04", rows=300)
    assert out.getvalue() == "result\n"
    lines = err.getvalue().splitlines()
    assert lines[0] == "warning: careful"
    assert lines[1].startswith("spend: chunk 1/2 (2026-03-01..2026-03-03) done; 1,200 rows, ")
    assert lines[1].endswith("s") and " rows/s, ETA " in lines[1]
    assert lines[2] == "between the steps"
    assert lines[3].startswith("spend: chunk 2/2 (2026-03-04..2026-03-04) done; 1,500 rows, ")
    assert lines[3].endswith("ETA 0s") and len(lines) == 4


def test_the_reporter_draws_a_live_bar_with_rows_per_second_and_eta_in_a_terminal() -> None:
    err = io.StringIO()
    reporter = Reporter(live=True, stdout=io.StringIO(), stderr=err)
    with reporter.progress("spend", 3, unit="chunk") as progress:
        progress.step("2026-03-01..2026-03-30", rows=30_000)
        reporter.warn("shown above the bar")
        progress.step("2026-03-31..2026-04-29", rows=30_000)
    screen = err.getvalue()
    assert "\x1b[" in screen  # drawn with terminal control sequences, not plain lines
    assert "warning: shown above the bar" in screen
    assert "chunk 2/3" in screen and "60,000 rows" in screen and "rows/s" in screen and "ETA " in screen
    assert "done;" not in screen  # no plain progress line


def test_runtime_code_does_not_print() -> None:
    """Runtime messages go through the reporter (runtime/reporter.py is the one place that writes)."""
    found = []
    for path in sorted((ROOT / "src" / "pitstop" / "runtime").glob("*.py")):
        if path.name == "reporter.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "print(" in line or "sys.stderr.write" in line:
                found.append(f"{path.name}:{number}: {line.strip()}")
    assert found == []
