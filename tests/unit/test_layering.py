"""The layering: definitions -> plan -> compute; stores and orchestration never imported by the core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "pitstop"

# package -> pitstop packages it must never import
FORBIDDEN = {
    "definitions": {"plan", "compute", "stores", "runtime", "orchestration", "cli", "config"},
    "plan": {"compute", "stores", "runtime", "orchestration", "cli", "config"},
    "compute": {"stores", "runtime", "orchestration", "cli"},
    "stores": {"runtime", "orchestration", "cli"},
    "orchestration": {"runtime", "cli", "stores", "compute"},  # but see ALLOWED
}
HEAVY = {"pyspark", "great_expectations", "redis", "airflow"}
# What a module may import anyway: orchestration builds spark-submit commands with the settings every Spark
# session gets (pitstop.stores.spark has no heavy import at its top), inside the task's execute only.
ALLOWED = {"orchestration": {"pitstop.stores.spark"}}
# Orchestration is Airflow code: its operators subclass Airflow's at module level. DAG parsing imports Airflow
# anyway; pyspark, GX and redis stay out.
TOP_LEVEL_OK = {"orchestration": {"airflow"}}


def imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at_top_level) for every import in the file."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top))
            if node.module == "pitstop":  # from pitstop import runtime
                found += [(f"pitstop.{a.name}", id(node) in top) for a in node.names]
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependency_direction(package: str) -> None:
    bad = []
    for path in sorted((SRC / package).rglob("*.py")):
        for module, _ in imports(path):
            parts = module.split(".")
            if parts[0] == "pitstop" and len(parts) > 1 and parts[1] in FORBIDDEN[package] \
                    and module not in ALLOWED.get(package, set()):
                bad.append(f"{path.relative_to(SRC)} imports {module}")
    assert bad == []


def test_definitions_and_plan_are_pure() -> None:
    bad = []
    for package in ("definitions", "plan"):
        for path in sorted((SRC / package).rglob("*.py")):
            for module, _ in imports(path):
                if module.split(".")[0] in HEAVY | {"subprocess", "socket"}:
                    bad.append(f"{path.relative_to(SRC)} imports {module}")
    assert bad == []


def test_heavy_imports_stay_inside_functions() -> None:
    """pyspark, GX, redis are imported lazily so the CLI and DAG parsing stay fast (house rule 9)."""
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        package = path.relative_to(SRC).parts[0]
        for module, top in imports(path):
            root = module.split(".")[0]
            if top and root in HEAVY and root not in TOP_LEVEL_OK.get(package, set()):
                bad.append(f"{path.relative_to(SRC)} imports {module} at module level")
            if top and module in ALLOWED.get(package, set()):
                bad.append(f"{path.relative_to(SRC)} imports {module} at module level (allowed inside functions only)")
    assert bad == []
