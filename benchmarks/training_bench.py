"""Training-set benchmark: the point-in-time join against the naive range-join formulation, same run.

    .venv/bin/python benchmarks/training_bench.py [--users 100000] [--days 90] [--spines 100000,1000000,5000000]
                                                  [--naive-max 1000000] [--work DIR]

Data: USERS users x DAYS days. View `tx` (aggregate: count, sum, avg, max of amount over 7d and 30d = 8
features) is materialized from about one event per user and day, so its snapshot table holds about
USERS x DAYS rows; view `profile` (latest values: country, limit; a few updates per user) gives the other
2 features: 10 features from 2 views. Spines of each size draw random users and times over the last
DAYS - 30 days. For each spine: wall time of `get_historical_features` executed in full (Spark's noop
sink: every row computed, nothing written) and the rows out (must equal the spine's); for spines up to
--naive-max the naive formulation (join on key AND snapshot time <= t, then row_number over every
match) on the same tables, and the ratios of wall time and of the Spark JVM's CPU time (the
load average is printed with each line: another job on the machine inflates wall times). Peak memory of
the Python driver and the Spark JVM at the end.
--work keeps the materialized tables between runs (the materialization is not what is measured).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import tempfile
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pitstop import FeatureStore
from pitstop.runtime import registry

END = date(2026, 10, 31)
DEFS = """
from datetime import timedelta
from pitstop import Aggregation, BatchSource, Entity, Feature, FeatureView
user = Entity("user", join_keys=["user_id"])
tx = BatchSource("tx", path="data/tx", readiness="none")
profiles = BatchSource("profiles", path="data/profiles", readiness="none")
tx_features = FeatureView("tx", entities=[user], source=tx, online=False, aggregations=[
    Aggregation("count", windows=["7d", "30d"]),
    Aggregation("sum", column="amount", windows=["7d", "30d"]),
    Aggregation("avg", column="amount", windows=["7d", "30d"]),
    Aggregation("max", column="amount", windows=["7d", "30d"]),
])
profile = FeatureView("profile", entities=[user], source=profiles, online=False, ttl=timedelta(days=365),
                      features=[Feature("country", dtype="string"), Feature("limit", dtype="float64")])
"""
FEATURES = ["tx:count_7d", "tx:count_30d", "tx:amount_sum_7d", "tx:amount_sum_30d", "tx:amount_avg_7d",
            "tx:amount_avg_30d", "tx:amount_max_7d", "tx:amount_max_30d", "profile:country", "profile:limit"]


def write_sources(repo: str, users: int, days: int) -> None:
    """Events and profile updates (a child process: its arrays never count as driver memory)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(11)
    start = int(datetime(END.year, END.month, END.day, tzinfo=UTC).timestamp() * 1e6) - (days - 1) * 86_400_000_000
    utc = pa.timestamp("us", tz="UTC")
    for d in range(days):
        n = users  # about one event per user and day, spread over the users at random
        folder = Path(repo) / "data" / "tx" / f"day={d:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({
            "user_id": rng.integers(1, users + 1, n),
            "amount": np.round(rng.lognormal(3.0, 1.0, n), 2),
            "event_timestamp": pa.array(start + d * 86_400_000_000 + rng.integers(0, 86_400_000_000, n), utc),
        }), folder / "part-0.parquet")
    updates = users * 3
    (Path(repo) / "data" / "profiles").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "user_id": rng.integers(1, users + 1, updates),
        "country": pa.array(rng.choice(["FR", "DE", "US", "ES", "IT", "NL"], updates)),
        "limit": rng.integers(1, 100, updates).astype("float64") * 100,
        "event_timestamp": pa.array(start + rng.integers(0, days * 86_400_000_000, updates), utc),
    }), Path(repo) / "data" / "profiles" / "part-0.parquet")


def write_spine(path: str, rows: int, users: int, days: int, one_key: bool = False) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(rows)
    if one_key:  # every row on user 1: the skew case
        users = 1
    end = int(datetime(END.year, END.month, END.day, tzinfo=UTC).timestamp() * 1e6) + 86_400_000_000
    first = end - (days - 30) * 86_400_000_000
    pq.write_table(pa.table({
        "user_id": rng.integers(1, users + 1, rows),
        "event_timestamp": pa.array(rng.integers(first, end, rows), pa.timestamp("us", tz="UTC")),
        "label": rng.integers(0, 2, rows).astype("int8"),
    }), path)


def child(target: Any, *args: Any) -> None:
    proc = multiprocessing.get_context("spawn").Process(target=target, args=args)
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"{target.__name__} failed (exit {proc.exitcode})")


def prepare(root: Path, users: int, days: int, spark: Any) -> FeatureStore:
    repo = root / f"repo_{users}_{days}"
    done = repo / ".materialized"
    if not done.exists():
        shutil.rmtree(repo, ignore_errors=True)
        (repo / "feature_defs").mkdir(parents=True)
        (repo / "pitstop.yaml").write_text(f"project: bench\noffline_store:\n  path: {repo / 'delta'}\n")
        (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS))
        child(write_sources, str(repo), users, days)
        registry.apply(FeatureStore(repo, env={}).config)
    store = FeatureStore(repo, env={})
    store.use_spark(spark)
    if not done.exists():
        began = time.monotonic()
        store.materialize(["tx", "profile"], END - timedelta(days=days - 1), END)
        print(f"materialized {days} days of tx and profile in {time.monotonic() - began:.0f}s (not measured)",
              flush=True)
        done.write_text("ok\n")
    return store


def naive(store: FeatureStore, spark: Any, spine_path: str) -> Any:
    """The formulation peers use: join every earlier snapshot of the key, keep the newest per spine row."""
    plan = store.load_plan()
    from pitstop.runtime.tables import ViewTables

    tx = ViewTables(store.config, plan.view("tx")).snapshots
    profile = ViewTables(store.config, plan.view("profile")).snapshots
    names = [f.split(":")[1] for f in FEATURES[:8]]
    tx_cols = ", ".join(f"f.{n}" for n in names)
    return spark.sql(f"""
    WITH s AS (SELECT *, monotonically_increasing_id() AS rid FROM parquet.`{spine_path}`),
    a AS (
      SELECT s.rid, {tx_cols},
             row_number() OVER (PARTITION BY s.rid ORDER BY f.ds DESC) AS rn
      FROM s JOIN delta.`{tx}` f ON f.user_id = s.user_id AND f.feature_timestamp <= s.event_timestamp
    ),
    p AS (
      SELECT s.rid, f.country, f.limit,
             row_number() OVER (PARTITION BY s.rid ORDER BY f.event_timestamp DESC) AS rn
      FROM s JOIN delta.`{profile}` f ON f.user_id = s.user_id AND f.event_timestamp < s.event_timestamp
    )
    SELECT s.*, {", ".join(f"a.{n}" for n in names)}, p.country, p.limit
    FROM s LEFT JOIN (SELECT * FROM a WHERE rn = 1) a ON a.rid = s.rid
           LEFT JOIN (SELECT * FROM p WHERE rn = 1) p ON p.rid = s.rid""")


def jvm_cpu(spark: Any) -> float:
    """CPU seconds used so far by the Spark JVM (user + system): less sensitive than wall time to other
    work on the machine."""
    pid = spark._jvm.java.lang.ProcessHandle.current().pid()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(df: Any) -> tuple[float, float]:
    """(wall seconds, Spark JVM CPU seconds) to execute df in full."""
    spark = df.sparkSession
    began, cpu = time.monotonic(), jvm_cpu(spark)
    df.write.format("noop").mode("overwrite").save()
    return time.monotonic() - began, jvm_cpu(spark) - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--spines", default="100000,1000000,5000000")
    parser.add_argument("--naive-max", type=int, default=1_000_000, help="largest spine the naive join runs on")
    parser.add_argument("--skew", type=int, default=1_000_000,
                        help="rows of a spine that holds one key only (0: skip)")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--work", help="folder kept between runs (default: a temporary one)")
    args = parser.parse_args()
    root = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="pitstop-training-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    from pitstop.stores.spark import build_session

    spark = build_session("local[2]", {"spark.ui.enabled": "false", "spark.driver.memory": args.driver_memory,
                                       "spark.sql.shuffle.partitions": "16"}, app_name="pitstop-training-bench")
    try:
        store = prepare(root, args.users, args.days, spark)
        snapshot_rows = spark.read.format("delta").load(
            str(root / f"repo_{args.users}_{args.days}" / "delta" / "snapshots" / "tx__v1")).count()
        print(f"{args.users:,} users x {args.days} days: tx snapshot rows {snapshot_rows:,}; 10 features from 2 views; "
              f"local[2], driver memory {args.driver_memory}", flush=True)
        warm = root / "spine_1000.parquet"
        child(write_spine, str(warm), 1000, args.users, args.days)
        timed(store.get_historical_features(str(warm), FEATURES))  # warm-up: JIT, Delta log caches
        for size in [int(s) for s in args.spines.split(",")]:
            path = root / f"spine_{size}.parquet"
            if not path.exists():
                child(write_spine, str(path), size, args.users, args.days)
            df = store.get_historical_features(str(path), FEATURES)
            ours, ours_cpu = timed(df)
            out_rows = df.count()
            line = f"spine {size:>9,}: pitstop {ours:6.1f}s ({ours_cpu:.0f} s CPU), {out_rows:,} rows out"
            if size <= args.naive_max:
                theirs, theirs_cpu = timed(naive(store, spark, str(path)))
                line += (f"; naive range join + row_number {theirs:6.1f}s ({theirs_cpu:.0f} s CPU): pitstop "
                         f"{theirs / ours:.1f}x faster ({theirs_cpu / ours_cpu:.1f}x less CPU)")
            print(line + f"; load average {os.getloadavg()[0]:.1f}", flush=True)
        if args.skew:
            path = root / f"spine_skew_{args.skew}.parquet"
            if not path.exists():
                child(write_spine, str(path), args.skew, args.users, args.days, True)
            df = store.get_historical_features(str(path), FEATURES)
            wall, cpu = timed(df)
            print(f"skewed spine {args.skew:,} rows, all one key: pitstop {wall:6.1f}s ({cpu:.0f} s CPU), "
                  f"{df.count():,} rows out", flush=True)
        jvm_pid = spark._jvm.java.lang.ProcessHandle.current().pid()
        status = Path(f"/proc/{jvm_pid}/status").read_text()
        jvm_peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024
        print(f"peak resident memory: python driver {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} "
              f"MiB, Spark JVM {jvm_peak:.0f} MiB")
    finally:
        spark.stop()
        if not args.work:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
