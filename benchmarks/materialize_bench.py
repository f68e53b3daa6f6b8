"""Aggregation-engine benchmarks: figures and ratios against baselines measured in the same run.

    .venv/bin/python benchmarks/materialize_bench.py [--size tiny|small|medium]

A. one-day incremental run with 180 days of history vs 30 days at the same data rate: time ratio
   (target <= 1.3) and the raw source rows read, taken from Spark's own scan metrics (target: about one
   day's events);
B. an N-day backfill in one run vs N one-day runs (target >= 10x at N = 90);
C. throughput: an N-day backfill in one run over a dataset of exactly N days (--size large: 1M users,
   30M events, 90 days; --size xl: 5M users, 100M events, 90 days, the scale-out issue's run): the
   backfill of the first N - 1 days in one run, then the last day as a one-day incremental run; events/s,
   shuffle spill (Spark's stage metrics), peak memory, then the publish of the newest snapshot to a
   private redis-server (--publish). Run it alone (--only C) so the peak is its own; xl took 92 minutes on
   2 cores with --driver-memory 14g, warm-up included, and needs room for its data and tables (19 GB) and
   Spark's spill files (22 GiB spilled to disk over the run).
Each scenario uses a fresh offline store under --work (default: a temporary folder). Timed runs start
after a warm-up run in the same Spark session, so no scenario pays the JVM's start-up alone.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import textwrap
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pitstop import FeatureStore
from pitstop.demo.data import generate_demo_data
from pitstop.runtime import registry

END = date(2026, 10, 31)
SIZES = {  # users, events per day, backfill days
    "tiny": (2_000, 5_000, 10),
    "small": (20_000, 30_000, 30),
    "medium": (100_000, 200_000, 90),
    "large": (1_000_000, 333_334, 90),  # 30M events over 90 days: scenario C
    "xl": (5_000_000, 1_111_112, 90),  # 100M events over 90 days: scenario C at the scale-out issue's size
}
DEFS = """
from pitstop import Aggregation, BatchSource, Entity, FeatureView
user = Entity("user", join_keys=["user_id"])
tx = BatchSource("tx", path="data/source/transactions", readiness="none")
v = FeatureView("v", entities=[user], source=tx, online=False, aggregations=[
    Aggregation("count", windows=["1d", "7d", "30d"]),
    Aggregation("sum", column="amount", windows=["1d", "7d", "30d"]),
    Aggregation("avg", column="amount", windows=["1d", "7d", "30d"]),
    Aggregation("max", column="amount", windows=["1d", "7d", "30d"]),
    Aggregation("stddev_samp", column="amount", windows=["1d", "7d", "30d"]),
    Aggregation("count_distinct", column="merchant_id", windows=["1d", "7d", "30d"]),
])  # 6 functions x 3 windows = 18 features
"""


def make_repo(root: Path, days: int, users: int, per_day: int) -> Path:
    repo = root / f"repo_{days}d"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text(f"project: bench\noffline_store:\n  path: {repo / 'delta'}\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS))
    generate_demo_data(repo / "data" / "source", transactions=per_day * days, users=users,
                       merchants=max(100, users // 10), days=days, end=END)
    registry.apply(FeatureStore(repo, env={}).config)
    return repo


def source_rows_scanned(spark: Any, path_part: str, after_execution: int) -> int:
    """Rows output by the parquet scans of ``path_part`` in SQL executions after ``after_execution``:
    Spark's own FileScan metrics (after row-group and partition pruning), not a count of ours."""
    store = spark._jsparkSession.sharedState().statusStore()
    executions = store.executionsList()
    total = 0
    for i in range(executions.size()):
        execution_id = executions.apply(i).executionId()
        if execution_id <= after_execution:
            continue
        values = store.executionMetrics(execution_id)
        nodes = store.planGraph(execution_id).allNodes()
        for j in range(nodes.size()):
            node = nodes.apply(j)
            if not node.name().startswith("Scan") or path_part not in node.desc():
                continue
            metrics = node.metrics()
            for k in range(metrics.size()):
                metric = metrics.apply(k)
                if metric.name() == "number of output rows":
                    value = values.get(metric.accumulatorId())
                    if value.isDefined():
                        total += int(str(value.get()).replace(",", ""))
    return total


def last_execution(spark: Any) -> int:
    executions = spark._jsparkSession.sharedState().statusStore().executionsList()
    return max((executions.apply(i).executionId() for i in range(executions.size())), default=-1)


def day_events(repo: Path, day: date) -> int:
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(f).num_rows
               for f in (repo / "data" / "source" / "transactions" / f"ds={day}").glob("*.parquet"))


def incremental(root: Path, users: int, per_day: int, spark: Any) -> dict[int, tuple[float, int, int]]:
    results = {}
    for history in (30, 180):
        repo = make_repo(root, history, users, per_day)
        store = FeatureStore(repo, env={})
        store.use_spark(spark)
        store.materialize("v", END - timedelta(days=1), END - timedelta(days=1))  # tiles of the window exist
        mark = last_execution(spark)
        began = time.monotonic()
        store.materialize("v", END, END)
        seconds = time.monotonic() - began
        results[history] = (seconds, source_rows_scanned(spark, "transactions", mark), day_events(repo, END))
    return results


def warm_up(repo: Path, root: Path, spark: Any) -> None:
    """One throwaway run, so the timed runs after it find the JVM warm."""
    store = FeatureStore(repo, env={"PITSTOP_OFFLINE_STORE_PATH": str(root / "warm_up")})
    store.use_spark(spark)
    store.materialize("v", END, END)


def backfill(root: Path, users: int, per_day: int, days: int, spark: Any) -> tuple[float, float]:
    repo = make_repo(root, days + 30, users, per_day)
    first = END - timedelta(days=days - 1)
    warm_up(repo, root, spark)
    one = FeatureStore(repo, env={"PITSTOP_OFFLINE_STORE_PATH": str(root / "one_run")})
    one.use_spark(spark)
    began = time.monotonic()
    one.materialize("v", first, END)
    one_run = time.monotonic() - began
    daily = FeatureStore(repo, env={"PITSTOP_OFFLINE_STORE_PATH": str(root / "daily_runs")})
    daily.use_spark(spark)
    began = time.monotonic()
    for i in range(days):
        day = first + timedelta(days=i)
        daily.materialize("v", day, day)
    return one_run, time.monotonic() - began


TEAM_GENERATOR = Path(__file__).resolve().with_name("gen_data.py")  # the team's benchmark data generator


def team_repo(root: Path, days: int, users: int, per_day: int, generator: Path) -> Path:
    """A repo over the team's benchmark dataset (benchmarks/gen_data.py's transactions, through
    team_dataset.py), with the generator's own DuckDB 7-day features of its first users to check against."""
    import subprocess
    import sys

    repo = root / "repo_team"
    data = repo / "data" / "team"
    (repo / "feature_defs").mkdir(parents=True, exist_ok=True)
    (repo / "pitstop.yaml").write_text(f"project: bench\noffline_store:\n  path: {repo / 'delta'}\n")
    (repo / "feature_defs" / "defs.py").write_text(
        textwrap.dedent(DEFS).replace("data/source/transactions", "data/team/transactions.parquet"))
    start = END - timedelta(days=days - 1)
    if (data / "user_daily_features.parquet").exists():  # a --work folder of an earlier run at this size
        print(f"   reusing the dataset in {data}", flush=True)
    else:
        subprocess.run([sys.executable, str(Path(__file__).with_name("team_dataset.py")), "--generator", str(generator),
                        "--users", str(users), "--days", str(days), "--tx-per-user-day",
                        f"{per_day / users:.6f}", "--start-date", start.isoformat(), "--out", str(data)], check=True)
    registry.apply(FeatureStore(repo, env={}).config)
    return repo


def check_against_team_features(store: FeatureStore, repo: Path, spark: Any, days: int) -> tuple[int, int]:
    """pitstop's 7-day features vs the generator's own (DuckDB) on a sample of user-days: (checked, differing)."""
    expected = spark.read.parquet(str(repo / "data" / "team" / "user_daily_features.parquet")) \
        .selectExpr("user_id", "to_date(event_timestamp) AS ds", "transaction_count_7d", "total_amount_7d",
                    "avg_amount_7d", "max_amount_7d", "unique_merchants_7d").sample(fraction=0.02, seed=7)
    got = spark.read.format("delta").load(str(Path(store.config.offline_store_path) / "snapshots" / "v__v1"))
    joined = expected.join(got, ["user_id", "ds"], "left")
    differing = joined.where("""NOT (coalesce(count_7d, 0) = transaction_count_7d
        AND abs(coalesce(amount_sum_7d, 0) - total_amount_7d) <= 1e-6 * greatest(1, abs(total_amount_7d))
        AND equal_null(round(amount_avg_7d, 6), round(avg_amount_7d, 6))
        AND equal_null(amount_max_7d, max_amount_7d)
        AND coalesce(merchant_id_count_distinct_7d, 0) = unique_merchants_7d)""")
    return expected.count(), differing.count()


def spill(spark: Any) -> tuple[int, int]:
    """(memory, disk) bytes spilled by every stage so far: Spark's own stage metrics."""
    gateway = spark.sparkContext._gateway
    # AppStatusStore.stageList(statuses, details, withSummaries, unsortedQuantiles, taskStatus): every stage
    stages = spark._jsparkSession.sparkContext().statusStore().stageList(
        None, False, False, gateway.new_array(gateway.jvm.double, 0), None)
    memory = disk = 0
    for i in range(stages.size()):
        stage = stages.apply(i)
        memory += int(stage.memoryBytesSpilled())
        disk += int(stage.diskBytesSpilled())
    return memory, disk


def throughput(root: Path, users: int, per_day: int, days: int, spark: Any, generator: Path,
               publish: bool) -> None:
    """Scenario C: the backfill of days 1 .. N-1 of the team's dataset in one run, the last day as a one-day
    incremental run, the check of the 7-day features against the generator's, and the publish."""
    for store_folder in ("backfill", "warm_up"):  # a --work folder of an earlier run: start from empty stores
        shutil.rmtree(root / store_folder, ignore_errors=True)
    began = time.monotonic()
    repo = team_repo(root, days, users, per_day, generator)
    print(f"   data generated in {time.monotonic() - began:.0f}s", flush=True)
    warm_up(repo, root, spark)
    redis_server = None
    env = {"PITSTOP_OFFLINE_STORE_PATH": str(root / "backfill")}
    if publish:
        from pitstop.stores.local_redis import free_port, start_redis

        redis_server = start_redis(free_port(), root / "redis")
        env["PITSTOP_ONLINE_STORE_URL"] = str(redis_server.url)
        defs = repo / "feature_defs" / "defs.py"
        defs.write_text(defs.read_text().replace("online=False", "online=True"))
        registry.apply(FeatureStore(repo, env=env).config)
    try:
        store = FeatureStore(repo, env=env)
        store.use_spark(spark)
        first = END - timedelta(days=days - 1)
        spilled = spill(spark)
        began = time.monotonic()
        (summary,) = store.materialize("v", first, END - timedelta(days=1), publish=False)
        seconds = time.monotonic() - began
        memory, disk = (now - before for now, before in zip(spill(spark), spilled, strict=True))
        print(f"C. {days - 1}-day backfill of {summary.events:,} events for {users:,} users in one run: "
              f"{seconds:.1f}s, {summary.events / seconds:,.0f} events/s; {summary.rows_written:,} snapshot rows "
              f"written ({summary.rows_written / seconds:,.0f} rows/s); shuffle spill {memory / 2**30:.2f} GiB in "
              f"memory, {disk / 2**30:.2f} GiB on disk", flush=True)
        print(f"   (of which the validation gate: {summary.validation.seconds:.1f}s for "
              f"{len(summary.snapshot_days)} day(s): GX suite, statistics, drift)", flush=True)
        began = time.monotonic()
        (last,) = store.materialize("v", END, END, publish=False)
        print(f"   one-day incremental run ({END}, {last.events:,} events read): {time.monotonic() - began:.1f}s "
              f"(of which the gate {last.validation.seconds:.1f}s)", flush=True)
        checked, differing = check_against_team_features(store, repo, spark, days)
        print(f"   7-day features vs the generator's own (DuckDB) on {checked:,} sampled user-days: "
              f"{differing:,} differ", flush=True)
        if publish:
            (result,) = store.publish("v", END)
            print(f"   publish of ds {END} to Redis: {result.entities:,} entities in {result.seconds:.1f}s "
                  f"({result.entities / result.seconds:,.0f}/s)", flush=True)
    finally:
        if redis_server is not None:
            redis_server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--backfill-days", type=int, help="override the size's backfill length (e.g. 90)")
    parser.add_argument("--only", choices=["A", "B", "C"], help="run one scenario (default: A and B; C with "
                        "--size large)")
    parser.add_argument("--generator", default=str(TEAM_GENERATOR), help="the team's data generator (scenario C)")
    parser.add_argument("--publish", action="store_true", help="scenario C: publish the newest snapshot to a "
                        "private redis-server started for the run")
    parser.add_argument("--driver-memory", default="4g", help="spark.driver.memory for the local session")
    parser.add_argument("--work", help="folder for data and tables (default: a temporary one, removed after)")
    args = parser.parse_args()
    users, per_day, backfill_days = SIZES[args.size]
    backfill_days = args.backfill_days or backfill_days
    root = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="pitstop-bench-"))
    from pitstop.stores.spark import build_session

    spark = build_session("local[2]", {"spark.ui.enabled": "false", "spark.driver.memory": args.driver_memory},
                          app_name="pitstop-bench")
    print(f"size={args.size}: {users:,} users, {per_day:,} events/day, local[2], driver memory "
          f"{args.driver_memory}", flush=True)
    scenarios = [args.only] if args.only else (["C"] if args.size in ("large", "xl") else ["A", "B"])
    if "A" in scenarios:
        inc = incremental(root / "a", users, per_day, spark)
        (t30, r30, e30), (t180, r180, e180) = inc[30], inc[180]
        print(f"A. one-day incremental run: 30 days of history {t30:.1f}s, 180 days {t180:.1f}s, "
              f"ratio {t180 / t30:.2f} (target <= 1.3)")
        print(f"   source rows scanned (Spark scan metrics) for the run: {r30:,} (30d) and {r180:,} (180d); "
              f"one day's events: {e30:,} / {e180:,}")
    if "B" in scenarios:
        one_run, daily = backfill(root / "b", users, per_day, backfill_days, spark)
        print(f"B. {backfill_days}-day backfill: one run {one_run:.1f}s vs {backfill_days} one-day runs "
              f"{daily:.1f}s, ratio {daily / one_run:.1f}x (target >= 10x at 90 days)")
    if "C" in scenarios:
        throughput(root / "c", users, per_day, backfill_days, spark, Path(args.generator), args.publish)
    jvm_pid = spark._jvm.java.lang.ProcessHandle.current().pid()
    status = Path(f"/proc/{jvm_pid}/status").read_text()
    jvm_peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024
    spark.stop()
    print(f"peak resident memory: python driver {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, "
          f"Spark JVM (driver and local executors) {jvm_peak:.0f} MiB")
    if not args.work:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
