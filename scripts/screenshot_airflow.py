"""Headless-Chromium screenshots of the real Airflow 3 UI after a 3-day backfill of one view's DAG.

    .venv/bin/python scripts/screenshot_airflow.py [--demo DIR] [--out-dir docs/images] [--playwright DIR]

Builds a small demo repository (DIR, a new folder; a temporary one by default): the definitions, jobs, DAG
file and plugins of this repository, ``pitstop.yaml`` pointing at a private redis-server (started here),
4 days of demo data and ``pitstop apply``. Then it starts ``airflow standalone`` for it
(pitstop.orchestration.local, with a throwaway AIRFLOW_HOME, a free loopback port and the simple auth
manager's all-admins mode so the browser needs no login), waits until the DAGs are serialized, unpauses
``pitstop__user_transactions__v1`` and runs

    airflow backfill create --dag-id pitstop__user_transactions__v1 \\
        --from-date 2026-10-28 --to-date 2026-10-30 --max-active-runs 1

and waits until the three runs succeed (each task is a real spark-submit: minutes). Unpausing also
creates the newest scheduled interval's run, whose ``wait_for_source`` would wait for data the demo does
not have (the README says so); once the backfill is done the DAG is paused again and that run is
marked failed and deleted (REST API), so the grid shows the backfill only.

Writes, with Debian's chromium:

- ``airflow_dag_runs.png``: the DAG's page (grid view) with the three green backfill runs
  (``chromium --headless --screenshot``);
- ``airflow_backfill.png``: the DAG's Trigger dialog switched to *Backfill* with a date range filled in
  (2026-10-01 to 2026-10-30, the README's "backfill October"; not submitted),
  driven through DevTools by playwright-core (npm; ``--playwright DIR`` names a folder holding
  ``node_modules/playwright-core``, otherwise it is installed into a temporary folder, no browser
  download). If the dialog cannot be driven, the DAG's Backfills list is shot instead (the script says so).

Every process started here (Airflow's process group, redis-server) is stopped at the end; a failed task's
log is printed from the Airflow home's ``logs/`` folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from screenshot_catalog import chromium, screenshot  # scripts/, beside this file

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM = ("chromium", "/usr/bin/chromium", "chromium-browser")
DAG_ID = "pitstop__user_transactions__v1"
FROM_DATE, TO_DATE = "2026-10-28", "2026-10-30"
# the dialog shows the README's "backfill October" range (not submitted): the 27 days not run yet
DIALOG_FROM, DIALOG_TO = "2026-10-01", "2026-10-30"
EXPECTED_RUNS = 3
TASKS = ("wait_for_source", "compute", "publish", "monitor")
WAIT_S = 30 * 60
BACKFILL_WAIT_S = 60 * 60  # 3 runs x 4 spark-submits: ~10 min a run on a loaded 2-core machine

# The Trigger dialog, driven with playwright-core over DevTools: open the DAG page, click Trigger, pick
# Backfill, fill the date range, screenshot the dialog (without submitting it); if any step fails, the
# DAG's Backfills list instead (exit code 3).
DIALOG_JS = r"""
const { chromium } = require('playwright-core');
const [base, dagId, fromDate, toDate, out, fallbackOut, executablePath] = process.argv.slice(2);
(async () => {
  const browser = await chromium.launch({
    executablePath, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1600, height: 1450 } });
  page.setDefaultTimeout(120000);
  try {
    await page.goto(`${base}/auth/token/login?next=/dags/${dagId}`, { waitUntil: 'load', timeout: 120000 });
    await page.getByRole('button', { name: /^Trigger/ }).first().click();
    const dialog = page.getByRole('dialog').first();
    await dialog.waitFor();
    await dialog.getByText('Backfill', { exact: true }).first().click();
    // From / To are popover date-time pickers: a Date (YYYY/MM/DD) and a Time (HH:mm) field each
    for (const [i, day] of [[0, fromDate], [1, toDate]]) {
      await page.getByTestId('datetime-input').nth(i).click();
      const picker = page.locator('[data-scope="popover"][data-part="content"][data-state="open"]');
      await picker.waitFor();
      await picker.getByPlaceholder('YYYY/MM/DD').fill(day.replaceAll('-', '/'));
      await picker.getByPlaceholder('HH:mm').fill('00:00');
      await page.keyboard.press('Escape');
      await picker.waitFor({ state: 'hidden', timeout: 10000 }).catch(() => {});
    }
    const shown = await page.getByTestId('datetime-input').allInnerTexts();
    if (!shown.every((text) => /\d{4}/.test(text))) throw new Error(`the date range was not taken: ${shown}`);
    await dialog.getByText(/will be triggered|No runs matching/i).first().waitFor({ timeout: 60000 });
    await page.mouse.move(0, 0);
    await page.waitForTimeout(1500);
    await page.screenshot({ path: out });
    console.log(`dialog: ${shown.join(' -> ')}: ${(await dialog.getByText(/will be triggered|No runs matching/i)
      .first().innerText()).trim()}; wrote ${out}`);
  } catch (err) {
    console.error(`the Trigger dialog could not be driven: ${err.message}`);
    await page.goto(`${base}/dags/${dagId}/backfills`, { waitUntil: 'load', timeout: 120000 });
    await page.waitForTimeout(15000);
    await page.screenshot({ path: fallbackOut });
    console.log(`fallback: wrote the Backfills list to ${fallbackOut}`);
    process.exitCode = 3;
  } finally {
    await browser.close();
  }
})();
"""


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(list(args), check=True, env=env, cwd=cwd)


def capture(*args: str, env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(list(args), env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return proc.stdout


def last_json(stdout: str) -> Any:
    lines = [line for line in stdout.strip().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else []


def wait_serialized(env: dict[str, str], repo: Path) -> None:
    airflow = str(BIN / "airflow")
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(RuntimeError, ValueError):
            dags = last_json(capture(airflow, "dags", "list", "-o", "json", env=env, cwd=repo))
            ids = {d["dag_id"] for d in dags} if isinstance(dags, list) else set()
            if DAG_ID in ids:
                print(f"serialized DAGs: {', '.join(sorted(ids))}", flush=True)
                return
        time.sleep(10)
    sys.exit(f"{DAG_ID} was not serialized within {WAIT_S // 60} min")


def api(base: str, method: str, path: str, body: dict[str, object] | None = None) -> Any:
    with urllib.request.urlopen(f"{base}/auth/token", timeout=30) as reply:
        token = json.loads(reply.read())["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", method=method, headers=headers, data=data)
    with urllib.request.urlopen(request, timeout=60) as reply:
        raw = reply.read()
    return json.loads(raw) if raw else None


def drop_scheduled_runs(base: str) -> list[str]:
    """Delete the scheduled run unpausing created (the newest interval: no demo data, it would only wait).
    Call it with the DAG paused, or the scheduler creates that run again."""
    dropped = []
    runs = api(base, "GET", f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100")
    for run_ in runs["dag_runs"]:
        if run_["run_type"] == "scheduled":
            path = f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_['dag_run_id'], safe='')}"
            if run_["state"] in ("queued", "running"):  # a running run cannot be deleted
                api(base, "PATCH", path, {"state": "failed"})
            api(base, "DELETE", path)
            print(f"deleted the scheduled run {run_['dag_run_id']} (its data is not in the demo)", flush=True)
            dropped.append(run_["dag_run_id"])
    return dropped


def create_backfill(env: dict[str, str], repo: Path, base: str, attempts: int = 8) -> None:
    """`airflow backfill create`, retried: on SQLite it can meet the scheduler's write ("database is locked")."""
    args = [str(BIN / "airflow"), "backfill", "create", "--dag-id", DAG_ID, "--from-date", FROM_DATE,
            "--to-date", TO_DATE, "--max-active-runs", "1"]
    for attempt in range(1, attempts + 1):
        print("+", " ".join(args), flush=True)
        proc = subprocess.run(args, env=env, cwd=repo, capture_output=True, text=True, check=False)
        print(proc.stdout[-1500:], flush=True)
        if proc.returncode == 0:
            return
        backfills = api(base, "GET", f"/api/v2/backfills?dag_id={DAG_ID}")["backfills"]
        if backfills:
            print(f"the backfill exists (id {backfills[0]['id']}) although the command failed", flush=True)
            return
        print(f"attempt {attempt} failed: {proc.stderr.strip().splitlines()[-1:]}; retrying in 15 s", flush=True)
        time.sleep(15)
    sys.exit(f"airflow backfill create failed {attempts} times")


def stop_leftovers(home: Path) -> None:
    """Task runners start their own sessions: stop any process still running with this AIRFLOW_HOME."""
    mine = f"AIRFLOW_HOME={home}".encode()
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit() or int(proc_dir.name) == os.getpid():
            continue
        try:
            environ = (proc_dir / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if mine in environ:
            print(f"stopping leftover pid {proc_dir.name}", flush=True)
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc_dir.name), signal.SIGKILL)


def failed_task_logs(home: Path) -> str:
    """The logs of the backfill's tasks that logged an error (Airflow 3: one JSON line per record)."""
    logs = sorted((home / "logs" / f"dag_id={DAG_ID}").glob("run_id=backfill*/task_id=*/*.log"),
                  key=lambda p: p.stat().st_mtime)
    failed = [p for p in logs if any(mark in p.read_text(errors="replace")
                                     for mark in ('"level":"error"', "Traceback", "Task failed"))]
    return "\n".join(f"==> {p}\n{p.read_text(errors='replace')[-6000:]}" for p in failed[-3:]) or \
        f"(no error in the task logs under {home / 'logs'})"


def wait_backfill(env: dict[str, str], repo: Path, base: str, home: Path) -> None:
    airflow = str(BIN / "airflow")
    deadline = time.monotonic() + BACKFILL_WAIT_S
    last = ""
    while time.monotonic() < deadline:
        try:
            runs = last_json(capture(airflow, "dags", "list-runs", DAG_ID, "-o", "json", env=env, cwd=repo))
        except (RuntimeError, ValueError) as exc:
            print(f"list-runs: {exc}", flush=True)
            time.sleep(15)
            continue
        backfill = [r for r in runs if str(r.get("run_id", "")).startswith("backfill")]
        states = ", ".join(f"{str(r.get('logical_date'))[:10]}={r.get('state')}" for r in
                           sorted(backfill, key=lambda r: str(r.get("logical_date"))))
        if states != last:
            print(f"{time.strftime('%H:%M:%S')} backfill runs: {states or 'none yet'}", flush=True)
            last = states
        if any(r.get("state") == "failed" for r in backfill):
            sys.exit(f"a backfill run failed; the failing task's log:\n{failed_task_logs(home)}")
        if len(backfill) >= EXPECTED_RUNS and all(r.get("state") == "success" for r in backfill):
            return
        time.sleep(20)
    sys.exit(f"the backfill did not finish within {BACKFILL_WAIT_S // 60} min (last: {last})")


def playwright_dir(given: Path | None, scratch: Path) -> Path:
    if given is not None:
        return given.resolve()
    target = scratch / "playwright"
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    run("npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(target), "playwright-core", env=env)
    return target


def dialog_screenshot(base: str, out: Path, fallback: Path, pw: Path, scratch: Path) -> bool:
    script = scratch / "trigger_dialog.js"
    script.write_text(DIALOG_JS)
    env = {**os.environ, "NODE_PATH": str(pw / "node_modules")}
    print("+ node trigger_dialog.js", flush=True)
    proc = subprocess.run(["node", str(script), base, DAG_ID, DIALOG_FROM, DIALOG_TO, str(out), str(fallback),
                           chromium()], env=env, check=False)
    return proc.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=Path, help="build the demo repository in this new folder (default: temp)")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--playwright", type=Path, help="a folder holding node_modules/playwright-core")
    parser.add_argument("--keep", action="store_true", help="keep the Airflow home and demo folder")
    parser.add_argument("--hold", type=int, default=0, metavar="S",
                        help="keep Airflow up S seconds after the screenshots (or until SCRATCH/STOP exists)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # run the clean-up below

    sys.path.insert(0, str(ROOT / "src"))
    from pitstop.config import load_config
    from pitstop.demo.repo import small_demo_repo
    from pitstop.orchestration.local import airflow_env, start_standalone, stop, wait_healthy
    from pitstop.stores.local_redis import free_port, start_redis

    redis = server = None
    scratch = Path(tempfile.mkdtemp(prefix="pitstop-airflow-shots-"))
    home = scratch / "airflow"
    repo = (args.demo or scratch / "demo").resolve()
    try:
        redis = start_redis(free_port(), scratch / "redis")
        if repo.exists() and any(repo.iterdir()):
            sys.exit(f"--demo {repo}: the folder is not empty; give a new one")
        repo.mkdir(parents=True, exist_ok=True)
        small_demo_repo(ROOT, repo, redis.url)
        config = load_config(repo)
        port = free_port()
        env = airflow_env(config, home=home, port=port)
        env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"  # no login for the headless browser
        env["AIRFLOW__API__WORKERS"] = "1"
        print(f"airflow standalone on port {port}, AIRFLOW_HOME {home}", flush=True)
        server = start_standalone(env, scratch / "standalone.log")
        wait_healthy(port, server, timeout=WAIT_S, log=scratch / "standalone.log")
        base = f"http://localhost:{port}"
        airflow = str(BIN / "airflow")
        wait_serialized(env, repo)
        run(airflow, "dags", "unpause", DAG_ID, env=env, cwd=repo)
        create_backfill(env, repo, base)
        wait_backfill(env, repo, base, home)
        # the scheduler re-creates the newest interval's run while the DAG is unpaused: pause, then drop it
        run(airflow, "dags", "pause", DAG_ID, env=env, cwd=repo)
        drop_scheduled_runs(base)

        runs_png = args.out_dir / "airflow_dag_runs.png"
        screenshot(f"{base}/auth/token/login?next=/dags/{DAG_ID}", runs_png, size="1600,1000")
        pw = playwright_dir(args.playwright, scratch)
        backfill_png = args.out_dir / "airflow_backfill.png"
        if not dialog_screenshot(base, backfill_png, backfill_png, pw, scratch):
            print("NOTE: airflow_backfill.png shows the DAG's Backfills list, not the Trigger dialog", flush=True)
        if args.hold:
            print(f"holding Airflow at {base} for {args.hold} s (touch {scratch / 'STOP'} to end)", flush=True)
            deadline = time.monotonic() + args.hold
            while time.monotonic() < deadline and not (scratch / "STOP").exists():
                time.sleep(2)
    finally:
        if server is not None:
            print(f"stopping airflow standalone (process group {server.pid})", flush=True)
            stop(server)
            stop_leftovers(home)
        if redis is not None:
            redis.stop()
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
