#!/usr/bin/env python3
# The team's benchmark data generator: the dataset that the figures of benchmarks/materialize_bench.py (scenario
# C) and the README's Benchmarks are measured and checked on. Kept as the team wrote it, so the same arguments
# give the same data; hence the lint exceptions instead of edits.
# ruff: noqa: B905, E501, E731, UP017
"""Deterministic fraud-style benchmark dataset generator.

Writes three parquet files into --out DIR:

  transactions.parquet
      user_id (int64), merchant_id (int64), amount (float64),
      event_timestamp (timestamp[us, UTC])

  user_daily_features.parquet
      one row per user per day (every user, every day of the range, including
      days on which the user's trailing window is empty), with
      event_timestamp = end of that day = day 00:00:00 + 1 day - 1 microsecond
      (i.e. DDDD-DD-DD 23:59:59.999999 UTC) and
        transaction_count_7d (int64)   count of the user's transactions
        total_amount_7d      (float64) sum of amount   (0.0 when count == 0)
        avg_amount_7d        (float64) mean of amount  (NULL when count == 0)
        max_amount_7d        (float64) max of amount   (NULL when count == 0)
        unique_merchants_7d  (int64)   count(distinct merchant_id)
      The trailing 7-day window of day D is [D-6 00:00, D+1 00:00) UTC, i.e.
      calendar days D-6 .. D inclusive; for the first 6 days of the range the
      window is truncated at the start of the data (there are no earlier
      transactions).

  entity_df.parquet
      --entity-rows rows of (user_id int64, event_timestamp timestamp[us, UTC]),
      the (user_id, event_timestamp) pairs are unique. Mixture:
        ~88%  existing user, ts uniform over [start, end)   (microsecond resolution,
              so mostly between feature rows)
        ~3%   non-existent user_id (id > --users), ts uniform over [start, end)
        ~3%   existing user, ts uniform over [start - 7d, start): before any data
        ~3%   existing user, ts uniform over [end, end + 30d): after the data, within TTL
        ~2%   existing user, ts uniform over (end + 30d, end + 45d): beyond a 30-day TTL
        ~0.5% existing user, ts exactly equal to a feature row timestamp (half; as-of
              ">=" edge: that row must be picked) or 1 us before it (half: previous row)
        ~0.5% existing user, ts = last feature ts + 30 days exactly (half; TTL edge: the
              last row is exactly ttl old and still valid) or + 30 days + 1 us (half: null)
      where start = --start-date 00:00 UTC and end = start + --days days.

Everything is derived from numpy.random.default_rng(--seed): same arguments ->
identical values (row order included; the parquet files come out byte-identical
with the same library versions). Sums are computed exactly (amounts have 2
decimals, summed as DECIMAL(18,2)) and then converted to float64, so they do not
depend on DuckDB's parallel aggregation order; avg = that sum / count.

Features are computed by DuckDB (a 7-way expansion of each transaction to the
days whose window contains it, then GROUP BY) and, unless --no-verify, checked
against an independent brute-force numpy computation on a random sample of
user-days.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

US_PER_DAY = 86_400_000_000
TS_TYPE = pa.timestamp("us", tz="UTC")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, required=True)
    p.add_argument("--days", type=int, required=True)
    p.add_argument("--tx-per-user-day", type=float, required=True,
                   help="mean transactions per user per day (Poisson, per-user rate ~ Gamma(2, 0.5) * this)")
    p.add_argument("--entity-rows", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--start-date", default="2024-01-01", help="first day (UTC) of the data")
    p.add_argument("--merchants", type=int, default=0, help="number of merchants (default max(1000, users // 10))")
    p.add_argument("--no-verify", action="store_true", help="skip the brute-force feature check")
    p.add_argument("--verify-samples", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def gen_transactions(rng, users, days, tx_rate, n_merchants, start_us):
    # per-user activity rate: mean tx_rate, some users much quieter (empty windows)
    user_rate = tx_rate * rng.gamma(shape=2.0, scale=0.5, size=users)
    counts = rng.poisson(np.repeat(user_rate, days))  # user-major: (u0,d0),(u0,d1),...
    n = int(counts.sum())
    u_idx = np.repeat(np.repeat(np.arange(users, dtype=np.int64), days), counts)
    d_idx = np.repeat(np.tile(np.arange(days, dtype=np.int64), users), counts)
    # 70% of a user's transactions go to one of its 5 favourite merchants
    fav = rng.integers(1, n_merchants + 1, size=(users, 5), dtype=np.int64)
    use_fav = rng.random(n) < 0.7
    fav_pick = fav[u_idx, rng.integers(0, 5, size=n)]
    rand_merchant = rng.integers(1, n_merchants + 1, size=n, dtype=np.int64)
    merchant = np.where(use_fav, fav_pick, rand_merchant)
    amount = np.round(rng.lognormal(mean=3.0, sigma=1.0, size=n), 2)
    ts_us = start_us + d_idx * US_PER_DAY + rng.integers(0, US_PER_DAY, size=n, dtype=np.int64)
    # sort by time (like an event log)
    order = np.argsort(ts_us, kind="stable")
    return pa.table({
        "user_id": pa.array(u_idx[order] + 1, pa.int64()),
        "merchant_id": pa.array(merchant[order], pa.int64()),
        "amount": pa.array(amount[order], pa.float64()),
        "event_timestamp": pa.array(ts_us[order], pa.int64()).cast(TS_TYPE),
    })


FEATURE_SQL = """
WITH tx AS (
    SELECT user_id, merchant_id, amount,
           (epoch_us(event_timestamp) - {start_us}) // {us_per_day} AS tx_day
    FROM transactions
),
expanded AS (  -- each transaction belongs to the windows of days tx_day .. tx_day+6
    SELECT user_id, merchant_id, amount, tx_day + k AS day
    FROM tx CROSS JOIN range(0, 7) AS r(k)
    WHERE tx_day + k < {days}
),
agg AS (
    SELECT user_id, day,
           count(*)                    AS transaction_count_7d,
           -- amounts have 2 decimals: sum them exactly as DECIMAL so the result does not
           -- depend on the (parallel, non-deterministic) order of floating point additions
           sum(amount::DECIMAL(18, 2)) AS total_dec,
           max(amount)                 AS max_amount_7d,
           count(DISTINCT merchant_id) AS unique_merchants_7d
    FROM expanded
    GROUP BY user_id, day
),
grid AS (
    SELECT u.user_id, d.day
    FROM range(1, {users} + 1) AS u(user_id) CROSS JOIN range(0, {days}) AS d(day)
)
SELECT g.user_id::BIGINT AS user_id,
       make_timestamp({start_us} + (g.day + 1) * {us_per_day} - 1)::TIMESTAMPTZ AS event_timestamp,
       coalesce(a.transaction_count_7d, 0)::BIGINT AS transaction_count_7d,
       coalesce(a.total_dec::DOUBLE, 0.0)::DOUBLE AS total_amount_7d,
       (a.total_dec::DOUBLE / a.transaction_count_7d)::DOUBLE AS avg_amount_7d,
       a.max_amount_7d::DOUBLE AS max_amount_7d,
       coalesce(a.unique_merchants_7d, 0)::BIGINT AS unique_merchants_7d
FROM grid g LEFT JOIN agg a ON a.user_id = g.user_id AND a.day = g.day
ORDER BY g.day, g.user_id
"""


def duck_arrow(res) -> pa.Table:
    """Result -> pyarrow.Table across duckdb API generations (1.x .arrow(), 2.x .to_arrow_table())."""
    for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        if hasattr(res, name):
            t = getattr(res, name)()
            return t.read_all() if hasattr(t, "read_all") else t
    raise AttributeError("no arrow export on duckdb result")


def compute_features(con, users, days, start_us):
    sql = FEATURE_SQL.format(start_us=start_us, us_per_day=US_PER_DAY, days=days, users=users)
    tbl = duck_arrow(con.sql(sql))
    # normalise schema/types (DuckDB returns TIMESTAMPTZ with the session time zone)
    tbl = tbl.cast(pa.schema([
        ("user_id", pa.int64()),
        ("event_timestamp", TS_TYPE),
        ("transaction_count_7d", pa.int64()),
        ("total_amount_7d", pa.float64()),
        ("avg_amount_7d", pa.float64()),
        ("max_amount_7d", pa.float64()),
        ("unique_merchants_7d", pa.int64()),
    ]))
    return tbl


def verify_features(rng, tx: pa.Table, feats: pa.Table, users, days, start_us, n_samples):
    """Brute-force recomputation with numpy on random (user, day) pairs."""
    t_user = tx["user_id"].to_numpy()
    t_merch = tx["merchant_id"].to_numpy()
    t_amt = tx["amount"].to_numpy()
    t_ts = tx["event_timestamp"].cast(pa.int64()).to_numpy()
    f_user = feats["user_id"].to_numpy()
    f_ts = feats["event_timestamp"].cast(pa.int64()).to_numpy()
    cols = {c: feats[c].to_pandas().to_numpy() for c in
            ["transaction_count_7d", "total_amount_7d", "avg_amount_7d", "max_amount_7d", "unique_merchants_7d"]}
    # feature rows are ordered (day, user): row index = day * users + (user - 1)
    assert len(f_user) == users * days
    by_user_order = np.argsort(t_user, kind="stable")
    bounds = np.searchsorted(t_user[by_user_order], np.arange(1, users + 2))
    sample_users = rng.integers(1, users + 1, size=n_samples)
    # bias the sample towards the edges of the range too (truncated windows, last day)
    sample_days = np.where(rng.random(n_samples) < 0.2, rng.choice([0, 1, 5, 6, 7, days - 1], size=n_samples),
                           rng.integers(0, days, size=n_samples))
    bad = 0
    for u, d in zip(sample_users, sample_days):
        sel = by_user_order[bounds[u - 1]:bounds[u]]
        lo = start_us + (d - 6) * US_PER_DAY
        hi = start_us + (d + 1) * US_PER_DAY
        m = (t_ts[sel] >= lo) & (t_ts[sel] < hi)
        amts = t_amt[sel][m]
        merch = t_merch[sel][m]
        row = d * users + (u - 1)
        assert f_user[row] == u and f_ts[row] == hi - 1, (u, d, f_user[row], f_ts[row])
        exp = {
            "transaction_count_7d": len(amts),
            "total_amount_7d": float(amts.sum()) if len(amts) else 0.0,
            "avg_amount_7d": float(amts.mean()) if len(amts) else np.nan,
            "max_amount_7d": float(amts.max()) if len(amts) else np.nan,
            "unique_merchants_7d": len(np.unique(merch)),
        }
        for c, e in exp.items():
            g = cols[c][row]
            if isinstance(e, float):
                ok = (np.isnan(e) and pd.isna(g)) or (not pd.isna(g) and abs(g - e) <= 1e-9 * max(1.0, abs(e)))
            else:
                ok = g == e
            if not ok:
                bad += 1
                if bad <= 10:
                    print(f"VERIFY MISMATCH user={u} day={d} {c}: got {g} expected {e}", file=sys.stderr)
    return bad


def gen_entity_df(rng, n, users, days, start_us, ttl_days=30):
    end_us = start_us + days * US_PER_DAY
    parts_u, parts_t = [], []

    def add(k, uids, ts):
        parts_u.append(uids.astype(np.int64))
        parts_t.append(ts.astype(np.int64))

    m = int(n * 1.02) + 100  # oversample, then dedupe (user_id, ts) and cut to n
    n_main = int(m * 0.88)
    n_ghost = int(m * 0.03)
    n_before = int(m * 0.03)
    n_after = int(m * 0.03)
    n_expired = int(m * 0.02)
    n_exact = int(m * 0.005)
    n_ttl_edge = m - (n_main + n_ghost + n_before + n_after + n_expired + n_exact)
    eu = lambda k: rng.integers(1, users + 1, size=k)  # existing users
    add(n_main, eu(n_main), rng.integers(start_us, end_us, size=n_main))
    add(n_ghost, rng.integers(users + 1, users + 1 + max(1000, users // 10), size=n_ghost),
        rng.integers(start_us, end_us, size=n_ghost))
    add(n_before, eu(n_before), rng.integers(start_us - 7 * US_PER_DAY, start_us, size=n_before))
    add(n_after, eu(n_after), rng.integers(end_us, end_us + ttl_days * US_PER_DAY, size=n_after))
    add(n_expired, eu(n_expired), rng.integers(end_us + ttl_days * US_PER_DAY + 1, end_us + 45 * US_PER_DAY, size=n_expired))
    feature_ts = lambda k: start_us + (rng.integers(0, days, size=k) + 1) * US_PER_DAY - 1
    last_feature_ts = end_us - 1
    h = n_exact // 2
    add(h, eu(h), feature_ts(h))  # exactly at a feature row: that row must be picked (>=)
    add(n_exact - h, eu(n_exact - h), feature_ts(n_exact - h) - 1)  # 1 us before: the previous row
    h = n_ttl_edge // 2
    ttl_us = ttl_days * US_PER_DAY
    add(h, eu(h), np.full(h, last_feature_ts + ttl_us))  # last row exactly ttl old: still valid
    add(n_ttl_edge - h, eu(n_ttl_edge - h), np.full(n_ttl_edge - h, last_feature_ts + ttl_us + 1))  # 1 us too old
    uid = np.concatenate(parts_u)
    ts = np.concatenate(parts_t)
    perm = rng.permutation(len(uid))
    df = pd.DataFrame({"user_id": uid[perm], "ts": ts[perm]})
    df = df.drop_duplicates(["user_id", "ts"], keep="first").iloc[:n]
    assert len(df) == n, (len(df), n)
    return pa.table({
        "user_id": pa.array(df["user_id"].to_numpy(), pa.int64()),
        "event_timestamp": pa.array(df["ts"].to_numpy(), pa.int64()).cast(TS_TYPE),
    })


def main(argv=None):
    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    start = datetime.strptime(a.start_date, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    start_us = int(start.timestamp()) * 1_000_000
    n_merchants = a.merchants or max(1000, a.users // 10)
    stats = {"args": vars(a), "start_date": start.isoformat()}
    t0 = time.perf_counter()

    tx = gen_transactions(rng, a.users, a.days, a.tx_per_user_day, n_merchants, start_us)
    pq.write_table(tx, os.path.join(a.out, "transactions.parquet"), compression="zstd", row_group_size=1_000_000)
    stats["transactions_rows"] = tx.num_rows
    t1 = time.perf_counter()

    con = duckdb.connect()
    con.execute(f"SET threads={a.threads}; SET TimeZone='UTC';")
    con.register("transactions", tx)
    feats = compute_features(con, a.users, a.days, start_us)
    pq.write_table(feats, os.path.join(a.out, "user_daily_features.parquet"), compression="zstd", row_group_size=1_000_000)
    stats["feature_rows"] = feats.num_rows
    stats["feature_rows_with_empty_window"] = int(pc.sum(pc.equal(feats["transaction_count_7d"], 0)).as_py() or 0)
    t2 = time.perf_counter()

    if not a.no_verify:
        vrng = np.random.default_rng(a.seed + 1)
        bad = verify_features(vrng, tx, feats, a.users, a.days, start_us, a.verify_samples)
        stats["verify_samples"] = a.verify_samples
        stats["verify_mismatches"] = bad
        if bad:
            print(json.dumps(stats, indent=2))
            sys.exit(f"feature verification failed: {bad} mismatching cells")
    t3 = time.perf_counter()

    erng = np.random.default_rng(a.seed + 2)
    ent = gen_entity_df(erng, a.entity_rows, a.users, a.days, start_us)
    pq.write_table(ent, os.path.join(a.out, "entity_df.parquet"), compression="zstd")
    stats["entity_rows"] = ent.num_rows
    t4 = time.perf_counter()
    stats["seconds"] = {"transactions": round(t1 - t0, 2), "features_duckdb": round(t2 - t1, 2),
                        "verify": round(t3 - t2, 2), "entity_df": round(t4 - t3, 2)}
    with open(os.path.join(a.out, "gen_stats.json"), "w") as f:
        json.dump(stats, f, indent=2)
    print(json.dumps(stats, indent=2))


if __name__ == "__main__":
    main()
