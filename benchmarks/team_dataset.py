"""The team's benchmark transactions (benchmarks/gen_data.py) at any size, with the generator's own
DuckDB 7-day features for the first --check-users users only.

The generator itself materializes its feature table for every user and day in memory: at 5M users x 90
days that is 450M rows (about 25 GiB as Arrow), more than this machine has. The transactions here are the
generator's exactly (its ``gen_transactions`` with the generator's seed, called first as its ``main``
does), and the features are the generator's ``compute_features`` SQL run over the transactions of users
1..N with N users, which gives those users the very rows the full run would.

    .venv/bin/python benchmarks/team_dataset.py --users 5000000 --days 90 --tx-per-user-day 0.2222 \\
        --start-date 2026-08-03 --out DIR
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from datetime import UTC, datetime
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default=str(Path(__file__).with_name("gen_data.py")),
                        help="the data generator (default: benchmarks/gen_data.py, the team's)")
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--tx-per-user-day", type=float, required=True)
    parser.add_argument("--start-date", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=42, help="the generator's default seed")
    parser.add_argument("--check-users", type=int, default=50_000)
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("gen_data", args.generator)
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    import duckdb
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    start = datetime.strptime(args.start_date, "%Y-%m-%d").replace(tzinfo=UTC)
    start_us = int(start.timestamp()) * 1_000_000
    rng = np.random.default_rng(args.seed)  # as the generator's main: the transactions are its first draws
    tx = gen.gen_transactions(rng, args.users, args.days, args.tx_per_user_day, max(1000, args.users // 10),
                              start_us)
    pq.write_table(tx, out / "transactions.parquet", compression="zstd", row_group_size=1_000_000)
    print(f"   {tx.num_rows:,} transactions written in {time.monotonic() - began:.0f}s", flush=True)
    checked = min(args.check_users, args.users)
    sample = tx.filter(pc.less_equal(tx["user_id"], checked))
    del tx
    con = duckdb.connect()
    con.execute("SET threads=2; SET TimeZone='UTC';")
    con.register("transactions", sample)
    features = gen.compute_features(con, checked, args.days, start_us)
    pq.write_table(features, out / "user_daily_features.parquet", compression="zstd")
    print(f"   the generator's features of users 1..{checked:,}: {features.num_rows:,} rows", flush=True)


if __name__ == "__main__":
    main()
