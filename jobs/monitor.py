"""Spark job: the monitor task. A sampled Delta-vs-Redis consistency check of a view's published day.

    spark-submit jobs/monitor.py --repo DIR --view VIEW [--view VIEW ...] [--sample N]

Exit codes: 0 every sampled value agrees, 3 terminal (a mismatch, or bad input), 1 transient.
"""

from __future__ import annotations

import argparse
import sys

from pitstop.runtime.jobs import exit_code, run_monitor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, help="the feature repository (holds pitstop.yaml and the plan)")
    parser.add_argument("--view", required=True, action="append", help="repeat for several views")
    parser.add_argument("--sample", type=int, default=1000, help="entities compared (default 1000)")
    args = parser.parse_args(argv)
    return exit_code(lambda: run_monitor(args.repo, args.view, args.sample))


if __name__ == "__main__":
    sys.exit(main())
