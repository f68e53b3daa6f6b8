"""pitstop beside Feast 0.67 on the team's generated data: both measured in the same run, on the same machine,
against the same private redis-server.

    .venv/bin/python benchmarks/feast_compare.py [--sizes small[,medium][,large]] [--work DIR] [--repeat N]
                                                 [--feast-offline-store file|spark] [--fresh] [--out FILE.json]

Sizes (`benchmarks/gen_data.py`, the team's generator; the data is made once under --work and reused):
  small:  --users 10000 --days 60 --tx-per-user-day 3 --entity-rows 100000   (1.8M transactions)
  medium: --users 100000 --days 90 --tx-per-user-day 2 --entity-rows 1000000 (about 18M transactions)
  large:  --users 1000000 --days 10 --tx-per-user-day 1 --entity-rows 1000000 (about 10M transactions: a
          publish of about a million users, which goes through Spark; the short range keeps the setup short)

What is compared, for each size:
  publish to Redis   pitstop: `pitstop publish VIEW` from the command line, timed from the command's start to
                     its exit, and the figure it prints; Feast: `FeatureStore.materialize` of the whole range into
                     Redis as benchmarks/feast/feast_peer.py does it (its child process's start to exit, and the
                     call alone). Both leave every user's newest features readable online.
  training set       pitstop: `pitstop training-set --spine entity_df.parquet --features ... --out DIR`, start to
                     exit (and the figure it prints); Feast: `get_historical_features(entity_df).to_df()` as
                     feast_peer.py does it (its child process: import, read the spine, join, write parquet; and the
                     join alone). The outputs are compared row by row afterwards.
  materialize        pitstop only (`pitstop materialize VIEW --start D --end D --force --no-publish` of the last
                     day): Feast serves the generator's precomputed `user_daily_features.parquet` and computes no
                     feature; the first days are materialized once beforehand (setup, timed, not compared).

pitstop runs twice per step: "warm", with the repository's Spark Connect engine running (`pitstop engine start`
before any timing; stopped at the end), and "cold", with PITSTOP_ENGINE=local (Spark starts in the command's own
process; publish of a small day needs no Spark at all). pitstop's view `user_daily` has the 7-day features that
Feast serves from the generator's table: count, sum, avg and max of amount and the count of distinct merchants,
with a ttl of 30 days like Feast's view. Ratios are Feast's time divided by pitstop's (above 1: pitstop is faster).

Feast runs in a virtualenv of its own (default <work>/feast-venv, made with `python3 -m venv` and
benchmarks/feast/requirements-lock.txt, and reused when present), never in the project's. One redis-server on
a free loopback port serves both: Feast in db 0 (feast_peer.py FLUSHDBs it before each materialize), pitstop in
db 1 (flushed before each timed publish, so each publish writes every entity). pitstop's repository, tables and
training sets live in <work>/<size>/ (kept between runs, as the first days' materialization is setup; --fresh
rebuilds them). The printed tables and --out JSON carry every figure; the load average is printed with each
measurement, because another job on the machine inflates wall times.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pitstop.stores.local_redis import RedisProcess, free_port, start_redis

HERE = Path(__file__).resolve().parent
FEAST_DIR = HERE / "feast"
LOCK = FEAST_DIR / "requirements-lock.txt"
FEAST_VERSION = "0.67.0"
SIZES: dict[str, list[str]] = {
    "small": ["--users", "10000", "--days", "60", "--tx-per-user-day", "3", "--entity-rows", "100000"],
    "medium": ["--users", "100000", "--days", "90", "--tx-per-user-day", "2", "--entity-rows", "1000000"],
    "large": ["--users", "1000000", "--days", "10", "--tx-per-user-day", "1", "--entity-rows", "1000000"],
}
VIEW = "user_daily"
DEFS = f"""
from datetime import timedelta

from pitstop import Aggregation, BatchSource, Entity, FeatureView

user = Entity("user", join_keys=["user_id"])
transactions = BatchSource("transactions", path="data/transactions", readiness="none")
# the generator's user_daily_features: the window of day D is the days D-6 .. D; ttl 30 days as Feast's view
{VIEW} = FeatureView("{VIEW}", entities=[user], source=transactions, ttl=timedelta(days=30), aggregations=[
    Aggregation("count", windows=["7d"]),
    Aggregation("sum", column="amount", windows=["7d"]),
    Aggregation("avg", column="amount", windows=["7d"]),
    Aggregation("max", column="amount", windows=["7d"]),
    Aggregation("count_distinct", column="merchant_id", windows=["7d"]),
])
"""
# pitstop's feature -> the generator's (and Feast's) column of the same meaning
FEATURES = {"count_7d": "transaction_count_7d", "amount_sum_7d": "total_amount_7d",
            "amount_avg_7d": "avg_amount_7d", "amount_max_7d": "max_amount_7d",
            "merchant_id_count_distinct_7d": "unique_merchants_7d"}
US_PER_DAY = 86_400_000_000
MODES = ("warm", "cold")


def say(line: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {line} (load average {os.getloadavg()[0]:.1f})", flush=True)


def run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
        log: Path | None = None) -> tuple[float, str]:
    """Run a command to its end: (seconds from start to exit, its stdout and stderr). SystemExit when it fails."""
    began = time.monotonic()
    done = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.monotonic() - began
    if log is not None:
        with log.open("a") as f:
            f.write(f"$ {' '.join(cmd)}\n{done.stdout}\n[exit {done.returncode} after {seconds:.2f}s]\n\n")
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {done.returncode}):\n{done.stdout[-3000:]}")
    return seconds, done.stdout


# --------------------------------------------------------------------------------------------- the data


def ensure_data(size: str, work: Path) -> tuple[Path, dict[str, Any]]:
    """The generator's dataset of ``size`` under <work>/data/<size> (made once; its gen_stats.json says with
    which arguments)."""
    out = work / "data" / size
    stats_path = out / "gen_stats.json"
    wanted = SIZES[size]
    if stats_path.exists():
        stats: dict[str, Any] = json.loads(stats_path.read_text())
        given = {k: float(stats["args"][k]) for k in ("users", "days", "tx_per_user_day", "entity_rows")}
        if given == {k.lstrip("-").replace("-", "_"): float(v) for k, v in zip(wanted[::2], wanted[1::2], strict=True)}:
            return out, stats
    shutil.rmtree(out, ignore_errors=True)
    say(f"{size}: generating the data (benchmarks/gen_data.py {' '.join(wanted)})")
    seconds, _ = run([sys.executable, str(HERE / "gen_data.py"), *wanted, "--out", str(out)])
    say(f"{size}: data generated in {seconds:.0f}s")
    stats = json.loads(stats_path.read_text())
    return out, stats


def write_source(data: Path, repo: Path) -> int:
    """The generator's transactions as a ds-partitioned parquet source (ds=YYYY-MM-DD/part-0.parquet, by the UTC
    day of event_timestamp). Returns the number of days."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(data / "transactions.parquet")
    micros = table.column("event_timestamp").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    if np.any(np.diff(micros) < 0):  # the generator writes them in time order; sort if that ever changes
        order = np.argsort(micros, kind="stable")
        table, micros = table.take(pa.array(order)), micros[order]
    days = micros // US_PER_DAY
    first, last = int(days[0]), int(days[-1])
    bounds = np.searchsorted(days, np.arange(first, last + 2))
    for i, day in enumerate(range(first, last + 1)):
        folder = repo / "data" / "transactions" / f"ds={date(1970, 1, 1) + timedelta(days=day)}"
        folder.mkdir(parents=True, exist_ok=True)
        part = table.slice(int(bounds[i]), int(bounds[i + 1] - bounds[i]))
        pq.write_table(part, folder / "part-0.parquet")
    assert pc.sum(pa.array(np.diff(bounds))).as_py() == table.num_rows
    return last - first + 1


def write_config(repo: Path, redis_url: str) -> None:
    (repo / "pitstop.yaml").write_text(textwrap.dedent(f"""\
        project: feastcmp
        offline_store:
          path: delta
        spark:
          master: local[2]
          conf:
            spark.driver.memory: 4g
        online_store:
          url: {redis_url}
        """))


# --------------------------------------------------------------------------------------------- pitstop


class Pitstop:
    """pitstop's commands on one repository, each a fresh process, warm (the engine) or cold (in-process)."""

    def __init__(self, repo: Path, log: Path) -> None:
        self.repo, self.log = repo, log
        self.exe = str(Path(sys.executable).parent / "pitstop")

    def __call__(self, mode: str, *args: str) -> tuple[float, str]:
        env = dict(os.environ)
        env.pop("PITSTOP_ENGINE", None)
        if mode == "cold":
            env["PITSTOP_ENGINE"] = "local"
        return run([self.exe, "--repo", str(self.repo), *args], env=env, log=self.log)


def printed_seconds(pattern: str, output: str) -> float | None:
    found = re.search(pattern, output)
    return float(found.group(1)) if found else None


def pitstop_side(size: str, data: Path, stats: dict[str, Any], root: Path, redis: RedisProcess, repeat: int,
                 fresh: bool) -> dict[str, Any]:
    import redis as redis_py

    repo = root / "pitstop_repo"
    marker = repo / ".backfilled"
    if fresh or not marker.exists() or marker.read_text() != json.dumps(stats["args"]):
        shutil.rmtree(repo, ignore_errors=True)
    (repo / "feature_defs").mkdir(parents=True, exist_ok=True)
    write_config(repo, f"redis://127.0.0.1:{redis.port}/1")
    (repo / "feature_defs" / "defs.py").write_text(DEFS.lstrip())
    if not (repo / "data" / "transactions").exists():
        began = time.monotonic()
        n_days = write_source(data, repo)
        say(f"{size}: wrote the transactions as a ds-partitioned parquet source ({n_days} days) in "
            f"{time.monotonic() - began:.1f}s")
    log = root / "pitstop_commands.log"  # every command's output, this run's
    log.write_text("")
    pitstop = Pitstop(repo, log)
    start = date.fromisoformat(stats["start_date"][:10])
    last = start + timedelta(days=int(stats["args"]["days"]) - 1)
    out: dict[str, Any] = {"repo": str(repo), "log": str(log), "last_day": last.isoformat(),
                           "online_store": f"redis://127.0.0.1:{redis.port}/1"}
    seconds, _ = pitstop("cold", "apply")
    out["apply_seconds"] = seconds
    say(f"{size}: pitstop apply {seconds:.1f}s")
    client = redis_py.Redis(host="127.0.0.1", port=redis.port, db=1)
    engine_started = False
    try:
        seconds, text = pitstop("warm", "engine", "start")
        engine_started = True
        out["engine_start_seconds"] = seconds
        out["engine"] = text.strip()
        say(f"{size}: pitstop engine start {seconds:.1f}s: {text.strip()}")
        if not marker.exists():
            seconds, text = pitstop("warm", "materialize", VIEW, "--start", start.isoformat(), "--end",
                                    (last - timedelta(days=1)).isoformat(), "--force", "--no-publish")
            out["backfill"] = {"days": (last - start).days, "seconds": seconds, "mode": "warm",
                               "printed_seconds": printed_seconds(r"materialized \d+ day\(s\) .* in ([\d.]+)s", text)}
            marker.write_text(json.dumps(stats["args"]))
            say(f"{size}: setup: materialized the first {(last - start).days} days (warm) in {seconds:.0f}s")
        else:
            out["backfill"] = {"reused": True}
            say(f"{size}: setup: the first days' tables are reused from an earlier run (--fresh rebuilds them)")
        runs: dict[str, list[dict[str, Any]]] = {f"{step}_{mode}": [] for step in ("materialize", "publish",
                                                                                  "training_set") for mode in MODES}
        for i in range(repeat):
            for mode in MODES:
                seconds, text = pitstop(mode, "materialize", VIEW, "--start", last.isoformat(), "--end",
                                        last.isoformat(), "--force", "--no-publish")
                own = printed_seconds(r"materialized 1 day\(s\) .* in ([\d.]+)s", text)
                breakdown = re.search(r"time: (.*)", text)
                runs[f"materialize_{mode}"].append({"seconds": seconds, "printed_seconds": own,
                                                    "breakdown": breakdown.group(1) if breakdown else None,
                                                    "load": os.getloadavg()[0]})
                say(f"{size}: pitstop materialize {last} ({mode}, run {i + 1}): {seconds:.1f}s, prints {own}s")
        for i in range(repeat):
            for mode in MODES:
                client.flushdb()  # pitstop's db only: otherwise the day is "already published" and nothing is written
                seconds, text = pitstop(mode, "publish", VIEW)
                found = re.search(r"([\d,]+) entities in ([\d.]+)s", text)
                if found is None:
                    raise SystemExit(f"pitstop publish wrote nothing? It printed:\n{text}")
                entities, own = int(found.group(1).replace(",", "")), float(found.group(2))
                runs[f"publish_{mode}"].append({"seconds": seconds, "printed_seconds": own, "entities": entities,
                                                "redis_keys_db1": client.dbsize(), "load": os.getloadavg()[0]})
                say(f"{size}: pitstop publish ({mode}, run {i + 1}): {seconds:.1f}s, prints {own}s for "
                    f"{entities:,} entities")
        features = ",".join(f"{VIEW}:{f}" for f in FEATURES)
        for i in range(repeat):
            for mode in MODES:
                target = root / f"training_set_{mode}_{i + 1}"
                shutil.rmtree(target, ignore_errors=True)
                seconds, text = pitstop(mode, "training-set", "--spine", str(data / "entity_df.parquet"),
                                        "--features", features, "--out", str(target))
                found = re.search(r"wrote ([\d,]+) rows .* in ([\d.]+)s", text)
                rows, own = (int(found.group(1).replace(",", "")), float(found.group(2))) if found else (None, None)
                runs[f"training_set_{mode}"].append({"seconds": seconds, "printed_seconds": own, "rows_out": rows,
                                                     "out": str(target), "load": os.getloadavg()[0]})
                say(f"{size}: pitstop training-set ({mode}, run {i + 1}): {seconds:.1f}s, prints {own}s, "
                    f"{rows:,} rows" if rows is not None else f"{size}: pitstop training-set printed:\n{text}")
        out["runs"] = runs
    finally:
        client.close()
        if engine_started:
            _, text = pitstop("warm", "engine", "stop")
            say(f"{size}: {text.strip()}")
    return out


# --------------------------------------------------------------------------------------------- Feast


def feast_python(work: Path) -> Path:
    """Feast's own virtualenv: <work>/feast-venv, made from the lock file when it is not there yet."""
    venv = work / "feast-venv"
    python = venv / "bin" / "python"
    check = [str(python), "-c", f"import feast, sys; sys.exit(feast.__version__ != {FEAST_VERSION!r})"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    say(f"creating Feast's virtualenv {venv} from {LOCK.relative_to(HERE.parent)} (once)")
    shutil.rmtree(venv, ignore_errors=True)
    began = time.monotonic()
    run([shutil.which("python3") or "python3", "-m", "venv", str(venv)])
    if shutil.which("uv"):
        run(["uv", "pip", "install", "--python", str(python), "-r", str(LOCK)])
    else:
        run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
        run([str(python), "-m", "pip", "install", "--quiet", "-r", str(LOCK)])
    run(check)
    say(f"Feast {FEAST_VERSION} installed in {venv} in {time.monotonic() - began:.0f}s")
    return python


def feast_side(size: str, data: Path, root: Path, python: Path, redis: RedisProcess, repeat: int,
               offline_store: str) -> dict[str, Any]:
    """feast_peer.py's apply, materialize (into Redis db 0) and offline steps, once per repetition."""
    repo = root / f"feast_repo_{offline_store}"
    shutil.rmtree(repo, ignore_errors=True)
    runs: list[dict[str, Any]] = []
    for i in range(repeat):
        result = root / f"feast_{offline_store}_{i + 1}.json"
        steps = "apply,materialize,offline" if i == 0 else "materialize,offline"
        began = time.monotonic()
        run([str(python), str(FEAST_DIR / "feast_peer.py"), "--data", str(data), "--label", size, "--repo",
             str(repo), "--redis-port", str(redis.port), "--offline-store", offline_store, "--steps", steps,
             "--reps", "1", "--out", str(result)], log=root / "feast_peer.log")
        report = json.loads(result.read_text())
        results = report["results"]
        materialized = results["materialize"][0]
        offline = results[f"offline_{offline_store}"]
        for name, step in (("materialize", materialized), ("offline", offline)):
            if step.get("returncode") != 0 or "killed" in step:
                raise SystemExit(f"Feast's {name} step failed: {step.get('killed') or step.get('error_tail')}")
        one = {"materialize_seconds": materialized["seconds"], "materialize_process_seconds":
               materialized["child_wall_s"], "redis_keys_db0": materialized["redis_dbsize_after"],
               "offline_seconds": offline["seconds"], "offline_process_seconds": offline["child_wall_s"],
               "rows_out": offline["rows_out"], "entity_rows_in": offline["entity_rows_in"],
               "output": offline["output"], "peak_rss_gib": {"materialize": materialized["watchdog_peak_rss_tree_gib"],
                                                             "offline": offline["watchdog_peak_rss_tree_gib"]},
               "feast_peer_seconds": time.monotonic() - began, "json": str(result)}
        if "apply" in results:
            one["apply_seconds"] = results["apply"]["seconds_cli_total"]
        runs.append(one)
        say(f"{size}: Feast run {i + 1}: materialize {one['materialize_process_seconds']:.1f}s "
            f"(the call {one['materialize_seconds']:.1f}s, {one['redis_keys_db0']:,} keys); "
            f"get_historical_features ({offline_store}) {one['offline_process_seconds']:.1f}s "
            f"(the call {one['offline_seconds']:.1f}s, {one['rows_out']:,} rows)")
    return {"repo": str(repo), "offline_store": offline_store, "versions": report["versions"], "runs": runs}


# --------------------------------------------------------------------------------------------- agreement


def read_training_set(path: Path, renames: dict[str, str]) -> Any:
    """A training set as pandas, keyed by (user_id, event time in epoch microseconds), features as float64."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    frame = table.drop(["event_timestamp"]).to_pandas().rename(columns=renames)
    frame["t"] = table.column("event_timestamp").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    for name in FEATURES.values():
        frame[name] = frame[name].astype("float64")
    return frame.sort_values(["user_id", "t"], kind="stable").reset_index(drop=True)


def agreement(pitstop_out: Path, other_out: Path, stats: dict[str, Any]) -> dict[str, Any]:
    """pitstop's training set against Feast's on the same spine: the rows Feast left out (those pitstop gives
    values for, by kind), and the differing values by kind (unknown users; spine rows at exactly a Feast feature
    row's time, D 23:59:59.999999, which Feast serves from day D and pitstop from D-1, whose snapshot time S(D)
    is 1 us later; anything else)."""
    import numpy as np

    ours = read_training_set(pitstop_out, FEATURES)
    theirs = read_training_set(other_out, {})
    merged = ours.merge(theirs, on=["user_id", "t"], how="outer", suffixes=("_p", "_f"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    differs = np.zeros(len(both), dtype=bool)
    for name in FEATURES.values():
        a, b = both[f"{name}_p"].to_numpy(), both[f"{name}_f"].to_numpy()
        an, bn = np.isnan(a), np.isnan(b)
        close = np.abs(np.nan_to_num(a) - np.nan_to_num(b)) <= 1e-9 * np.maximum(1.0, np.abs(np.nan_to_num(b)))
        differs |= (an != bn) | (~an & ~bn & ~close)
    users = int(stats["args"]["users"])
    start = int(datetime.fromisoformat(stats["start_date"]).timestamp()) * 1_000_000
    # the last feature row (end - 1 us) + 30 days + 1 us: expired for Feast; pitstop's ttl counts from the snapshot
    # time S(D), 1 us after Feast's stamp, so this row is exactly 30 days after it: still valid
    ttl_edge = start + (int(stats["args"]["days"]) + 30) * US_PER_DAY
    rows = both[differs]
    unknown = rows["user_id"].to_numpy() > users
    at_instant = (rows["t"].to_numpy() % US_PER_DAY) == US_PER_DAY - 1
    at_edge = rows["t"].to_numpy() == ttl_edge
    other = ~unknown & ~at_instant & ~at_edge
    only_ours = merged[merged["_merge"] == "left_only"]
    ours_null = only_ours[[f"{n}_p" for n in FEATURES.values()]].isna().all(axis=1)
    with_values = only_ours[~ours_null]
    return {"pitstop_rows": len(ours), "feast_rows": len(theirs), "rows_in_both": len(both),
            "rows_only_in_pitstop": len(only_ours),
            "rows_only_in_pitstop_all_features_null": int(ours_null.sum()),
            "rows_only_in_pitstop_unknown_users": int((only_ours["user_id"] > users).sum()),
            "rows_only_in_pitstop_with_values_at_ttl_edge": int((with_values["t"] == ttl_edge).sum()),
            "rows_only_in_pitstop_with_values_other": int((with_values["t"] != ttl_edge).sum()),
            "rows_only_in_feast": int((merged["_merge"] == "right_only").sum()),
            "rows_differing": len(rows), "differing_unknown_user": int(unknown.sum()),
            "differing_at_feature_row_instant": int((~unknown & at_instant).sum()),
            "differing_at_ttl_edge": int((~unknown & at_edge).sum()),
            "differing_other": int(other.sum()), "other_examples": rows[other].head(5).to_dict("records")}


def same_rows(a: Path, b: Path) -> bool:
    x, y = read_training_set(a, FEATURES), read_training_set(b, FEATURES)
    return bool(x.equals(y))


# --------------------------------------------------------------------------------------------- the table


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def cell(values: list[float], unit: str = "s") -> str:
    """The median, then each run when they differ: seconds to 0.1, counts whole."""
    if not values:
        return "—"
    if not unit:
        return f"{median(values):,.0f}" + (f" ({' / '.join(f'{v:,.0f}' for v in values)})"
                                            if len(set(values)) > 1 else "")
    return f"{median(values):,.1f} {unit}" + (f" ({' / '.join(f'{v:.1f}' for v in values)})"
                                              if len(values) > 1 else "")


def ratio(feast: list[float], ours: list[float]) -> str:
    return f"{median(feast) / median(ours):.1f}×" if feast and ours and median(ours) > 0 else "—"


def table(size: str, p: dict[str, Any], f: dict[str, Any], agree: dict[str, Any], spine_rows: int) -> str:
    runs, fr = p["runs"], f["runs"]

    def ours(step: str, mode: str, key: str = "seconds") -> list[float]:
        return [r[key] for r in runs[f"{step}_{mode}"] if r.get(key) is not None]

    def theirs(key: str) -> list[float]:
        return [r[key] for r in fr if r.get(key) is not None]

    rows: list[list[str]] = [["step", "pitstop warm", "pitstop cold", "Feast", "ratio: Feast ÷ pitstop warm / cold"]]

    def add(step: str, warm: list[float], cold: list[float], feast: list[float], unit: str = "s",
            with_ratio: bool = True) -> None:
        both = f"{ratio(feast, warm)} / {ratio(feast, cold)}" if with_ratio and feast else "—"
        rows.append([step, cell(warm, unit), cell(cold, unit), cell(feast, unit), both])

    backfill = p["backfill"]
    add("setup: pitstop apply (no Spark; nothing to change when the tables are reused) / feast apply", [],
        [p["apply_seconds"]], theirs("apply_seconds"), with_ratio=False)
    add("setup: pitstop engine start (before the warm runs)", [p["engine_start_seconds"]], [], [])
    if "seconds" in backfill:
        add(f"setup: materialize the first {backfill['days']} days (Feast: precomputed by the generator)",
            [backfill["seconds"]], [], [])
    add(f"materialize the last day {p['last_day']}: command start to exit", ours("materialize", "warm"),
        ours("materialize", "cold"), [])
    add("  the figure pitstop prints", ours("materialize", "warm", "printed_seconds"),
        ours("materialize", "cold", "printed_seconds"), [])
    add("publish to Redis: command / process start to exit", ours("publish", "warm"), ours("publish", "cold"),
        theirs("materialize_process_seconds"))
    add("  the figure pitstop prints / Feast's materialize() call", ours("publish", "warm", "printed_seconds"),
        ours("publish", "cold", "printed_seconds"), theirs("materialize_seconds"))
    add("  entities (keys) written", ours("publish", "warm", "entities"), ours("publish", "cold", "entities"),
        theirs("redis_keys_db0"), unit="", with_ratio=False)
    add(f"training set for the {spine_rows:,}-row spine: command / process start to exit",
        ours("training_set", "warm"), ours("training_set", "cold"), theirs("offline_process_seconds"))
    add("  the figure pitstop prints (its write) / Feast's get_historical_features().to_df()",
        ours("training_set", "warm", "printed_seconds"), ours("training_set", "cold", "printed_seconds"),
        theirs("offline_seconds"))
    add("  rows out", ours("training_set", "warm", "rows_out"), ours("training_set", "cold", "rows_out"),
        theirs("rows_out"), unit="", with_ratio=False)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    notes = [
        f"{size}: Feast's offline store: {f['offline_store']}; Feast's view serves the generator's precomputed "
        f"features, pitstop computes its own from the transactions.",
        f"agreement of the training sets (pitstop warm run 1 vs Feast run 1), {agree['rows_in_both']:,} rows in "
        f"both: {agree['rows_differing']:,} differ ({agree['differing_unknown_user']:,} unknown users: pitstop "
        f"gives the empty-window values 0, Feast nulls; {agree['differing_at_feature_row_instant']:,} at exactly a "
        f"Feast feature row's time D 23:59:59.999999: Feast serves D, pitstop D-1; "
        f"{agree['differing_at_ttl_edge']:,} at the last feature row + 30 days + 1 us: past Feast's ttl by 1 us, "
        f"exactly 30 days after pitstop's snapshot time; {agree['differing_other']:,} other). "
        f"Rows Feast left out: {agree['rows_only_in_pitstop']:,} "
        f"({agree['rows_only_in_pitstop_all_features_null']:,} of them all-null in pitstop's; with values there: "
        f"{agree['rows_only_in_pitstop_with_values_at_ttl_edge']:,} at that ttl edge and "
        f"{agree['rows_only_in_pitstop_with_values_other']:,} other); rows only in Feast's: "
        f"{agree['rows_only_in_feast']:,}.",
        "pitstop publishes the users with an event in the view's largest window (the others read as the "
        "empty-window values online); Feast writes a key for every user of its feature table.",
        f"pitstop's warm and cold training sets are identical: {agree['warm_equals_cold']}.",
    ]
    return "\n".join(lines) + "\n" + "\n".join(notes)


# --------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="small", help="comma-separated: small, medium, large (default small)")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "feastbench"),
                        help="data, repositories, Feast's virtualenv and logs (default: <tmp>/feastbench)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each step and mode (the table shows "
                                                              "the median and each run)")
    parser.add_argument("--feast-offline-store", choices=["file", "spark"], default="file",
                        help="Feast's offline store for the training set (feast_peer.py's default: file)")
    parser.add_argument("--fresh", action="store_true", help="rebuild pitstop's repository and tables")
    parser.add_argument("--out", help="write every figure to this JSON file")
    args = parser.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown or not sizes or args.repeat < 1:
        parser.error(f"--sizes takes {', '.join(SIZES)} (got {args.sizes!r}); --repeat at least 1")
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "-C", str(HERE), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip()
    # the source as run: the commit and, when src/ has uncommitted changes, a digest of them
    diff = subprocess.run(["git", "-C", str(HERE.parent), "diff", "HEAD", "--", "src"], capture_output=True).stdout
    untracked = subprocess.run(["git", "-C", str(HERE.parent), "ls-files", "--others", "--exclude-standard", "src"],
                               capture_output=True, text=True).stdout.split()
    digest = hashlib.sha256(diff + b"".join((HERE.parent / f).read_bytes() for f in untracked)).hexdigest()[:12]
    result: dict[str, Any] = {"started_utc": datetime.now(UTC).isoformat(), "pitstop_commit": commit,
                              "pitstop_src_changes_sha256": digest if diff or untracked else None,
                              "pitstop_src_untracked": untracked,
                              "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(), "work": str(work),
                              "repeat": args.repeat, "sizes": {}}
    python = feast_python(work)
    redis = start_redis(free_port(), work / "redis")
    say(f"redis-server on 127.0.0.1:{redis.port} (pid {redis.pid}): Feast in db 0, pitstop in db 1")
    tables: list[str] = []
    try:
        for size in sizes:
            root = work / size
            root.mkdir(parents=True, exist_ok=True)
            data, stats = ensure_data(size, work)
            p = pitstop_side(size, data, stats, root, redis, args.repeat, args.fresh)
            f = feast_side(size, data, root, python, redis, args.repeat, args.feast_offline_store)
            warm = Path(p["runs"]["training_set_warm"][0]["out"])
            agree = agreement(warm, Path(f["runs"][0]["output"]), stats)
            agree["warm_equals_cold"] = same_rows(warm, Path(p["runs"]["training_set_cold"][0]["out"]))
            text = table(size, p, f, agree, int(stats["entity_rows"]))
            tables.append(f"{size} ({stats['transactions_rows']:,} transactions, {stats['args']['users']:,} users, "
                          f"{stats['args']['days']} days; {stats['entity_rows']:,}-row spine)\n{text}")
            result["sizes"][size] = {"gen_stats": stats, "pitstop": p, "feast": f, "agreement": agree}
            if args.out:
                Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    finally:
        redis.stop()
    result["finished_utc"] = datetime.now(UTC).isoformat()
    result["load_average_at_end"] = os.getloadavg()
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    print(f"\npitstop ({commit}) beside Feast {FEAST_VERSION}, {os.cpu_count()} cores, local[2]; "
          f"{datetime.now(UTC):%Y-%m-%d}; load average at the end {os.getloadavg()[0]:.1f}\n")
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
