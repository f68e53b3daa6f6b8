"""pitstop Spark job: materialize views for a range of days into Delta (tiles, snapshots, the log),
then publish each online view's newest day unless --no-publish.

    spark-submit jobs/materialize.py --repo DIR --view VIEW [--view ...] --start D --end D
        [--no-cascade] [--no-publish]

Airflow's tasks run it; the command line and the code are in pitstop.runtime.jobs.
"""

import sys

from pitstop.runtime.jobs import main

if __name__ == "__main__":
    sys.exit(main("materialize"))
