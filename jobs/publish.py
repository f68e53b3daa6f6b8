"""Spark job: publish a view's materialized day (default: the newest) into Redis. argparse + one call.

    spark-submit jobs/publish.py --repo DIR --view VIEW [--view VIEW ...] [--ds YYYY-MM-DD]

Exit codes: 0 done (or nothing to do: already published, or a newer day is), 3 terminal, 1 transient.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from pitstop.runtime.jobs import exit_code, run_publish


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, help="the feature repository (holds pitstop.yaml and the plan)")
    parser.add_argument("--view", required=True, action="append", help="repeat for several views")
    parser.add_argument("--ds", type=date.fromisoformat, help="default: the newest materialized day")
    args = parser.parse_args(argv)
    return exit_code(lambda: run_publish(args.repo, args.view, args.ds))


if __name__ == "__main__":
    sys.exit(main())
