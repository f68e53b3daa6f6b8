"""Online-store benchmarks: figures and ratios against plain redis-py on the same data, same Redis, same run.

    .venv/bin/python benchmarks/online_bench.py [--entities 1000000] [--reads 5000]

P. publishing N entities (5 features) from Spark: entities/s for `pitstop publish` (Delta snapshot ->
   executors -> Redis, atomic switch) vs a raw redis-py pipelined write of the same values (one HSET
   per entity, 1,000 commands per pipeline) from data already in memory; and the Python driver's peak
   memory after publishing N/10 and N entities (it must not grow with N);
R. reads of 5 features for 1 entity and for 100 entities: pitstop (`OnlineReader.read`: request checks,
   one EVALSHA, msgpack decoding, typed values) p50/p99 vs plain redis-py (one HMGET per entity,
   pipelined) reading the same values.
H. the HTTP server (`pitstop serve`, its own process) under a fixed concurrent load from a second
   process (C keep-alive connections, each sending the next request as soon as the answer arrives; 1
   entity, 5 features): p50/p99/p99.9/max latency seen by the client, requests/s, and the server's
   full (generation-2) garbage collections during the timed load.
A private redis-server is started on a free loopback port and stopped at the end.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
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
tx = BatchSource("tx", path="data/tx", readiness="none")
v = FeatureView("v", entities=[user], source=tx, aggregations=[
    Aggregation("count", windows=["1d"]),
    Aggregation("sum", column="amount", windows=["1d"]),
    Aggregation("avg", column="amount", windows=["1d"]),
    Aggregation("max", column="amount", windows=["1d"]),
    Aggregation("count_distinct", column="merchant_id", windows=["1d"]),
])
"""
FEATURES = ["v:count_1d", "v:amount_sum_1d", "v:amount_avg_1d", "v:amount_max_1d", "v:merchant_id_count_distinct_1d"]


def write_events(path: str, entities: int) -> None:
    """Two events per user on DAY (run in a child process, so its arrays never count as driver memory)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(1, entities + 1, dtype=np.int64), 2)
    start = int(datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC).timestamp() * 1_000_000)
    pq.write_table(pa.table({
        "user_id": users,
        "merchant_id": rng.integers(1, 5_000, size=users.size),
        "amount": np.round(rng.lognormal(3.0, 1.0, size=users.size), 2),
        "event_timestamp": pa.array(start + rng.integers(0, 86_400_000_000, size=users.size),
                                    pa.timestamp("us", tz="UTC")),
    }), path)


def make_repo(root: Path, name: str, entities: int, url: str) -> Path:
    repo = root / name
    (repo / "feature_defs").mkdir(parents=True)
    # a project per size: its own Redis keys (the same ds and version would otherwise be "already published")
    (repo / "pitstop.yaml").write_text(f"project: bench_{entities}\noffline_store:\n  path: {repo / 'delta'}\n"
                                       f"online_store:\n  url: {url}\n  max_entities: 1000\n")
    (repo / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS))
    (repo / "data" / "tx").mkdir(parents=True)
    child = multiprocessing.get_context("spawn").Process(
        target=write_events, args=(str(repo / "data" / "tx" / "part-0.parquet"), entities))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"generating {entities:,} entities' events failed (exit {child.exitcode})")
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


def load(port: int, users: list[int], connections: int, warmup: int, timed: int, out: Any) -> None:
    """The load generator (a child process): raw HTTP/1.1 keep-alive requests, so the client adds little."""
    import asyncio

    rng = random.Random(5)
    bodies = [json.dumps({"features": FEATURES, "entity_rows": [{"user_id": rng.choice(users)}]}).encode()
              for _ in range(4096)]
    requests = [b"POST /get-online-features HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(b), b) for b in bodies]
    latencies: list[float] = []

    async def one(reader: Any, writer: Any, i: int) -> float:
        began = time.perf_counter()
        writer.write(requests[i % len(requests)])
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"the server answered {head.splitlines()[0]!r}")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        return time.perf_counter() - began

    async def client(c: int, count: int, record: bool) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(c, count * connections, connections):
            seconds = await one(reader, writer, i)
            if record:
                latencies.append(seconds)
        writer.close()

    async def run() -> tuple[float, int, int]:
        await asyncio.gather(*[client(c, warmup // connections, False) for c in range(connections)])
        before = gc_full_collections(port)
        began = time.perf_counter()
        await asyncio.gather(*[client(c, timed // connections, True) for c in range(connections)])
        elapsed = time.perf_counter() - began
        return elapsed, before, gc_full_collections(port)

    elapsed, before, after = asyncio.run(run())
    out.put((elapsed, latencies, before, after))


def gc_full_collections(port: int) -> int:
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith('pitstop_gc_collections_total{generation="2"}'):
            return int(line.split()[-1])
    raise SystemExit("the server's /metrics has no pitstop_gc_collections_total")


def http_load(repo: Path, users: list[int], connections: int, timed: int) -> None:
    import subprocess
    import sys
    import urllib.request

    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "pitstop"), "--repo", str(repo), "serve",
                               "--port", str(port)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("pitstop serve did not come up") from None
                time.sleep(0.2)
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        child = context.Process(target=load, args=(port, users[:100_000], connections, 5000, timed, queue))
        child.start()
        elapsed, latencies, before, after = queue.get(timeout=1800)
        child.join()
        ordered = sorted(latencies)

        def at(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1e6

        print(f"H. HTTP, {connections} connections from a second process, {len(ordered):,} timed requests of 1 "
              f"entity x 5 features: {len(ordered) / elapsed:,.0f} requests/s; p50 {at(0.5):.0f}us p99 "
              f"{at(0.99):.0f}us p99.9 {at(0.999):.0f}us max {ordered[-1] * 1e6:.0f}us; full garbage "
              f"collections in the server during the timed load: {after - before}")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    import redis

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=5000, help="timed reads per scenario")
    parser.add_argument("--connections", type=int, default=16, help="concurrent HTTP connections (scenario H)")
    parser.add_argument("--http-requests", type=int, default=50_000, help="timed HTTP requests (scenario H)")
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
        http_load(store.config.repo, users, args.connections, args.http_requests)
    finally:
        spark.stop()
        server.stop()
        if not args.work:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
