"""A headless-Chromium screenshot of the Feature catalog page, served by a real Airflow api-server.

    .venv/bin/python scripts/screenshot_catalog.py --demo /tmp/catalog-demo      # build a demo repo first
    .venv/bin/python scripts/screenshot_catalog.py --repo DIR [--out PNG] [--embedded]

``--demo DIR`` builds a small demo repository in DIR (a new folder): the definitions, jobs, DAG file and
plugins of this repository, 4 days of demo data, ``pitstop apply``, and ``pitstop materialize`` of the last
two days into Delta and a private redis-server (started here, stopped at the end). ``--run VIEW`` also runs
that view's DAG once with ``airflow dags test`` (real spark-submit), so the page shows a finished run and
consistency check.

The api-server runs with a throwaway AIRFLOW_HOME (its DAGs parsed with ``airflow dags reserialize``), on a
free loopback port, with the simple auth manager's all-admins mode so the browser needs no login. The
screenshot shows the page as the plugin app serves it (/pitstop/catalog), or with ``--embedded`` inside the
Airflow UI (/plugin/feature-catalog). Needs Debian's chromium (``apt-get install -y chromium``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM = ("chromium", "/usr/bin/chromium", "chromium-browser")
DEMO_END = "2026-10-31"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(list(args), check=True, env=env, cwd=cwd)


def build_demo(target: Path, redis_url: str) -> None:
    from pitstop.demo.repo import small_demo_repo

    if target.exists() and any(target.iterdir()):
        sys.exit(f"--demo {target}: the folder is not empty; give a new one")
    target.mkdir(parents=True, exist_ok=True)
    small_demo_repo(ROOT, target, redis_url)
    run(str(BIN / "pitstop"), "--repo", str(target), "materialize", "user_transactions", "merchant_transactions",
        "user_profile", "--start", "2026-10-30", "--end", DEMO_END, "--force")  # the data ends on DEMO_END: see demo.sh


def chromium() -> str:
    for name in CHROMIUM:
        found = shutil.which(name)
        if found:
            return found
    sys.exit("chromium is not installed: apt-get update && apt-get install -y chromium")


def screenshot(url: str, out: Path, *, wait_ms: int = 25_000, size: str = "1400,900") -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pitstop-chromium-") as profile:
        run(chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}", f"--virtual-time-budget={wait_ms}",
            f"--screenshot={out}", f"--window-size={size}", url)
    if not out.is_file() or out.stat().st_size == 0:
        sys.exit(f"chromium wrote no screenshot to {out}")
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--repo", type=Path, default=ROOT, help="the feature repository (default: this one)")
    where.add_argument("--demo", type=Path, help="build a small materialized demo repository in this new folder")
    parser.add_argument("--run", metavar="VIEW", help="run this view's DAG once (airflow dags test) first")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "feature_catalog.png")
    parser.add_argument("--embedded", action="store_true", help="the page inside the Airflow UI, not on its own")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT / "src"))
    from pitstop.config import load_config
    from pitstop.orchestration.local import airflow_env, stop, wait_healthy
    from pitstop.stores.local_redis import free_port, start_redis

    redis = server = None
    home = Path(tempfile.mkdtemp(prefix="pitstop-catalog-airflow-"))
    try:
        repo = args.repo.resolve()
        if args.demo is not None:
            repo = args.demo.resolve()
            redis = start_redis(free_port(), home / "redis")
            build_demo(repo, redis.url)
        config = load_config(repo)
        port = free_port()
        env = airflow_env(config, home=home / "airflow", port=port)
        env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"  # no login for the headless browser
        env["AIRFLOW__API__WORKERS"] = "1"
        airflow = str(BIN / "airflow")
        run(airflow, "db", "migrate", env=env, cwd=repo)
        run(airflow, "dags", "reserialize", env=env, cwd=repo)
        if args.run:
            plan = json.loads(config.plan_path.read_text())
            dag_id = plan["views"][args.run]["dag_id"]
            print("+ airflow dags test", dag_id, DEMO_END, flush=True)
            if subprocess.run([airflow, "dags", "test", dag_id, DEMO_END], env=env, cwd=repo).returncode:
                print(f"the run of {dag_id} failed: the page shows it", flush=True)
        with (home / "api-server.log").open("wb") as log:
            server = subprocess.Popen([airflow, "api-server", "--port", str(port)], env=env, cwd=repo, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://localhost:{port}"
        wait_healthy(port, server, timeout=90, components=("metadatabase",), log=home / "api-server.log")
        if args.embedded:
            screenshot(f"{base}/auth/token/login?next=/plugin/feature-catalog", args.out, wait_ms=20_000)
        else:
            screenshot(f"{base}/pitstop/catalog", args.out, wait_ms=3_000)
    finally:
        if server is not None:
            stop(server, timeout=30)
        if redis is not None:
            redis.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
