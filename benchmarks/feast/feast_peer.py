#!/usr/bin/env python3
# The team's Feast 0.67 peer benchmark (the team's shared bench/feast/feast_peer.py), copied here unchanged apart
# from these comment lines so that benchmarks/feast_compare.py needs nothing outside the repository. It runs in
# Feast's own virtualenv (benchmarks/feast/requirements-lock.txt), never in the project's. Kept as the team wrote
# it, hence the lint exceptions instead of edits.
# ruff: noqa: B007, B905, E501, E731, F401, I001, RUF005, RUF059, RUF100, SIM105, UP017
"""Feast peer benchmark: materialize -> Redis, online reads, raw-Redis baseline,
offline point-in-time join, DuckDB ASOF oracle, and a cell-by-cell comparison.

Usage (see README.md):
    python feast_peer.py --data /tmp/benchdata/small --label small --out results.json

Heavy steps (materialize, Feast offline join, DuckDB ASOF, comparison) run in
child processes of this script (``feast_peer.py _child <step> ...``) so that
their peak RSS is isolated; a watchdog in the parent samples the child's process
tree RSS every 0.2 s and kills the tree (process group it created) when it
exceeds --mem-cap-gb or the step runs longer than --step-timeout. Online and
raw-Redis latency loops run in the parent process.

The Redis on --redis-port is assumed to be a private, throw-away instance: the
script FLUSHDBs it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timedelta, timezone

PROJECT = "fraudbench"
FV = "user_daily"
FEATURES = ["transaction_count_7d", "total_amount_7d", "avg_amount_7d", "max_amount_7d", "unique_merchants_7d"]
INT_FEATURES = {"transaction_count_7d", "unique_merchants_7d"}
TTL_DAYS = 30
HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------- helpers

def now_load():
    return [round(x, 2) for x in os.getloadavg()]


def pct(lat_ns):
    import numpy as np
    a = np.asarray(lat_ns, dtype=np.float64) / 1e6
    return {
        "n": int(a.size),
        "p50_ms": round(float(np.percentile(a, 50)), 4),
        "p90_ms": round(float(np.percentile(a, 90)), 4),
        "p99_ms": round(float(np.percentile(a, 99)), 4),
        "mean_ms": round(float(a.mean()), 4),
        "max_ms": round(float(a.max()), 4),
    }


def versions():
    import importlib.metadata as md
    out = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    for p in ["feast", "duckdb", "pyarrow", "pandas", "numpy", "redis", "hiredis", "dask", "protobuf", "mmh3", "pyspark"]:
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            out[p] = None
    try:
        out["java"] = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    except Exception:  # noqa: BLE001
        out["java"] = None
    return out


def data_range(data_dir):
    with open(os.path.join(data_dir, "gen_stats.json")) as f:
        st = json.load(f)
    start = datetime.fromisoformat(st["start_date"])
    end = start + timedelta(days=st["args"]["days"])
    return st, start, end


# --------------------------------------------------------------------------- repo setup

FEATURES_PY = '''
from datetime import timedelta

from feast import Entity, FeatureView, Field
from feast.types import Float64, Int64
{source_import}

user = Entity(name="user", join_keys=["user_id"])

user_daily_source = {source_expr}

user_daily = FeatureView(
    name="{fv}",
    entities=[user],
    ttl=timedelta(days={ttl}),
    schema=[
        Field(name="user_id", dtype=Int64),
        Field(name="transaction_count_7d", dtype=Int64),
        Field(name="total_amount_7d", dtype=Float64),
        Field(name="avg_amount_7d", dtype=Float64),
        Field(name="max_amount_7d", dtype=Float64),
        Field(name="unique_merchants_7d", dtype=Int64),
    ],
    online=True,
    source=user_daily_source,
)
'''


def write_repo(repo, data_dir, redis_port, offline_store, spark_driver_mem="6g"):
    os.makedirs(repo, exist_ok=True)
    feat_path = os.path.abspath(os.path.join(data_dir, "user_daily_features.parquet"))
    if offline_store == "file":
        src_import = "from feast import FileSource"
        src_expr = f'FileSource(name="user_daily_source", path="{feat_path}", timestamp_field="event_timestamp")'
        off_yaml = "offline_store:\n  type: file\n"
    elif offline_store == "spark":
        src_import = ("from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource")
        src_expr = (f'SparkSource(name="user_daily_source", path="file://{feat_path}", file_format="parquet", '
                    f'timestamp_field="event_timestamp")')
        off_yaml = textwrap.dedent(f"""\
            offline_store:
              type: spark
              spark_conf:
                spark.master: "local[2]"
                spark.ui.enabled: "false"
                spark.sql.session.timeZone: "UTC"
                spark.driver.memory: "{spark_driver_mem}"
                spark.sql.shuffle.partitions: "8"
                spark.sql.execution.arrow.pyspark.enabled: "true"
                spark.sql.execution.arrow.pyspark.fallback.enabled: "true"
            """)
    else:
        raise ValueError(offline_store)
    base_yaml = textwrap.dedent(f"""\
        project: {PROJECT}
        registry: {repo}/registry.db
        provider: local
        entity_key_serialization_version: 3
        online_store:
          type: redis
          connection_string: "127.0.0.1:{redis_port}"
        """)
    with open(os.path.join(repo, "feature_store.yaml"), "w") as f:
        f.write(base_yaml + off_yaml)
    # variant used only for the optional skip_dedup materialize measurement
    with open(os.path.join(repo, "feature_store_skipdedup.yaml"), "w") as f:
        f.write(base_yaml + "  skip_dedup: true\n" + off_yaml)
    with open(os.path.join(repo, "features.py"), "w") as f:
        f.write(FEATURES_PY.format(source_import=src_import, source_expr=src_expr, fv=FV, ttl=TTL_DAYS))


def feast_apply(repo):
    feast_bin = os.path.join(os.path.dirname(sys.executable), "feast")
    t0 = time.perf_counter()
    r = subprocess.run([feast_bin, "apply"], cwd=repo, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"feast apply failed:\n{r.stdout}\n{r.stderr}")
    return {"seconds_cli_total": round(dt, 3), "stdout_tail": r.stdout.strip().splitlines()[-3:]}


# --------------------------------------------------------------------------- child runner + watchdog

def run_child(step, args_list, mem_cap_gb, timeout_s, log_dir):
    """Run `feast_peer.py _child step ...` with an RSS watchdog. Returns dict."""
    import psutil
    res_file = os.path.join(log_dir, f"child_{step}_{int(time.time()*1000)}.json")
    cmd = [sys.executable, os.path.abspath(__file__), "_child", step, "--result", res_file] + args_list
    log_path = res_file.replace(".json", ".log")
    load_before = now_load()
    t0 = time.perf_counter()
    with open(log_path, "w") as logf:
        p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        peak = 0
        killed = None
        proc = psutil.Process(p.pid)
        while p.poll() is None:
            try:
                procs = [proc] + proc.children(recursive=True)
                rss = 0
                for q in procs:
                    try:
                        rss += q.memory_info().rss
                    except psutil.Error:
                        pass
                peak = max(peak, rss)
            except psutil.Error:
                pass
            el = time.perf_counter() - t0
            if peak > mem_cap_gb * 2**30 and killed is None:
                killed = f"rss {peak/2**30:.2f} GiB exceeded cap {mem_cap_gb} GiB after {el:.1f}s"
            elif el > timeout_s and killed is None:
                killed = f"timeout: still running after {timeout_s}s"
            if killed:
                try:
                    os.killpg(p.pid, signal.SIGKILL)  # the process group this script created
                except ProcessLookupError:
                    pass
                p.wait()
                break
            time.sleep(0.2)
    wall = time.perf_counter() - t0
    out = {"step": step, "child_wall_s": round(wall, 3), "watchdog_peak_rss_tree_gib": round(peak / 2**30, 3),
           "returncode": p.returncode, "load_before": load_before, "load_after": now_load(), "log": log_path}
    if killed:
        out["killed"] = killed
    if os.path.exists(res_file):
        with open(res_file) as f:
            out.update(json.load(f))
    elif not killed:
        with open(log_path) as f:
            out["error_tail"] = f.read()[-3000:]
    return out


def child_main(argv):
    step = argv[0]
    ap = argparse.ArgumentParser()
    ap.add_argument("--result", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--repo")
    ap.add_argument("--yaml", default="feature_store.yaml")
    ap.add_argument("--tag", default="file")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--entity-limit", type=int, default=0)
    ap.add_argument("--offline-reps", type=int, default=1)
    a = ap.parse_args(argv[1:])
    import resource
    fn = {"materialize": child_materialize, "offline": child_offline, "duckdb": child_duckdb,
          "compare": child_compare}[step]
    res = fn(a)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    ruc = resource.getrusage(resource.RUSAGE_CHILDREN)
    res["child_peak_rss_self_gib"] = round(ru.ru_maxrss / 2**20, 3)  # ru_maxrss is KiB on Linux
    res["child_peak_rss_children_gib"] = round(ruc.ru_maxrss / 2**20, 3)
    res["child_cpu_user_s"] = round(ru.ru_utime, 2)
    res["child_cpu_sys_s"] = round(ru.ru_stime, 2)
    with open(a.result, "w") as f:
        json.dump(res, f)


def rss_now_gib():
    import psutil
    return round(psutil.Process().memory_info().rss / 2**30, 3)


# --------------------------------------------------------------------------- steps run in children

def child_materialize(a):
    from pathlib import Path
    from feast import FeatureStore
    import redis
    st, start, end = data_range(a.data)
    store = FeatureStore(repo_path=a.repo, fs_yaml_file=Path(a.repo) / a.yaml)
    port = int(store.config.online_store.connection_string.split(":")[1].strip('"'))
    r = redis.Redis(host="127.0.0.1", port=port)
    r.flushdb()
    rss0 = rss_now_gib()
    t0 = time.perf_counter()
    store.materialize(start_date=start, end_date=end)
    dt = time.perf_counter() - t0
    dbsize = r.dbsize()
    info = r.info("memory")
    return {"seconds": round(dt, 3), "source_rows_in_range": st["feature_rows"], "users": st["args"]["users"],
            "redis_dbsize_after": dbsize, "redis_used_memory_mib": round(info["used_memory"] / 2**20, 1),
            "source_rows_per_s": round(st["feature_rows"] / dt, 1), "entities_written_per_s": round(dbsize / dt, 1),
            "rss_before_call_gib": rss0, "start": start.isoformat(), "end": end.isoformat(),
            "yaml": a.yaml}


def child_offline(a):
    import gc
    import pandas as pd
    from pathlib import Path
    from feast import FeatureStore
    store = FeatureStore(repo_path=a.repo, fs_yaml_file=Path(a.repo) / a.yaml)
    t0 = time.perf_counter()
    entity_df = pd.read_parquet(os.path.join(a.data, "entity_df.parquet"))
    if a.entity_limit:
        entity_df = entity_df.iloc[:a.entity_limit]
    t_read = time.perf_counter() - t0
    rss0 = rss_now_gib()
    runs = []
    for i in range(a.offline_reps):
        t0 = time.perf_counter()
        # pass a copy: the Spark store mutates the caller's entity_df (to_datetime in place)
        job = store.get_historical_features(entity_df=entity_df.copy(), features=[f"{FV}:{f}" for f in FEATURES])
        t_job = time.perf_counter() - t0
        df = job.to_df()
        dt = time.perf_counter() - t0
        runs.append({"seconds": round(dt, 3), "seconds_get_historical_features_call": round(t_job, 3),
                     "rss_after_gib": rss_now_gib()})
        if i < a.offline_reps - 1:
            del df, job
            gc.collect()
    out_path = os.path.join(a.data, f"feast_training_{a.tag}.parquet")
    df.to_parquet(out_path, index=False)
    res = {"seconds": runs[0]["seconds"], "runs": runs,
           "seconds_read_entity_df": round(t_read, 3), "entity_rows_in": len(entity_df), "rows_out": len(df),
           "rows_per_s": round(len(entity_df) / runs[0]["seconds"], 1), "rss_before_call_gib": rss0,
           "columns": list(df.columns), "dtypes": {c: str(t) for c, t in df.dtypes.items()}, "output": out_path}
    del df
    return res


DUCK_ASOF_SQL = """
SELECT e.user_id,
       e.event_timestamp,
{cols}
FROM read_parquet('{ent}') AS e
ASOF LEFT JOIN read_parquet('{feat}') AS f
  ON e.user_id = f.user_id AND e.event_timestamp >= f.event_timestamp
ORDER BY e.user_id, e.event_timestamp
"""


def child_duckdb(a):
    import duckdb
    import pyarrow.parquet as pq
    ent = os.path.join(a.data, "entity_df.parquet")
    feat = os.path.join(a.data, "user_daily_features.parquet")
    cols = ",\n".join(
        f"       CASE WHEN f.event_timestamp >= e.event_timestamp - INTERVAL {TTL_DAYS} DAY THEN f.{c} END AS {c}"
        for c in FEATURES)
    sql = DUCK_ASOF_SQL.format(cols=cols, ent=ent, feat=feat)
    con = duckdb.connect()
    con.execute(f"SET threads={a.threads}; SET TimeZone='UTC';")
    rss0 = rss_now_gib()
    t0 = time.perf_counter()
    df = con.sql(sql).df()  # pandas, like Feast's to_df()
    dt = time.perf_counter() - t0
    t0 = time.perf_counter()
    tbl = con.sql(sql).to_arrow_table()
    dt_arrow = time.perf_counter() - t0
    import pyarrow as pa
    tbl = tbl.cast(pa.schema([("user_id", pa.int64()), ("event_timestamp", pa.timestamp("us", tz="UTC"))] +
                             [(c, pa.int64() if c in INT_FEATURES else pa.float64()) for c in FEATURES]))
    out_path = os.path.join(a.data, "expected_training.parquet")
    pq.write_table(tbl, out_path, compression="zstd")
    return {"seconds_to_pandas": round(dt, 3), "seconds_to_arrow": round(dt_arrow, 3), "rows_out": len(df),
            "rss_before_call_gib": rss0, "threads": a.threads, "sql": sql.strip(), "output": out_path}


def child_compare(a):
    import numpy as np
    import pandas as pd
    exp = pd.read_parquet(os.path.join(a.data, "expected_training.parquet"))
    got = pd.read_parquet(os.path.join(a.data, f"feast_training_{a.tag}.parquet"))
    if a.entity_limit:  # Feast ran on the first N entity rows only: compare against those
        ent = pd.read_parquet(os.path.join(a.data, "entity_df.parquet")).iloc[:a.entity_limit]
        exp = exp.merge(ent, on=["user_id", "event_timestamp"], how="inner")
    for d in (exp, got):
        d["event_timestamp"] = pd.to_datetime(d["event_timestamp"], utc=True).astype("datetime64[ns, UTC]")
        d["user_id"] = d["user_id"].astype("int64")
    res = {"expected_rows": len(exp), "feast_rows": len(got),
           "feast_duplicate_keys": int(got.duplicated(["user_id", "event_timestamp"]).sum()),
           "expected_duplicate_keys": int(exp.duplicated(["user_id", "event_timestamp"]).sum())}
    m = exp.merge(got, on=["user_id", "event_timestamp"], how="outer", suffixes=("_exp", "_feast"), indicator=True)
    res["rows_only_in_expected"] = int((m["_merge"] == "left_only").sum())
    # classify the entity rows Feast did not return (by how gen_data.py generated them)
    st, start, end = data_range(a.data)
    users = st["args"]["users"]
    miss = m[m["_merge"] == "left_only"]
    ts = miss["event_timestamp"]
    first_feature_ts = pd.Timestamp(start) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    cat = np.select(
        [miss["user_id"] > users, ts < pd.Timestamp(start), ts < first_feature_ts,
         ts > pd.Timestamp(end) - pd.Timedelta(microseconds=1) + pd.Timedelta(days=TTL_DAYS), ts >= pd.Timestamp(end)],
        ["unknown_user", "before_data_start", "first_day_before_first_feature_row",
         "after_last_feature_row_plus_ttl", "after_data_end_within_ttl"], default="inside_data_range")
    res["rows_only_in_expected_by_kind"] = {str(k): int(v) for k, v in zip(*np.unique(cat, return_counts=True))}
    res["rows_only_in_expected_all_features_null_in_expected"] = int(miss[[f"{c}_exp" for c in FEATURES]].isna().all(axis=1).sum())
    res["rows_only_in_feast"] = int((m["_merge"] == "right_only").sum())
    both = m[m["_merge"] == "both"]
    per_col = {}
    total_bad = 0
    examples = []
    for c in FEATURES:
        e = pd.to_numeric(both[f"{c}_exp"], errors="coerce").astype("float64").to_numpy()
        g = pd.to_numeric(both[f"{c}_feast"], errors="coerce").astype("float64").to_numpy()
        en, gn = np.isnan(e), np.isnan(g)
        null_mismatch = en != gn
        val_mismatch = (~en & ~gn) & (e != g)
        bad = null_mismatch | val_mismatch
        per_col[c] = {"null_mismatch": int(null_mismatch.sum()), "value_mismatch_exact": int(val_mismatch.sum()),
                      "value_mismatch_rel_gt_1e-9": int(((~en & ~gn) & (np.abs(e - g) > 1e-9 * np.maximum(1, np.abs(e)))).sum()),
                      "expected_nulls": int(en.sum()), "feast_nulls": int(gn.sum())}
        total_bad += int(bad.sum())
        if bad.any() and len(examples) < 10:
            idx = np.flatnonzero(bad)[:3]
            for i in idx:
                row = both.iloc[i]
                examples.append({"user_id": int(row["user_id"]), "event_timestamp": str(row["event_timestamp"]),
                                 "col": c, "expected": None if en[i] else float(e[i]),
                                 "feast": None if gn[i] else float(g[i])})
    res["per_column"] = per_col
    res["mismatching_cells"] = total_bad
    res["mismatching_cells_including_missing_rows"] = total_bad + len(FEATURES) * (
        res["rows_only_in_expected"] + res["rows_only_in_feast"])
    res["cells_compared"] = int(len(both) * len(FEATURES))
    res["mismatch_examples"] = examples
    res["expected_rows_all_features_null"] = int(exp[FEATURES].isna().all(axis=1).sum())
    return res


# --------------------------------------------------------------------------- online + raw redis (parent process)

def redis_key_for(user_id: int) -> bytes:
    """Independent re-implementation of Feast's Redis key (entity_key_serialization_version=3)."""
    jk = b"user_id"
    return (struct.pack("<I", 1)                                # number of join keys
            + struct.pack("<I", 2) + struct.pack("<I", len(jk)) + jk  # ValueType.STRING (=2), len, key name
            + struct.pack("<I", 4) + struct.pack("<I", 8) + struct.pack("<q", user_id)  # ValueType.INT64 (=4), len, value
            + PROJECT.encode())


def field_for(feature: str) -> bytes:
    import mmh3
    return struct.pack("<I", mmh3.hash(f"{FV}:{feature}", signed=False))


def describe_layout(r, sample_user):
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto
    from google.protobuf.timestamp_pb2 import Timestamp
    from feast.infra.online_stores.helpers import _redis_key, _mmh3
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    key = redis_key_for(sample_user)
    ek = EntityKey(join_keys=["user_id"], entity_values=[ValueProto(int64_val=sample_user)])
    feast_key = _redis_key(PROJECT, ek, entity_key_serialization_version=3)
    h = r.hgetall(key)
    fields = {}
    names = {field_for(f): f"{FV}:{f}" for f in FEATURES}
    for k, v in h.items():
        if k.startswith(b"_ts:"):
            ts = Timestamp.FromString(v)
            fields[k.decode()] = {"value_hex": v.hex(), "decoded": ts.ToJsonString(), "proto": "google.protobuf.Timestamp"}
        else:
            vp = ValueProto.FromString(v)
            fields[k.hex()] = {"mmh3_of": names.get(k), "value_hex": v.hex(), "decoded": str(vp).strip(),
                               "proto": "feast.types.Value"}
    return {"sample_user_id": sample_user, "key_hex": key.hex(), "key_repr": repr(key),
            "key_matches_feast_helper": key == feast_key,
            "field_mmh3_matches_feast_helper": all(field_for(f) == _mmh3(f"{FV}:{f}") for f in FEATURES),
            "redis_type": r.type(key).decode(), "hash_len": len(h), "fields": fields,
            "key_ttl": r.ttl(key)}


def online_bench(repo, users, a, rng):
    """Feast get_online_features(...).to_dict() latency. Reps interleave single and batch runs."""
    from feast import FeatureStore
    store = FeatureStore(repo_path=repo)
    refs = [f"{FV}:{f}" for f in FEATURES]
    res = {"features": refs, "warmup_calls": a.warmup, "timed": "get_online_features(...).to_dict()"}
    for _ in range(a.warmup):
        store.get_online_features(features=refs, entity_rows=[{"user_id": int(rng.integers(1, users + 1))}]).to_dict()
    for _ in range(max(10, a.warmup // 10)):
        store.get_online_features(features=refs, entity_rows=[{"user_id": int(u)} for u in rng.integers(1, users + 1, size=a.batch_size)]).to_dict()
    for rep in range(a.reps):
        lat = []
        load0 = now_load()
        ids = rng.integers(1, users + 1, size=a.single_calls)
        for uid in ids:
            t0 = time.perf_counter_ns()
            store.get_online_features(features=refs, entity_rows=[{"user_id": int(uid)}]).to_dict()
            lat.append(time.perf_counter_ns() - t0)
        res[f"single_rep{rep+1}"] = {**pct(lat), "load_before": load0, "load_after": now_load()}
        lat = []
        load0 = now_load()
        for _ in range(a.batch_calls):
            rows = [{"user_id": int(u)} for u in rng.integers(1, users + 1, size=a.batch_size)]
            t0 = time.perf_counter_ns()
            store.get_online_features(features=refs, entity_rows=rows).to_dict()
            lat.append(time.perf_counter_ns() - t0)
        res[f"batch{a.batch_size}_rep{rep+1}"] = {**pct(lat), "load_before": load0, "load_after": now_load()}
    return res


def online_correctness(repo, data_dir, users, n, rng):
    """Online values for n random users == latest feature row of that user in the parquet."""
    import numpy as np
    import pandas as pd
    from feast import FeatureStore
    store = FeatureStore(repo_path=repo)
    feats = pd.read_parquet(os.path.join(data_dir, "user_daily_features.parquet"))
    last = feats.sort_values("event_timestamp").groupby("user_id").tail(1).set_index("user_id")
    ids = [int(u) for u in rng.choice(np.arange(1, users + 1), size=min(n, users), replace=False)]
    ghost = [users + 10, users + 11]
    d = store.get_online_features(features=[f"{FV}:{f}" for f in FEATURES],
                                  entity_rows=[{"user_id": u} for u in ids + ghost]).to_dict()
    bad = 0
    for i, u in enumerate(ids):
        for c in FEATURES:
            e = last.at[u, c]
            g = d[c][i]
            if pd.isna(e):
                ok = g is None or (isinstance(g, float) and np.isnan(g))
            else:
                ok = g is not None and float(g) == float(e)
            bad += (not ok)
    ghost_vals = {c: d[c][len(ids):] for c in FEATURES}
    return {"users_checked": len(ids), "mismatching_cells": bad, "unknown_user_values": ghost_vals,
            "result_python_types": {c: type(d[c][0]).__name__ for c in FEATURES}}


def raw_redis_bench(port, users, a, rng):
    import redis
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto
    from google.protobuf.timestamp_pb2 import Timestamp
    r = redis.Redis(host="127.0.0.1", port=port)
    fields = [field_for(f) for f in FEATURES] + [f"_ts:{FV}".encode()]
    import redis.utils
    res = {"hiredis_parser": bool(getattr(redis.utils, "HIREDIS_AVAILABLE", False)),
           "fields_per_hmget": len(fields)}

    def single(uid, decode):
        vals = r.hmget(redis_key_for(uid), fields)
        if decode:
            return [ValueProto.FromString(v) for v in vals[:-1]], Timestamp.FromString(vals[-1])
        return vals

    def batch(uids, decode, cmd="hmget"):
        with r.pipeline(transaction=False) as p:
            for u in uids:
                if cmd == "hmget":
                    p.hmget(redis_key_for(u), fields)
                else:
                    p.hgetall(redis_key_for(u))
            out = p.execute()
        if decode:
            return [[ValueProto.FromString(v) for v in row[:-1]] for row in out]
        return out

    B = a.batch_size
    one = lambda: int(rng.integers(1, users + 1))
    many = lambda: rng.integers(1, users + 1, size=B).tolist()
    # (name, timed function of an argument, calls per rep, argument maker run outside the timer)
    variants = [
        ("single_hmget_raw", lambda u: single(u, False), a.single_calls, one),
        ("single_hmget_decode", lambda u: single(u, True), a.single_calls, one),
        (f"batch{B}_pipeline_hmget_raw", lambda us: batch(us, False), a.batch_calls, many),
        (f"batch{B}_pipeline_hmget_decode", lambda us: batch(us, True), a.batch_calls, many),
        (f"batch{B}_pipeline_hgetall_raw", lambda us: batch(us, False, "hgetall"), a.batch_calls, many),
        ("ping", lambda _: r.ping(), a.single_calls, lambda: None),  # added: the round-trip floor, same process
    ]
    # sanity: every key we build exists
    missing = sum(1 for u in rng.integers(1, users + 1, size=200) if not r.exists(redis_key_for(int(u))))
    res["sanity_missing_keys_of_200"] = missing
    for name, fn, n, mk in variants:  # warm-up every variant first
        for _ in range(max(50, a.warmup // 2)):
            fn(mk())
    for rep in range(a.reps):  # reps outer, variants inner: noise spreads over variants
        for name, fn, n, mk in variants:
            load0 = now_load()
            lat = []
            for _ in range(n):
                arg = mk()
                t0 = time.perf_counter_ns()
                fn(arg)
                lat.append(time.perf_counter_ns() - t0)
            res[f"{name}_rep{rep+1}"] = {**pct(lat), "load_before": load0, "load_after": now_load()}
    return res


# --------------------------------------------------------------------------- main

def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        return child_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="dir written by gen_data.py")
    ap.add_argument("--label", default=None)
    ap.add_argument("--out", default=None, help="write the JSON result here (also printed)")
    ap.add_argument("--redis-port", type=int, default=6390)
    ap.add_argument("--offline-store", choices=["file", "spark"], default="file")
    ap.add_argument("--steps", default="apply,materialize,materialize_skipdedup,online,raw,offline,duckdb,compare",
                    help="comma list of: apply,materialize,materialize_skipdedup,online,raw,offline,duckdb,compare")
    ap.add_argument("--reps", type=int, default=2, help="repetitions of each latency / materialize measure")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--single-calls", type=int, default=2000)
    ap.add_argument("--batch-calls", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--mem-cap-gb", type=float, default=16.0)
    ap.add_argument("--step-timeout", type=float, default=900.0)
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads for the oracle")
    ap.add_argument("--repo", default=None, help="reuse / create the Feast repo here (default: fresh temp dir)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--spark-driver-mem", default="6g")
    ap.add_argument("--entity-limit", type=int, default=0,
                    help="Feast offline step on the first N rows of entity_df only (0 = all)")
    ap.add_argument("--offline-reps", type=int, default=1,
                    help="get_historical_features calls in the same child process (the first one is reported as "
                         "'seconds'; all are in 'runs'; peak RSS covers all)")
    a = ap.parse_args()

    import numpy as np
    rng = np.random.default_rng(a.seed)
    steps = [s.strip() for s in a.steps.split(",") if s.strip()]
    st, start, end = data_range(a.data)
    users = st["args"]["users"]
    repo = a.repo or tempfile.mkdtemp(prefix="feastbench_repo_", dir="/tmp")
    log_dir = os.path.join(repo, "logs")
    os.makedirs(log_dir, exist_ok=True)
    if not os.path.exists(os.path.join(repo, "feature_store.yaml")) or "apply" in steps:
        write_repo(repo, a.data, a.redis_port, a.offline_store, a.spark_driver_mem)
    out = {"label": a.label, "data": a.data, "gen_stats": st, "repo": repo, "offline_store": a.offline_store,
           "started_utc": datetime.now(timezone.utc).isoformat(), "versions": versions(),
           "params": {k: v for k, v in vars(a).items()}, "results": {}}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import feast; from feast import FeatureStore"], check=True)
    out["versions"]["seconds_python_import_feast"] = round(time.perf_counter() - t0, 2)
    import redis
    r = redis.Redis(host="127.0.0.1", port=a.redis_port)
    out["versions"]["redis_server"] = r.info("server")["redis_version"]
    R = out["results"]

    def log(msg):
        print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def save():
        if a.out:
            with open(a.out, "w") as f:
                json.dump(out, f, indent=2, default=str)

    tag = a.offline_store + (f"_first{a.entity_limit}" if a.entity_limit else "")
    child_common = ["--data", a.data, "--repo", repo, "--tag", tag, "--threads", str(a.threads),
                    "--entity-limit", str(a.entity_limit), "--offline-reps", str(a.offline_reps)]
    if "apply" in steps:
        log("feast apply")
        R["apply"] = feast_apply(repo)
        save()
    if "materialize" in steps:
        R["materialize"] = []
        for rep in range(a.reps):
            log(f"materialize rep {rep+1}")
            R["materialize"].append(run_child("materialize", child_common, a.mem_cap_gb, a.step_timeout, log_dir))
            save()
    if "materialize_skipdedup" in steps:
        log("materialize skip_dedup")
        R["materialize_skip_dedup"] = run_child("materialize", child_common + ["--yaml", "feature_store_skipdedup.yaml"],
                                                a.mem_cap_gb, a.step_timeout, log_dir)
        save()
    if "online" in steps or "raw" in steps:
        if r.dbsize() == 0:
            raise SystemExit("redis is empty: run the materialize step first")
        R["redis_layout"] = describe_layout(r, int(rng.integers(1, users + 1)))
    if "online" in steps:
        log("online correctness")
        R["online_correctness"] = online_correctness(repo, a.data, users, 1000, rng)
        log("online latency")
        R["online"] = online_bench(repo, users, a, rng)
        save()
    if "raw" in steps:
        log("raw redis latency")
        R["raw_redis"] = raw_redis_bench(a.redis_port, users, a, rng)
        save()
    if "offline" in steps:
        log(f"offline get_historical_features ({a.offline_store})")
        R[f"offline_{tag}"] = run_child("offline", child_common, a.mem_cap_gb, a.step_timeout, log_dir)
        save()
    if "duckdb" in steps:
        log("duckdb asof oracle")
        R["duckdb_asof"] = run_child("duckdb", child_common, a.mem_cap_gb, a.step_timeout, log_dir)
        save()
    if "compare" in steps:
        fp = os.path.join(a.data, f"feast_training_{tag}.parquet")
        off = R.get(f"offline_{tag}", {})
        if os.path.exists(fp) and (not off or (off.get("returncode") == 0 and "killed" not in off)):
            log("compare")
            R[f"compare_{tag}"] = run_child("compare", child_common, a.mem_cap_gb, a.step_timeout, log_dir)
        else:
            R[f"compare_{tag}"] = {"skipped": "no Feast offline output from this run (offline step failed or not run)"}
        save()
    out["finished_utc"] = datetime.now(timezone.utc).isoformat()
    save()
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
