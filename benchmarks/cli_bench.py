"""Cold command-line timings: each command in a fresh Python process, the median of N runs.

    .venv/bin/python benchmarks/cli_bench.py [--repo DIR] [--runs 5] [--src DIR]

Runs, in the feature repository (default: this one, the demo):
- `pitstop plan` with nothing changed (the checked-in plan up to date);
- `pitstop get` of a feature of an online view for one entity (against what is published in the configured
  Redis; when nothing is published the read is against an empty key space, and the output says so);
- `pitstop --help`;
- argument mistakes of `training-set` (an unknown feature; an existing `--out`; a spine without the
  timestamp column) and of `materialize` (--start after --end; an unknown view), each of which must be
  answered with its error (exit 3: terminal) before any Spark session starts.
Each line gives the median wall time, its min and max, and the median CPU time (user + system) of the command's
process, which a busy machine does not inflate as much. Every run's exit code is checked against the expected
one. ``--src DIR`` puts DIR first on PYTHONPATH, to
time another checkout's code on the same repository (e.g. the baseline's ``src``).

Bytecode: as an installed package has its ``.pyc`` files, each command first runs once untimed with Python's
bytecode cache on (written under a private PYTHONPYCACHEPREFIX, never into the source trees), whatever
PYTHONDONTWRITEBYTECODE says; ``--no-bytecode-cache`` times every run compiling every module from source
instead (what a machine with PYTHONDONTWRITEBYTECODE=1 and no ``.pyc`` files in site-packages sees).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], repo: Path, env: dict[str, str]) -> tuple[float, float, int, str, str]:
    """(wall seconds, CPU seconds of the process, exit code, stdout, stderr). The CPU time (user + system, from
    getrusage of the waited child) is what the command costs whatever else the machine runs; the wall time
    also holds the waits for a busy machine's cores."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pitstop.cli", *cmd], cwd=repo, env=env, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode, done.stdout, done.stderr


def first_online_feature(repo: Path) -> tuple[str, str, str] | None:
    plan: dict[str, Any] = json.loads((repo / "dags" / "pitstop_plan.json").read_text())
    for name, entry in sorted(plan["views"].items()):
        if entry["online"] and entry["features"] and entry["join_keys"][0]["dtype"] == "int64":
            return name, entry["features"][0]["name"], entry["join_keys"][0]["name"]
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=ROOT, help="the feature repository (default: the demo)")
    parser.add_argument("--runs", type=int, default=5, help="runs per command (default 5)")
    parser.add_argument("--src", type=Path, help="put this folder first on PYTHONPATH (another checkout's src/)")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="compile every module from source in every run (no .pyc files, no warm-up run)")
    parser.add_argument("--only", action="append", metavar="WORD",
                        help="time only the commands whose label holds WORD (repeatable), e.g. --only plan")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also time this checkout's src/ (e.g. the main branch's), alternating run by run with "
                             "the code timed, so that both meet the same load; prints a second line per command")
    args = parser.parse_args()
    repo = args.repo.resolve()
    work = Path(tempfile.mkdtemp(prefix="pitstop-cli-bench-"))

    def environment(src: Path | None, name: str) -> dict[str, str]:
        env = dict(os.environ)
        if src:
            env["PYTHONPATH"] = os.pathsep.join([str(src.resolve()), *filter(None, [env.get("PYTHONPATH")])])
        if args.no_bytecode_cache:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env["PYTHONPYCACHEPREFIX"] = str(work / "no-pycache")  # nothing there: every module compiled
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(work / f"pycache-{name}")
        return env

    envs = {"": environment(args.src, "timed")}
    if args.baseline:
        envs = {"baseline": environment(args.baseline, "baseline"), "this code": envs[""]}
    import pyarrow as pa
    import pyarrow.parquet as pq

    online = first_online_feature(repo)
    key_column = online[2] if online else "user_id"
    spine = work / "spine.parquet"
    pq.write_table(pa.table({key_column: pa.array([1, 2], pa.int64()),
                             "event_timestamp": pa.array([0, 0], pa.timestamp("us", tz="UTC"))}), spine)
    no_ts = work / "spine_no_ts.parquet"
    pq.write_table(pa.table({key_column: pa.array([1, 2], pa.int64())}), no_ts)
    existing = work / "existing_out"
    existing.mkdir()
    (existing / "part-0.parquet").write_bytes(b"x")
    cases: list[tuple[str, list[str], int]] = [("pitstop plan (nothing changed)", ["plan"], 0)]
    note = ""
    if online is not None:
        view, feature, key = online
        cases.append((f"pitstop get {view}:{feature}",
                      ["get", f"{view}:{feature}", "--entity", f"{key}=1", "--metadata"], 0))
    cases += [
        ("pitstop --help", ["--help"], 0),
        ("training-set: unknown feature", ["training-set", "--spine", str(spine), "--features",
                                           f"{online[0] if online else 'v'}:no_such_feature",
                                           "--out", str(work / "o1")], 3),
        ("training-set: --out exists", ["training-set", "--spine", str(spine), "--features",
                                        f"{online[0]}:{online[1]}" if online else "v:f", "--out", str(existing)], 3),
        ("training-set: spine lacks the timestamp column", ["training-set", "--spine", str(no_ts), "--features",
                                                             f"{online[0]}:{online[1]}" if online else "v:f",
                                                             "--out", str(work / "o2")], 3),
        ("materialize: --start after --end", ["materialize", online[0] if online else "v", "--start", "2026-10-02",
                                              "--end", "2026-10-01", "--no-publish"], 3),
        ("materialize: unknown view", ["materialize", "no_such_view", "--start", "2026-10-01", "--end", "2026-10-01",
                                       "--no-publish"], 3),
    ]
    print(f"cold CLI timings in {repo}: median of {args.runs} fresh processes each "
          f"({'no bytecode cache' if args.no_bytecode_cache else 'bytecode cached'}, python "
          f"{sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} at start)")
    failed = False
    for label, cmd, expected in cases:
        if args.only and not any(word in label for word in args.only):
            continue
        timed: dict[str, tuple[list[float], list[float], set[int], tuple[str, str]]] = {
            name: ([], [], set(), ("", "")) for name in envs}
        if not args.no_bytecode_cache:
            for env in envs.values():
                run(cmd, repo, env)  # untimed: writes the bytecode cache
        for _ in range(args.runs):
            for name, env in envs.items():
                seconds, cpu, code, out, err = run(cmd, repo, env)
                times, cpus, codes, _ = timed[name]
                times.append(seconds)
                cpus.append(cpu)
                codes.add(code)
                timed[name] = (times, cpus, codes, (out, err))
        for name, (times, cpus, codes, last) in timed.items():
            if label.startswith("pitstop get"):
                try:
                    metadata = json.loads(last[0])["metadata"]
                    ds = next(iter(metadata.values()))["ds"]
                    note = f"published ds {ds}" if ds else "nothing published: read against an empty Redis key space"
                except (ValueError, KeyError, StopIteration):
                    note = "no JSON answer"
            message = last[1].strip().splitlines()[-1][:110] if expected and last[1].strip() else ""
            ok = codes == {expected}
            failed |= not ok
            extra = f" ({note})" if label.startswith("pitstop get") else (f"  -> {message}" if message else "")
            shown = f"{label} [{name}]" if name else label
            print(f"  {shown:60} {statistics.median(times):6.2f} s  (min {min(times):.2f}, max {max(times):.2f}; "
                  f"CPU {statistics.median(cpus):.2f} s; exit {sorted(codes)}{'' if ok else f', expected {expected}'})"
                  f"{extra}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
