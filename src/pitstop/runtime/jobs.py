"""The Spark jobs of jobs/ (what Airflow's tasks spark-submit): the narrow (repo, views, ds range) contract.

Each file in jobs/ is one line, ``sys.exit(main("<job>"))``; the command lines live here, with the code
they call. Exit codes: 0 done, 3 terminal error (bad input: do not retry), 1 transient (Redis or Spark
failed: retry).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import date

from pitstop.errors import PitstopError
from pitstop.runtime.feature_store import FeatureStore


def run_materialize(repo: str, views: list[str], start: date, end: date, *, cascade: bool = True,
                    publish: bool = True, force: bool = False) -> str:
    """Materialize views (one Spark application); returns the run summaries. Reads only the plan and config."""
    store = FeatureStore(repo)
    return "\n".join(s.describe() for s in store.materialize(views, start, end, cascade=cascade, publish=publish,
                                                             force=force))


def run_publish(repo: str, views: list[str], ds: date | None) -> str:
    """Publish views' day (default: each one's newest materialized) into Redis; returns what happened."""
    store = FeatureStore(repo)
    return "\n".join(r.describe() for r in store.publish(views, ds))


def run_monitor(repo: str, views: list[str], sample: int) -> str:
    """The monitor task: a sampled Delta-vs-Redis comparison of each view's published day; a mismatch in any
    of them is terminal (every view is checked first)."""
    from pitstop.errors import ConsistencyError
    from pitstop.runtime.consistency import check, record

    store = FeatureStore(repo)
    plan = store.load_plan()
    reports = [check(store.config, plan, view, sample, store.spark) for view in views]
    for report in reports:
        record(store.config, plan, report, store.spark)
    text = "\n".join(r.describe() for r in reports)
    if not all(r.ok for r in reports):
        raise ConsistencyError(text)
    return text


def run_training_set(repo: str, name: str, run_id: str) -> str:
    """A TrainingSet definition's run: its spine SQL joined point in time and written to
    ``<output>/<run>`` with the manifest. Relative paths (in the spine SQL, the output) are relative to the
    repository."""
    import os
    import re

    from pitstop.errors import UsageError
    from pitstop.runtime.training_set import write

    store = FeatureStore(repo)
    plan = store.load_plan()
    entry = plan.training_sets.get(name)
    if entry is None:
        raise UsageError(f"no training set {name!r} in the plan; training sets: "
                         f"{', '.join(sorted(plan.training_sets)) or 'none'}")
    os.chdir(store.repo)
    result = store.training_set(entry.spine_sql, list(entry.features), timestamp_column=entry.timestamp_column,
                                full_feature_names=entry.full_feature_names)
    folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("_")
    out = f"{entry.output.rstrip('/')}/{folder}"
    manifest = write(result, out, entry.format, overwrite=True)
    return (f"training set {name}: {manifest['spine']['rows']:,} row(s), {len(entry.features)} feature(s) -> "
            f"{manifest['output']['path']} ({entry.format}, manifest beside it)")


def exit_code(job: Callable[[], str]) -> int:
    """Run a job body and print its summary. Errors go to stderr with the exit code an orchestrator acts
    on: 3 terminal (bad input: do not retry), 1 transient (Redis or Spark failed: retry)."""
    try:
        print(job())
    except PitstopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3 if exc.terminal else 1
    return 0


# job -> (what it does, its command line after --repo DIR)
JOBS: dict[str, tuple[str, str]] = {
    "materialize": ("materialize views for a range of days into Delta (tiles, snapshots, the log), then publish "
                    "each online view's newest day unless --no-publish",
                    "--view VIEW [--view ...] --start D --end D [--no-cascade] [--no-publish]"),
    "publish": ("publish a materialized day (default: each view's newest) into Redis with an atomic switch; an "
                "older day never replaces a newer one", "--view VIEW [--view ...] [--ds D]"),
    "monitor": ("compare N sampled entities between each view's published Delta snapshot and Redis; a mismatch "
                "exits 3", "--view VIEW [--view ...] [--sample N]"),
    "training_set": ("build a TrainingSet definition's training set: its spine SQL joined point in time, written "
                     "to <output>/<RUN> with its manifest", "--name NAME --run-id RUN"),
}


def _parser(job: str) -> argparse.ArgumentParser:
    what, _ = JOBS[job]
    parser = argparse.ArgumentParser(prog=f"jobs/{job}.py", description=f"pitstop Spark job: {what}.",
                                     epilog="Exit codes: 0 done, 3 terminal error (do not retry), 1 transient "
                                            "error (retry).")
    parser.add_argument("--repo", required=True, help="the feature repository (holds pitstop.yaml and the plan)")
    if job == "training_set":
        parser.add_argument("--name", required=True, help="the TrainingSet's name")
        parser.add_argument("--run-id", required=True, help="names the output folder (the Airflow run id)")
        return parser
    parser.add_argument("--view", required=True, action="append", help="a view; repeat for several (one Spark app)")
    if job == "materialize":
        parser.add_argument("--start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", type=date.fromisoformat, required=True, help="last day, YYYY-MM-DD")
        parser.add_argument("--no-cascade", action="store_true")
        parser.add_argument("--no-publish", action="store_true", help="compute only; publish in a later task")
        parser.add_argument("--force", action="store_true",
                            help="skip the source check (days before the first event or start_date, source not "
                                 "ready)")
    elif job == "publish":
        parser.add_argument("--ds", type=date.fromisoformat, help="default: the newest materialized day")
    else:
        parser.add_argument("--sample", type=int, default=1000, help="entities compared (default 1000)")
    return parser


def main(job: str, argv: Sequence[str] | None = None) -> int:
    """Run a job from its command line (jobs/<job>.py)."""
    args = _parser(job).parse_args(argv)
    if job == "materialize":
        return exit_code(lambda: run_materialize(args.repo, args.view, args.start, args.end,
                                                 cascade=not args.no_cascade, publish=not args.no_publish,
                                                 force=args.force))
    if job == "publish":
        return exit_code(lambda: run_publish(args.repo, args.view, args.ds))
    if job == "monitor":
        return exit_code(lambda: run_monitor(args.repo, args.view, args.sample))
    return exit_code(lambda: run_training_set(args.repo, args.name, args.run_id))


def job_file(job: str) -> str:
    """The text of jobs/<job>.py (this repository's and every `pitstop init` repository's)."""
    import textwrap

    what, usage = JOBS[job]
    command = textwrap.fill(f"spark-submit jobs/{job}.py --repo DIR {usage}", 100, initial_indent="    ",
                            subsequent_indent="        ", break_on_hyphens=False, break_long_words=False)
    doc = textwrap.fill(f"pitstop Spark job: {what}.", 100)
    return (f'"""{doc}\n\n{command}\n\nAirflow\'s tasks run it; the command line and the code are in '
            f'pitstop.runtime.jobs.\n"""\n\nimport sys\n\nfrom pitstop.runtime.jobs import main\n\n'
            f'if __name__ == "__main__":\n    sys.exit(main("{job}"))\n')
