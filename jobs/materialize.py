"""Spark job: materialize views for a range of days. argparse + one call into pitstop.runtime.

    spark-submit jobs/materialize.py --repo DIR --view VIEW [--view VIEW ...] --start YYYY-MM-DD
                                     --end YYYY-MM-DD [--no-cascade] [--no-publish]

Exit codes: 0 done, 3 terminal error (do not retry), 1 transient error (retry).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from pitstop.runtime.jobs import exit_code, run_materialize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, help="the feature repository (holds pitstop.yaml and the plan)")
    parser.add_argument("--view", required=True, action="append", help="repeat for several views (one Spark app)")
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--end", type=date.fromisoformat, required=True)
    parser.add_argument("--no-cascade", action="store_true")
    parser.add_argument("--no-publish", action="store_true", help="compute only; publish in a later task")
    args = parser.parse_args(argv)
    return exit_code(lambda: run_materialize(args.repo, args.view, args.start, args.end,
                                             cascade=not args.no_cascade, publish=not args.no_publish))


if __name__ == "__main__":
    sys.exit(main())
