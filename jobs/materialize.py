"""Spark job: materialize one view for a range of days. argparse + one call into pitstop.runtime.

    spark-submit jobs/materialize.py --repo DIR --view VIEW --start YYYY-MM-DD --end YYYY-MM-DD
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from pitstop.errors import PitstopError
from pitstop.runtime.jobs import run_materialize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, help="the feature repository (holds pitstop.yaml and the plan)")
    parser.add_argument("--view", required=True)
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--end", type=date.fromisoformat, required=True)
    parser.add_argument("--no-cascade", action="store_true")
    args = parser.parse_args(argv)
    try:
        print(run_materialize(args.repo, args.view, args.start, args.end, cascade=not args.no_cascade))
    except PitstopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3 if exc.terminal else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
