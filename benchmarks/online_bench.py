"""Online-store benchmarks: figures and ratios against plain redis-py on the same data, same Redis, same run.

    .venv/bin/python benchmarks/online_bench.py [--entities 1000000] [--reads 5000]

P. publishing N entities (5 features) from Spark: entities/s for `pitstop publish` (Delta snapshot ->
   executors -> Redis, atomic switch) vs a raw redis-py pipelined write of the same values (one HSET
   per entity, 1,000 commands per pipeline) from data already in memory; and the Python driver's peak
   memory after publishing N/10 and N entities (it must not grow with N);
R. reads of 5 features for 1 entity and for 100 entities: pitstop (`OnlineReader.read`: request checks,
   one EVALSHA, msgpack decoding, typed values) p50/p99 vs plain redis-py (one HMGET per entity,
   pipelined) reading the same values.
A private redis-server is started on a free loopback port and stopped at the end.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import shutil
import statistics
import tempfile
import textwrap
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pitstop import FeatureStore
from pitstop.runtime import registry
from pitstop.runtime.online import OnlineReader
from pitstop.stores.local_redis import free_port, start_redis

DAY = date(2026, 10, 31)
DEFS = """
from pitstop import Aggregation, BatchSource, Entity, FeatureView
user = Entity("user", join_keys=["user_id"])
tx = BatchSource("tx", path="data/tx")
v = FeatureView("v", entities=[user], source=tx, aggregations=[
    Aggregation("count", windows=["1d"]),
    Aggregation("sum", column="amount", windows=["1d"]),
    Aggregation("avg", column="amount", windows=["1d"]),
    Aggregation("max", column="amount", windows=["1d"]),
    Aggregation("count_distinct", column="merchant_id", windows=["1d"]),
])
"""
FEATURES = ["v:count_1d", "v:amount_sum_1d", "v:amount_avg_1d", "v:amount_max_1d", "v:merchant_id_count_distinct_1d"]


def make_repo(root: Path, name: str, entities: int, url: str) -> Path:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = root / name
    (repo / "feature_defs").mkdir(parents=True)
    # a project per size: its own Redis keys (the same ds and version would otherwise be "already published")
    (repo / "pitstop.yaml").write_text(f"project: bench_{entities}\noffline_store:\n  path: {repo / 'delta'}\n"
                                       f"online_store:\n  url: {url}\n  max_entities: 1000\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS))
    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(1, entities + 1, dtype=np.int64), 2)  # two events per user on the day
    start = int(datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC).timestamp() * 1_000_000)
    (repo / "data" / "tx").mkdir(parents=True)
    pq.write_table(pa.table({
        "user_id": users,
        "merchant_id": rng.integers(1, 5_000, size=users.size),
        "amount": np.round(rng.lognormal(3.0, 1.0, size=users.size), 2),
        "event_timestamp": pa.array(start + rng.integers(0, 86_400_000_000, size=users.size),
                                    pa.timestamp("us", tz="UTC")),
    }), repo / "data" / "tx" / "part-0.parquet")
    registry.apply(FeatureStore(repo, env={}).config)
    return repo


def publish(repo: Path, spark: Any) -> tuple[FeatureStore, float, int]:
    store = FeatureStore(repo, env={})
    store.use_spark(spark)
    store.materialize("v", DAY, DAY, publish=False)
    began = time.monotonic()
    (result,) = store.publish("v")
    return store, time.monotonic() - began, result.entities


def raw_write(store: FeatureStore, client: Any) -> tuple[float, list[int]]:
    """The same values written by plain redis-py: one hash per entity, pipelined; data already in memory."""
    table = store.snapshot("v", DAY).toArrow()
    names = [f.split(":")[1] for f in FEATURES]
    users = table.column("user_id").to_pylist()
    columns = [table.column(n).to_pylist() for n in names]
    began = time.monotonic()
    pipe = client.pipeline(transaction=False)
    for i, user in enumerate(users):
        pipe.hset(f"raw:v:{user}", mapping={n: ("" if c[i] is None else c[i]) for n, c in zip(names, columns,
                                                                                            strict=True)})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    return time.monotonic() - began, users


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e6, ordered[int(len(ordered) * 0.99) - 1] * 1e6


def reads(store: FeatureStore, client: Any, users: list[int], count: int, n: int) -> tuple[tuple[float, float], ...]:
    reader = OnlineReader(store.config, store.load_plan())
    names = [f.split(":")[1] for f in FEATURES]
    rng = random.Random(3)
    batches = [[rng.choice(users) for _ in range(count)] for _ in range(n)]
    for batch in batches[:200]:  # warm-up, then no collector pauses in the timed loop
        reader.read(FEATURES, [{"user_id": u} for u in batch])
    gc.collect()
    gc.freeze()
    ours, raw = [], []
    for batch in batches:
        began = time.perf_counter()
        reader.read(FEATURES, [{"user_id": u} for u in batch])
        ours.append(time.perf_counter() - began)
        began = time.perf_counter()
        if count == 1:
            client.hmget(f"raw:v:{batch[0]}", names)
        else:
            pipe = client.pipeline(transaction=False)
            for u in batch:
                pipe.hmget(f"raw:v:{u}", names)
            pipe.execute()
        raw.append(time.perf_counter() - began)
    gc.unfreeze()
    reader.close()
    return percentiles(ours), percentiles(raw)


def main() -> None:
    import redis

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=5000, help="timed reads per scenario")
    parser.add_argument("--work", help="folder for data, tables and Redis (default: a temporary one)")
    args = parser.parse_args()
    root = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="pitstop-online-bench-"))
    server = start_redis(free_port(), root / "redis")
    from pitstop.stores.spark import build_session

    spark = build_session("local[2]", {"spark.ui.enabled": "false", "spark.driver.memory": "4g"},
                          app_name="pitstop-online-bench")
    try:
        client = redis.Redis.from_url(server.url)
        print(f"redis-server {client.info('server')['redis_version']} on loopback; local[2]", flush=True)
        peaks = []
        for n in (max(1, args.entities // 10), args.entities):
            store, seconds, written = publish(make_repo(root, f"repo_{n}", n, server.url), spark)
            peaks.append((written, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
        raw_seconds, users = raw_write(store, client)
        print(f"P. publish {written:,} entities: pitstop {seconds:.1f}s ({written / seconds:,.0f}/s) vs raw "
              f"redis-py pipelined HSETs {raw_seconds:.1f}s ({len(users) / raw_seconds:,.0f}/s): "
              f"{(written / seconds) / (len(users) / raw_seconds):.2f}x raw (targets >= 100k/s and >= 0.5x)")
        print("   Python driver peak memory after publishing " +
              ", ".join(f"{w:,} entities: {mib:.0f} MiB" for w, mib in peaks) + " (must not grow with N)")
        for count in (1, 100):
            (p50, p99), (r50, r99) = reads(store, client, users, count, args.reads if count == 1 else args.reads // 5)
            target = "1.5x" if count == 1 else "1.0x"
            print(f"R. read 5 features for {count} entit{'y' if count == 1 else 'ies'}: pitstop p50 {p50:.0f}us "
                  f"p99 {p99:.0f}us; raw redis-py p50 {r50:.0f}us p99 {r99:.0f}us; ratio p50 {p50 / r50:.2f}x, "
                  f"p99 {p99 / r99:.2f}x (target <= {target})")
    finally:
        spark.stop()
        server.stop()
        if not args.work:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
