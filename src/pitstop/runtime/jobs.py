"""The Spark jobs of jobs/ (what Airflow's tasks spark-submit): the narrow (repo, views, ds range) contract.

Each file in jobs/ is one line, ``sys.exit(main("<job>"))``; the command lines live here. Each job is a thin
call into the command layer the CLI uses (``pitstop.runtime.commands`` -> ``FeatureStore``), run through the
same entry point (``pitstop.runtime.entry.run``), so the exit codes are the CLI's: 0 done, 1 transient
(Redis unreachable, a Spark job failed: retry), 2 a check found problems (a failed validation gate, a
monitor mismatch: do not retry), 3 terminal (bad input or definition, a source not ready: do not retry).
Airflow's operator retries 1 only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pitstop.runtime.entry import EXIT_CODES_HELP, Parser, run
from pitstop.runtime.reporter import Reporter

# job -> (what it does, its command line after --repo DIR)
JOBS: dict[str, tuple[str, str]] = {
    "materialize": ("materialize views for a range of days into Delta (tiles, snapshots, the log), then publish "
                    "each online view's newest day unless --no-publish",
                    "--view VIEW [--view ...] --start D --end D [--no-cascade] [--no-publish]"),
    "publish": ("publish a materialized day (default: each view's newest) into Redis with an atomic switch; an "
                "older day never replaces a newer one", "--view VIEW [--view ...] [--ds D]"),
    "monitor": ("compare N sampled entities between each view's published Delta snapshot and Redis; a mismatch "
                "exits 2", "--view VIEW [--view ...] [--sample N]"),
    "training_set": ("build a TrainingSet definition's training set: its spine SQL joined point in time, written "
                     "to <output>/<RUN> with its manifest", "--name NAME --run-id RUN"),
}


def _day(value: str) -> date:
    import argparse

    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date in YYYY-MM-DD form") from exc


def _parser(job: str) -> Parser:
    what, _ = JOBS[job]
    parser = Parser(prog=f"jobs/{job}.py", description=f"pitstop Spark job: {what}.", epilog=EXIT_CODES_HELP)
    parser.add_argument("--repo", required=True, help="the feature repository (holds pitstop.yaml and the plan)")
    if job == "training_set":
        parser.add_argument("--name", required=True, help="the TrainingSet's name")
        parser.add_argument("--run-id", required=True, help="names the output folder (the Airflow run id)")
        return parser
    parser.add_argument("--view", required=True, action="append", help="a view; repeat for several (one Spark app)")
    if job == "materialize":
        parser.add_argument("--start", type=_day, required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", type=_day, required=True, help="last day, YYYY-MM-DD")
        parser.add_argument("--no-cascade", action="store_true")
        parser.add_argument("--no-publish", action="store_true", help="compute only; publish in a later task")
        parser.add_argument("--force", action="store_true",
                            help="skip the source check (days before the first event or start_date, source not "
                                 "ready)")
    elif job == "publish":
        parser.add_argument("--ds", type=_day, help="default: the newest materialized day")
    else:
        parser.add_argument("--sample", type=int, default=1000, help="entities compared (default 1000)")
    return parser


def main(job: str, argv: Sequence[str] | None = None, reporter: Reporter | None = None) -> int:
    """Run a job from its command line (jobs/<job>.py); returns its exit code."""
    from pitstop.runtime import commands
    from pitstop.runtime.feature_store import FeatureStore

    args = _parser(job).parse_args(argv)
    reporter = reporter or Reporter()

    def body() -> int:
        store = FeatureStore(args.repo, reporter=reporter)
        if job == "materialize":
            return commands.materialize(store, args.view, args.start, args.end, cascade=not args.no_cascade,
                                        publish=not args.no_publish, force=args.force)
        if job == "publish":
            return commands.publish(store, args.view, args.ds)
        if job == "monitor":
            return commands.consistency(store, args.view, args.sample)
        return commands.training_set(store, args.name, args.run_id)

    return run(body, reporter)


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
