"""DAG benchmark: how long Airflow takes to parse pitstop's DAG file, and what one DAG run adds to its job.

    .venv/bin/python benchmarks/dag_bench.py [--views 100] [--repeat 5] [--skip-run]

1. Parse time of dags/pitstop_dags.py as the DAG processor sees it (Airflow already imported in the parsing
   process): the demo plan (3 views, a training set) and a generated plan of --views views; the first parse
   in a fresh process (pitstop's own modules imported) and the median of --repeat later parses; also the
   time DagBag takes for the folder. Target: < 1 s for 100 views.
2. Overhead of one DAG run over the Spark job it wraps: the `compute` task of the demo view for one day
   through `airflow tasks test` (task runner, parsing, spark-submit, the job) against the same
   `spark-submit jobs/materialize.py` command run directly, on the same small demo data, same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

PARSE = r"""
import json, runpy, statistics, sys, time
import airflow.sdk, airflow.providers.apache.spark.operators.spark_submit  # the DAG processor has these loaded
path, repeat = sys.argv[1], int(sys.argv[2])
t = time.perf_counter(); g = runpy.run_path(path); first = time.perf_counter() - t
times = []
for _ in range(repeat):
    t = time.perf_counter(); runpy.run_path(path); times.append(time.perf_counter() - t)
from airflow.dag_processing.dagbag import DagBag
t = time.perf_counter(); bag = DagBag(dag_folder=path, safe_mode=False); bag_s = time.perf_counter() - t
print(json.dumps({"dags": sum(1 for k in g if k.startswith("pitstop__")), "first": first,
                  "median": statistics.median(times), "dagbag": bag_s, "errors": len(bag.import_errors)}))
"""


def generated_repo(folder: Path, views: int) -> Path:
    from pitstop.config import load_config
    from pitstop.runtime import registry

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import write_events  # the tests' tiny parquet source

    (folder / "feature_defs").mkdir(parents=True)
    (folder / "pitstop.yaml").write_text("project: bench\n")
    write_events(folder / "data" / "events")
    body = ["from pitstop import Aggregation, BatchSource, Entity, FeatureView",
            'user = Entity("user", join_keys=["user_id"])',
            'events = BatchSource("events", path="data/events", readiness="none")']
    body += [textwrap.dedent(f"""
        view_{i} = FeatureView("view_{i:03d}", entities=[user], source=events, owner="team{i % 7}@example.com",
            aggregations=[Aggregation("count", windows=["1d", "7d", "30d"]),
                          Aggregation("sum", column="amount", windows=["1d", "7d", "30d"]),
                          Aggregation("max", column="amount", windows=["7d"])])""") for i in range(views)]
    (folder / "feature_defs" / "defs.py").write_text("\n".join(body) + "\n")
    (folder / "dags").mkdir()
    shutil.copy(ROOT / "dags" / "pitstop_dags.py", folder / "dags" / "pitstop_dags.py")
    registry.apply(load_config(folder, env={}))
    return folder


def parse(repo: Path, repeat: int, home: Path) -> dict[str, float]:
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PITSTOP_REPO": str(repo)}
    out = subprocess.run([sys.executable, "-c", PARSE, str(repo / "dags" / "pitstop_dags.py"), str(repeat)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_overhead(work: Path) -> tuple[float, float]:
    """(seconds of `airflow tasks test ... compute`, seconds of the same spark-submit run directly)."""
    from pitstop.config import load_config
    from pitstop.demo.data import generate_demo_data
    from pitstop.orchestration.local import airflow_env, migrate
    from pitstop.runtime import registry
    from pitstop.stores.spark import session_conf

    repo = work / "demo"
    for folder in ("feature_defs", "jobs", "dags"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "pitstop.yaml").write_text("project: demo\nspark:\n  master: local[2]\n")
    generate_demo_data(repo / "data" / "source", transactions=20_000, users=500, merchants=50, days=4,
                       end=date(2026, 10, 31))
    config = load_config(repo, env={})
    registry.apply(config)
    env = airflow_env(config, home=work / "airflow", port=8793)
    migrate(env)
    conf = session_conf("local[2]", {})
    conf.pop("spark.master")
    direct_cmd = [str(BIN / "spark-submit"), "--master", "local[2]",
                  *[a for k, v in conf.items() for a in ("--conf", f"{k}={v}")],
                  str(repo / "jobs" / "materialize.py"), "--repo", str(repo), "--view", "user_transactions",
                  "--start", "2026-10-30", "--end", "2026-10-30", "--no-publish"]
    task_cmd = [str(BIN / "airflow"), "tasks", "test", "pitstop__user_transactions__v1", "compute", "2026-10-30"]
    for cmd in (direct_cmd, task_cmd):  # warm-up: caches, the first Delta commits
        subprocess.run(cmd, env=env, capture_output=True, check=True)
    timings = []
    for cmd in (direct_cmd, task_cmd):
        began = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        timings.append(time.perf_counter() - began)
    return timings[1], timings[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-run", action="store_true", help="parse times only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pitstop-dag-bench-") as tmp:
        work = Path(tmp)
        demo = parse(ROOT, args.repeat, work / "home-demo")
        big = parse(generated_repo(work / "generated", args.views), args.repeat, work / "home-big")
        print(f"parse, demo plan ({demo['dags']} DAGs): first {demo['first']:.3f} s, then median "
              f"{demo['median']:.3f} s; DagBag {demo['dagbag']:.3f} s; import errors {demo['errors']}")
        print(f"parse, {args.views} generated views ({big['dags']} DAGs): first {big['first']:.3f} s, then median "
              f"{big['median']:.3f} s; DagBag {big['dagbag']:.3f} s; import errors {big['errors']} "
              f"(target < 1 s: {'met' if big['median'] < 1 else 'NOT met'})")
        if not args.skip_run:
            task, direct = run_overhead(work)
            print(f"one compute task (airflow tasks test) {task:.1f} s vs the same spark-submit run directly "
                  f"{direct:.1f} s: overhead {task - direct:+.1f} s ({task / direct:.2f}x)")
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
