"""pitstop's Airflow DAGs, generated from the compiled plan (dags/pitstop_plan.json) beside this file.

Parsing reads the plan and pitstop.yaml only: never feature_defs, pyspark, great_expectations or redis.
The feature repository is this folder's parent, or $PITSTOP_REPO.
"""

import os
from pathlib import Path

from pitstop.orchestration.dags import build_dags

_REPO = Path(os.environ.get("PITSTOP_REPO") or Path(__file__).resolve().parent.parent)

for _dag_id, _dag in build_dags(_REPO).items():
    globals()[_dag_id] = _dag
