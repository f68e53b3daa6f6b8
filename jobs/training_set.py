"""pitstop Spark job: build a TrainingSet definition's training set: its spine SQL joined point in
time, written to <output>/<RUN> with its manifest.

    spark-submit jobs/training_set.py --repo DIR --name NAME --run-id RUN

Airflow's tasks run it; the command line and the code are in pitstop.runtime.jobs.
"""

import sys

from pitstop.runtime.jobs import main

if __name__ == "__main__":
    sys.exit(main("training_set"))
