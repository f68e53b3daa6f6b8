"""design.md §2: definitions -> plan -> compute; stores and orchestration never imported by the core."""

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
    "orchestration": {"runtime", "cli", "stores", "compute"},
}
HEAVY = {"pyspark", "great_expectations", "redis", "airflow"}


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
            if parts[0] == "pitstop" and len(parts) > 1 and parts[1] in FORBIDDEN[package]:
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
        for module, top in imports(path):
            if top and module.split(".")[0] in HEAVY:
                bad.append(f"{path.relative_to(SRC)} imports {module} at module level")
    assert bad == []
