"""A small copy of the demo repository (definitions, jobs, DAG file, plugins) with four days of demo data,
applied: what the Airflow tests and the screenshot scripts run on."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

DEMO_END = date(2026, 10, 31)
FOLDERS = ("feature_defs", "jobs", "dags", "plugins")


def small_demo_repo(project: Path, target: Path, online_url: str, *, transactions: int = 3_000, users: int = 50,
                    merchants: int = 10, days: int = 4, end: date = DEMO_END) -> Path:
    """Copy ``project``'s demo into ``target`` (local[2] Spark, the online store at ``online_url``, Airflow
    settings for quick runs: no retries, a 5 s sensor poke), generate the data and apply the plan."""
    from pitstop.config import load_config
    from pitstop.demo.data import generate_demo_data
    from pitstop.runtime import registry

    for folder in FOLDERS:
        shutil.copytree(project / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "dags" / "pitstop_plan.json").unlink()
    (target / "pitstop.yaml").write_text(
        "project: demo\n"
        "spark:\n  master: local[2]\n  conf:\n"
        "    spark.sql.shuffle.partitions: \"2\"\n    spark.ui.enabled: \"false\"\n"
        f"online_store:\n  url: {online_url}\n"
        "airflow:\n  retries: 0\n  sensor_poke_seconds: 5\n  sensor_timeout_seconds: 600\n"
        "  consistency_sample: 200\n")
    generate_demo_data(target / "data" / "source", transactions=transactions, users=users, merchants=merchants,
                       days=days, end=end)
    registry.apply(load_config(target, env={}))
    return target
