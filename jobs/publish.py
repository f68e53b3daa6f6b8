"""pitstop Spark job: publish a materialized day (default: each view's newest) into Redis with an
atomic switch; an older day never replaces a newer one.

    spark-submit jobs/publish.py --repo DIR --view VIEW [--view ...] [--ds D]

Airflow's tasks run it; the command line and the code are in pitstop.runtime.jobs.
"""

import sys

from pitstop.runtime.jobs import main

if __name__ == "__main__":
    sys.exit(main("publish"))
