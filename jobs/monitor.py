"""pitstop Spark job: compare N sampled entities between each view's published Delta snapshot and
Redis; a mismatch exits 2.

    spark-submit jobs/monitor.py --repo DIR --view VIEW [--view ...] [--sample N]

Airflow's tasks run it; the command line and the code are in pitstop.runtime.jobs.
"""

import sys

from pitstop.runtime.jobs import main

if __name__ == "__main__":
    sys.exit(main("monitor"))
