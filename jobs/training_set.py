"""Spark job: build one TrainingSet definition's training set (its spine SQL joined point in time).

    spark-submit jobs/training_set.py --repo DIR --name NAME --run-id RUN

Writes <output>/<RUN> (parquet or Delta) with _pitstop_manifest.json beside it.
Exit codes: 0 done, 3 terminal error (do not retry), 1 transient error (retry).
"""

from __future__ import annotations

import argparse
import sys

from pitstop.runtime.jobs import exit_code, run_training_set


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, help="the feature repository (holds pitstop.yaml and the plan)")
    parser.add_argument("--name", required=True, help="the TrainingSet's name")
    parser.add_argument("--run-id", required=True, help="names the output folder (the Airflow run id)")
    args = parser.parse_args(argv)
    return exit_code(lambda: run_training_set(args.repo, args.name, args.run_id))


if __name__ == "__main__":
    sys.exit(main())
