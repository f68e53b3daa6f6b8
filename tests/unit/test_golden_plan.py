"""The compiled demo plan is pinned by a golden file, and the checked-in plan equals it."""

from __future__ import annotations

import shutil
from pathlib import Path

from pitstop.config import load_config
from pitstop.demo.data import generate_demo_data
from pitstop.runtime import registry

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "demo_plan.json"


def test_demo_plan_matches_golden_file(tmp_path: Path) -> None:
    repo = tmp_path / "demo"
    shutil.copytree(ROOT / "feature_defs", repo / "feature_defs", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pitstop.yaml", repo / "pitstop.yaml")
    generate_demo_data(repo / "data" / "source", transactions=2_000, users=50, merchants=10, days=3)
    result = registry.plan(load_config(repo, env={}))
    assert result.compiled.warnings == []
    assert result.compiled.render() == GOLDEN.read_text()


def test_checked_in_plan_is_the_golden_plan() -> None:
    assert (ROOT / "dags" / "pitstop_plan.json").read_text() == GOLDEN.read_text()
