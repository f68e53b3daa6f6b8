"""The CLI commands, run in-process against real throwaway repositories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pitstop.cli import build_parser, main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_plan_apply_ls_describe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "shop"
    code, out, err = run(capsys, "init", str(repo))
    assert code == 0 and err == ""
    assert out.splitlines() == [
        f"Created a feature repository in {repo}:", "  pitstop.yaml", "  feature_defs/example.py", "  .gitignore",
        "  dags/pitstop_dags.py", "  jobs/materialize.py", "  jobs/publish.py", "  jobs/monitor.py",
        "  jobs/training_set.py", "  data/source/orders",
        "  dags/pitstop_plan.json (the compiled plan: customer_last_order, customer_orders)",
        "Next:", f"  cd {repo}", "  pitstop ls",
        "  pitstop materialize customer_last_order customer_orders --start 2026-01-18 --end 2026-01-30   # the "
        "sample days whose data is complete (--no-publish: without Redis)",
        "  edit feature_defs/example.py, then: pitstop plan && pitstop apply"]
    # exactly these files: the config, the example, the DAG file and jobs, 14 days of sample orders, the plan;
    # besides them only what compiling the plan keeps in .pitstop/cache/ (ignored by the repository's .gitignore)
    assert ".pitstop/" in (repo / ".gitignore").read_text().splitlines()
    assert sorted(str(p.relative_to(repo / ".pitstop")) for p in (repo / ".pitstop").rglob("*") if p.is_file()) == \
        ["cache/source-schemas.json"]
    assert sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file()
                  and p.relative_to(repo).parts[0] != ".pitstop") == sorted([
        ".gitignore", "pitstop.yaml", "feature_defs/example.py", "dags/pitstop_dags.py", "dags/pitstop_plan.json",
        "jobs/materialize.py", "jobs/monitor.py", "jobs/publish.py", "jobs/training_set.py",
        *[f"data/source/orders/ds=2026-01-{d:02d}/part-00000.parquet" for d in range(18, 32)]])
    assert "project: shop" in (repo / "pitstop.yaml").read_text()

    # the plan is compiled and checked in: a new repository is usable at once and passes the CI check
    code, out, _ = run(capsys, "--repo", str(repo), "plan", "--check")
    assert code == 0 and "The checked-in plan is up to date." in out
    code, out, _ = run(capsys, "--repo", str(repo), "apply")
    assert code == 0 and out.rstrip().endswith("Nothing to write.")
    plan = json.loads((repo / "dags" / "pitstop_plan.json").read_text())
    assert plan["project"] == "shop" and sorted(plan["views"]) == ["customer_last_order", "customer_orders"]

    code, out, _ = run(capsys, "--repo", str(repo), "ls")
    assert out.splitlines() == [
        "VIEW                 VERSION  KIND       ENTITIES  FEATURES  OWNER            ONLINE",
        "customer_last_order  1        latest     customer  2         -                yes",
        "customer_orders      1        aggregate  customer  7         you@example.com  yes",
    ]
    code, out, _ = run(capsys, "--repo", str(repo), "describe", "customer_orders")
    assert "view:        customer_orders (version 1, aggregate)" in out
    assert "entities:    customer; join keys: customer_id (int64)" in out
    assert "amount_sum_lifetime  sum       amount  lifetime  float64  0" in out
    assert "amount_max_7d        max       amount  7d        float64  null" in out
    assert "validation:  6 checks (6 built-in)" in out  # key, timestamp, one row per key and ds, 3 counts >= 0
    assert "alerts:      defaults null_fraction > 0.05, psi > 0.2, kl > 0.1, schema (warnings); baseline 7d\n" in out

    code, _, err = run(capsys, "--repo", str(repo), "describe", "customer_order")
    assert code == 3  # terminal: bad input
    assert err.strip() == ("error: unknown view 'customer_order'. Did you mean 'customer_orders'? Views in the plan: "
                           "customer_last_order, customer_orders")

    # a stale plan after an edit that needs a bump: plan shows the refusal and exits 2 (a check found problems)
    defs = repo / "feature_defs" / "example.py"
    defs.write_text(defs.read_text().replace('windows=["7d"]),', 'windows=["14d"]),'))
    code, out, err = run(capsys, "--repo", str(repo), "plan")
    assert code == 2
    assert "~ view customer_orders (v1): values change, needs a new version" in out
    assert "view customer_orders: changes values (features) without a version bump: set version=2" in err
    code, _, err = run(capsys, "--repo", str(repo), "apply")
    assert code == 3 and err.startswith("error: pitstop apply refused:")  # terminal: apply refuses


def test_init_refuses_an_existing_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "init", str(tmp_path))[0] == 0
    code, _, err = run(capsys, "init", str(tmp_path))
    assert code == 3 and "already exists" in err


def test_config_command_redacts(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pitstop.yaml").write_text("project: p\n")
    monkeypatch.setenv("PITSTOP_ONLINE_STORE_URL", "redis://u:topsecret@10.0.0.1:6379/0")
    code, out, err = run(capsys, "--repo", str(tmp_path), "config")
    assert code == 0 and "topsecret" not in out + err
    assert json.loads(out)["online_store"]["url"] == "redis://u:***@10.0.0.1:6379/0"


def test_no_repository_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "ls")
    assert code == 3 and "no pitstop.yaml in" in err and "pitstop init DIR" in err


def test_ls_without_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pitstop.yaml").write_text("project: p\n")
    code, _, err = run(capsys, "--repo", str(tmp_path), "ls")
    assert code == 3 and "no compiled plan at" in err and "run `pitstop apply`" in err


def test_demo_data_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo-data", "--out", str(tmp_path), "--transactions", "3000", "--users", "100",
                       "--merchants", "10", "--days", "5")
    assert code == 0 and "3,000 rows in 5 daily partitions" in out
    assert len(list((tmp_path / "transactions").iterdir())) == 5


def test_help_lists_every_command() -> None:
    parser = build_parser()
    text = parser.format_help()
    commands = ["init", "plan", "apply", "ls", "describe", "materialize", "publish", "get", "serve", "consistency",
                "training-set", "sql", "vacuum", "snapshot", "history", "airflow", "config", "demo-data", "doctor",
                "validate", "status", "report", "online-script",
                "jars", "engine"]
    for command in commands:
        assert f"    {command}" in text
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert sorted(subparsers.choices) == sorted(commands)  # type: ignore[attr-defined]


def test_repo_option_after_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "init", str(tmp_path / "r"))[0] == 0
    code, out, _ = run(capsys, "plan", "--check", "--repo", str(tmp_path / "r"))
    assert code == 0 and "The checked-in plan is up to date." in out


def test_init_never_overwrites_and_checks_the_project_name(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / ".gitignore").write_text("mine\n")
    code, _, err = run(capsys, "init", str(tmp_path / "a"))
    assert code == 3 and "already has .gitignore" in err
    assert (tmp_path / "a" / ".gitignore").read_text() == "mine\n"
    code, _, err = run(capsys, "init", str(tmp_path / "b"), "--project", "Bad-Name")
    assert code == 3 and "pitstop init --project: 'project' must be a name matching [a-z][a-z0-9_]*" in err
    assert "got 'Bad-Name'" in err
    assert run(capsys, "init", str(tmp_path / "café-shop"))[0] == 0
    assert "project: caf_shop" in (tmp_path / "café-shop" / "pitstop.yaml").read_text()


def test_demo_data_bad_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "demo-data", "--out", str(tmp_path), "--days", "0")
    assert code == 3 and err.startswith("error: pitstop demo-data: days must be a positive integer, got 0")


def test_airflow_print_env_points_airflow_at_the_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "init", str(tmp_path / "r"))[0] == 0
    code, out, _ = run(capsys, "airflow", "--repo", str(tmp_path / "r"), "--port", "8099", "--print-env")
    assert code == 0
    exports = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    repo = (tmp_path / "r").resolve()
    assert exports["AIRFLOW_HOME"] == str(repo / ".airflow")
    assert exports["AIRFLOW__CORE__DAGS_FOLDER"] == str(repo / "dags")
    assert exports["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(repo / "plugins")
    assert exports["AIRFLOW__API__BASE_URL"] == "http://localhost:8099"
    assert exports["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:8099/execution/"
    assert exports["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert exports["AIRFLOW_CONN_PITSTOP_SPARK"] == "'{\"conn_type\": \"spark\", \"host\": \"local[*]\"}'"


def test_the_dag_file_and_jobs_are_what_init_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """This repository's dags/pitstop_dags.py and jobs/*.py are exactly the files every new repository gets."""
    from pitstop.runtime.jobs import JOBS, job_file
    from pitstop.runtime.scaffold import DAG_FILE

    root = Path(__file__).resolve().parents[2]
    assert (root / "dags" / "pitstop_dags.py").read_text() == DAG_FILE
    assert sorted(p.stem for p in (root / "jobs").glob("*.py")) == sorted(JOBS)
    for job in JOBS:
        assert (root / "jobs" / f"{job}.py").read_text() == job_file(job), f"regenerate jobs/{job}.py"
    assert run(capsys, "init", str(tmp_path / "r"))[0] == 0
    assert (tmp_path / "r" / "dags" / "pitstop_dags.py").read_text() == DAG_FILE
    assert (tmp_path / "r" / "jobs" / "training_set.py").read_text() == job_file("training_set")


def test_online_script_prints_the_read_script_and_a_views_layout(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from pitstop.stores.online import READ

    code, out, _ = run(capsys, "online-script")
    assert code == 0 and out == READ.strip() + "\n"
    assert out.startswith("local meta = redis.call('HMGET', KEYS[1], 'gen', 'ds', 'version', 'schema')\n")
    assert run(capsys, "init", str(tmp_path / "shop"))[0] == 0
    code, out, _ = run(capsys, "--repo", str(tmp_path / "shop"), "online-script", "--layout", "customer_last_order")
    layout = json.loads(out)
    plan = json.loads((tmp_path / "shop" / "dags" / "pitstop_plan.json").read_text())
    assert layout == {
        "view": "customer_last_order", "version": 1, "kind": "latest",
        "keys": ["pitstop:{shop:customer_last_order__v1}:current"],
        "args": ["pitstop:{shop:customer_last_order__v1}:g"],
        "schema": f"1:{plan['views']['customer_last_order']['data_fingerprint']}",
        "join_keys": [{"name": "customer_id", "dtype": "int64"}],
        "values": [{"name": "event_timestamp", "dtype": "timestamp", "empty_value": None},
                   {"name": "amount", "dtype": "float64", "empty_value": None},
                   {"name": "channel", "dtype": "string", "empty_value": None}],
        "ttl_seconds": 30 * 86400}
    code, out, _ = run(capsys, "--repo", str(tmp_path / "shop"), "online-script", "--layout", "customer_orders")
    assert [(v["name"], v["empty_value"]) for v in json.loads(out)["values"]] == [
        ("count_1d", 0), ("count_7d", 0), ("count_30d", 0), ("amount_sum_7d", 0.0), ("amount_sum_30d", 0.0),
        ("amount_sum_lifetime", 0.0), ("amount_max_7d", None)]
    code, _, err = run(capsys, "--repo", str(tmp_path / "shop"), "online-script", "--layout", "customer_order")
    assert code == 3 and "unknown view 'customer_order'. Did you mean 'customer_orders'?" in err


def test_serve_body_limit_option_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["serve", "--max-body-bytes", "4096"]).max_body_bytes == 4096
    assert parser.parse_args(["serve"]).max_body_bytes is None  # then serve.max_body_bytes from pitstop.yaml
    for bad, message in (("0", "'0' must be at least 1"), ("1MB", "'1MB' is not a whole number")):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(["serve", "--max-body-bytes", bad])
        assert exit_.value.code == 3  # a command-line mistake is bad input: terminal
        assert f"argument --max-body-bytes: {message}" in capsys.readouterr().err
