"""`pitstop init DIR`: a new feature repository that works as is with the local defaults."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pitstop.config import check_project_name
from pitstop.errors import ConfigError
from pitstop.plan.naming import CONFIG_FILE
from pitstop.runtime.jobs import JOBS, job_file

PITSTOP_YAML = """\
# pitstop feature repository settings. Environment overrides: PITSTOP_OFFLINE_STORE_PATH,
# PITSTOP_SPARK_MASTER, PITSTOP_ONLINE_STORE_URL (and PITSTOP_ONLINE_STORE_PASSWORD).
project: {project}
offline_store:
  path: data/delta          # relative to this folder, or a Hadoop URI (s3a://, abfss://, hdfs://)
spark:
  master: local[*]
  conf: {{}}                  # extra Spark configuration, e.g. spark.sql.shuffle.partitions: "8"
online_store:
  url: redis://127.0.0.1:6379/0   # rediss:// for TLS; keep passwords in PITSTOP_ONLINE_STORE_PASSWORD
"""

# dags/pitstop_dags.py of this repository and of every new one (a test keeps the two identical)
DAG_FILE = '''\
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
'''

EXAMPLE_DEFS = '''\
"""Example feature definitions: edit freely, then run `pitstop plan` and `pitstop apply`.

Definitions are data: build objects here and nothing else (no I/O, no Spark, no environment reads).
"""

from datetime import timedelta

from pitstop import Aggregation, BatchSource, Entity, Feature, FeatureView

# An entity is what features are about; its join keys identify it in sources and requests.
customer = Entity("customer", join_keys=["customer_id"], description="A customer of the shop")

# A source of raw events: parquet files/folders or a Delta table, with an event-time column.
orders = BatchSource(
    "orders",
    path="data/source/orders",
    format="parquet",
    timestamp_field="event_timestamp",
)

# Windowed aggregates: one feature per window, named {column}_{function}_{window} (count_7d, ...).
customer_orders = FeatureView(
    "customer_orders",
    entities=[customer],
    source=orders,
    aggregations=[
        Aggregation("count", windows=["1d", "7d", "30d"]),
        Aggregation("sum", column="amount", windows=["7d", "30d", None]),  # None = lifetime
        Aggregation("max", column="amount", windows=["7d"]),
    ],
    version=1,  # bump when you change anything that alters values
    owner="you@example.com",
    description="How much and how often each customer orders",
)

# A latest-value view: the newest value of each column as of a given time.
customer_last_order = FeatureView(
    "customer_last_order",
    entities=[customer],
    source=orders,
    features=[Feature("amount", "float64"), Feature("channel", "string")],
    ttl=timedelta(days=30),
)
'''

GITIGNORE = """\
.venv/
data/
.pitstop/
.airflow/
__pycache__/
*.pyc
"""


SAMPLE_END = date(2026, 1, 31)  # the sample orders' last day
SAMPLE_DAYS = 14
SAMPLE_START = SAMPLE_END - timedelta(days=SAMPLE_DAYS - 1)


def write_sample_orders(folder: Path, *, days: int = SAMPLE_DAYS, per_day: int = 40, end: datetime | None = None) \
        -> int:
    """A small deterministic orders dataset so a new repository plans and runs at once."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    end = end or datetime(SAMPLE_END.year, SAMPLE_END.month, SAMPLE_END.day, tzinfo=UTC)
    rng = np.random.default_rng(42)
    start = end - timedelta(days=days - 1)
    folder.mkdir(parents=True, exist_ok=True)
    rows = 0
    for day in range(days):
        day_start = start + timedelta(days=day)
        micros = np.sort(rng.integers(0, 86_400_000_000, per_day))
        table = pa.table({
            "order_id": [f"o{day:03d}{i:04d}" for i in range(per_day)],
            "customer_id": pa.array(rng.integers(1, 51, per_day), pa.int64()),
            "amount": pa.array(np.round(rng.lognormal(3.0, 0.8, per_day), 2), pa.float64()),
            "channel": rng.choice(["web", "app", "store"], per_day).tolist(),
            "event_timestamp": pa.array(
                [day_start + timedelta(microseconds=int(m)) for m in micros], pa.timestamp("us", tz="UTC")),
        })
        part = folder / f"ds={day_start.date().isoformat()}"
        part.mkdir(exist_ok=True)
        pq.write_table(table, part / "part-00000.parquet")
        rows += per_day
    return rows


def init_repository(target: Path, project: str | None = None) -> list[Path]:
    """Create the repository files and the sample data (``pitstop init`` then compiles the plan); refuses to
    overwrite an existing pitstop.yaml or any other file it would write."""
    target = target.resolve()
    if (target / CONFIG_FILE).exists():
        raise ConfigError(f"{target / CONFIG_FILE} already exists: `pitstop init` only starts new repositories")
    if project is not None:
        check_project_name(project, "pitstop init --project")
    name = project or re.sub(r"_+", "_", "".join(c if c.isascii() and c.isalnum() else "_"
                                                  for c in target.name.lower())).strip("_") or "features"
    if not name[0].isalpha():
        name = f"p_{name}"
    files = {
        CONFIG_FILE: PITSTOP_YAML.format(project=name),
        "feature_defs/example.py": EXAMPLE_DEFS,
        ".gitignore": GITIGNORE,
        "dags/pitstop_dags.py": DAG_FILE,
        **{f"jobs/{job}.py": job_file(job) for job in JOBS},
    }
    existing = sorted(rel for rel in files if (target / rel).exists())
    if existing:
        raise ConfigError(f"{target} already has {', '.join(existing)}: `pitstop init` never overwrites files; "
                          f"pick an empty folder or move them aside")
    written = []
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    write_sample_orders(target / "data" / "source" / "orders")
    written.append(target / "data" / "source" / "orders")
    return written
