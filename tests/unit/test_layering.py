"""The layering: definitions -> plan -> compute; stores and orchestration never imported by the core; runtime wires
them together and only the entry points (cli, jobs, plugins, the package's FeatureStore) import it; no import
cycle anywhere in src/pitstop.

The import-cycle rule: every import in src/pitstop is an edge from its module to the module it names, whether it
sits at module level or inside a function (a function-level import runs too, just later, and a cycle through one is
still two modules that cannot be understood, tested or moved apart). Only imports under ``if TYPE_CHECKING:`` are
not edges: they never run. ``from pitstop.a import b`` is an edge to pitstop.a.b when that is a module, else to
pitstop.a; ``import pitstop.a.b`` is an edge to pitstop.a.b only, not to the packages above it (Python runs their
``__init__`` first, but the root's re-exports the public API and would otherwise close a cycle with every module).
A cycle found is printed module by module, with the file:line of each import.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "pitstop"

# package -> pitstop packages it must never import
FORBIDDEN = {
    "definitions": {"plan", "compute", "stores", "runtime", "orchestration", "cli", "config"},
    "plan": {"compute", "stores", "runtime", "orchestration", "cli", "config"},
    "compute": {"stores", "runtime", "orchestration", "cli"},
    "stores": {"runtime", "orchestration", "cli"},
    "orchestration": {"runtime", "cli", "stores", "compute"},  # but see ALLOWED
    # runtime is the composition root: it may use definitions, plan, compute, stores, config and errors; the
    # Airflow side (orchestration) reaches it only through jobs/, and the entry points sit above it
    "runtime": {"orchestration", "cli", "demo"},
}
HEAVY = {"pyspark", "great_expectations", "redis", "airflow"}
# What a module may import anyway: orchestration builds spark-submit commands with the settings every Spark
# session gets (pitstop.stores.spark has no heavy import at its top), and its source sensor runs the readiness
# checks (pitstop.stores.readiness: pyarrow, no Spark), and its job operator asks pitstop.stores.engine whether the
# job runs on a Spark Connect engine, inside the task's execute only.
ALLOWED = {"orchestration": {"pitstop.stores.spark", "pitstop.stores.readiness", "pitstop.stores.engine"}}
# (file, module) imports that break a rule above and are on their way out (none now)
KNOWN_BREACHES: set[tuple[str, str]] = set()
# Import cycles known to be on their way out, each as the set of its modules (none now)
KNOWN_CYCLES: set[frozenset[str]] = set()
# Where pitstop.runtime may be imported from: in src, the entry points (the package root's FeatureStore, the CLI,
# the demo repository builder); beside src, the jobs Airflow runs, the Airflow plugin and the benchmarks.
# dags/ never: DAG parsing must stay light (it goes through orchestration only).
RUNTIME_IMPORTERS = {"__init__.py", "cli.py", "demo"}
NEVER_RUNTIME = ("dags",)
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
                    and module not in ALLOWED.get(package, set()) \
                    and (str(path.relative_to(SRC)), module) not in KNOWN_BREACHES:
                bad.append(f"{path.relative_to(SRC)} imports {module}")
    assert bad == []


def test_only_the_entry_points_import_runtime() -> None:
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        where = path.relative_to(SRC).parts[0]
        if where != "runtime" and where not in RUNTIME_IMPORTERS:
            bad += [f"{path.relative_to(SRC)} imports {m}" for m, _ in imports(path) if _is_runtime(m)]
    for folder in NEVER_RUNTIME:
        for path in sorted((ROOT / folder).rglob("*.py")):
            bad += [f"{path.relative_to(ROOT)} imports {m}" for m, _ in imports(path) if _is_runtime(m)]
    assert bad == []


def _is_runtime(module: str) -> bool:
    return module == "pitstop.runtime" or module.startswith("pitstop.runtime.")


def test_known_exceptions_are_still_needed() -> None:
    """An exception above that no longer matches anything is stale: delete it."""
    seen = {(str(p.relative_to(SRC)), m) for p in SRC.rglob("*.py") for m, _ in imports(p)}
    assert sorted(KNOWN_BREACHES - seen) == []
    cycles = {frozenset(c) for c in cycles_in(module_graph(SRC))}
    assert sorted(sorted(c) for c in KNOWN_CYCLES - cycles) == []


def test_no_import_cycle() -> None:
    graph = module_graph(SRC)
    found = [c for c in cycles_in(graph) if frozenset(c) not in KNOWN_CYCLES]
    shown = "\n".join(describe_cycle(graph, c) for c in found)
    assert not found, f"{len(found)} import cycle(s) in src/pitstop:\n{shown}"


def test_the_cycle_rule_counts_function_level_imports_and_skips_type_checking(tmp_path: Path) -> None:
    """The rule itself, on a throwaway package: a cycle closed by a function-level import is found and printed
    with its lines; the same two modules linked back only under TYPE_CHECKING are no cycle."""
    package = tmp_path / "pitstop"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pitstop.sub.a import A\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text("from pitstop.sub import b\n\nA = 1\n")
    (package / "sub" / "b.py").write_text("def f():\n    from pitstop.sub.a import A\n    return A\n")
    (package / "sub" / "c.py").write_text("from typing import TYPE_CHECKING\n\nfrom pitstop.sub import d\n\n"
                                          "if TYPE_CHECKING:\n    from pitstop.sub.a import A\n")
    (package / "sub" / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                          "    import pitstop.sub.c\n")
    graph = module_graph(package)
    assert graph == {"pitstop": {"pitstop.sub.a": 1}, "pitstop.sub": {}, "pitstop.sub.a": {"pitstop.sub.b": 1},
                     "pitstop.sub.b": {"pitstop.sub.a": 2}, "pitstop.sub.c": {"pitstop.sub.d": 3},
                     "pitstop.sub.d": {}}
    assert cycles_in(graph) == [["pitstop.sub.a", "pitstop.sub.b"]]
    assert describe_cycle(graph, ["pitstop.sub.a", "pitstop.sub.b"]) == (
        "pitstop.sub.a -> pitstop.sub.b (pitstop/sub/a.py:1) -> pitstop.sub.a (pitstop/sub/b.py:2)")


def _module_name(path: Path, package: Path) -> str:
    parts = [package.name, *path.relative_to(package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (or ``if typing.TYPE_CHECKING:``)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
                (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
                or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")):
            skipped |= {id(n) for statement in node.body for n in ast.walk(statement)}
    return skipped


def module_graph(package: Path) -> dict[str, dict[str, int]]:
    """module -> {imported module of the same package: line of its first import}, as the module docstring says."""
    files = {_module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    graph: dict[str, dict[str, int]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text())
        skipped = _type_checking_only(tree)
        edges: dict[str, int] = {}
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's own package upwards
                    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(here[:len(here) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for target in targets:
                if target in files and target != name:
                    edges[target] = min(edges.get(target, node.lineno), node.lineno)
        graph[name] = dict(sorted(edges.items()))
    return graph


def cycles_in(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted; sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


def describe_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    """The shortest cycle through the component's first module, as "a -> b (a's file:line) -> a (b's file:line)"."""
    members, start = set(component), component[0]
    came_from: dict[str, str] = {}
    queue, last = [start], None
    while queue and last is None:  # breadth first inside the component, until an import leads back to the start
        here = queue.pop(0)
        for target in graph[here]:
            if target == start:
                last = here
                break
            if target in members and target not in came_from:
                came_from[target] = here
                queue.append(target)
    assert last is not None, f"{component} is not a cycle"
    path = [start, last]
    while path[-1] != start:
        path.append(came_from[path[-1]])
    path.reverse()  # start -> ... -> last -> start
    out = path[0]
    for a, b in itertools.pairwise(path):
        out += f" -> {b} ({a.replace('.', '/')}{'/__init__' if _is_package(graph, a) else ''}.py:{graph[a][b]})"
    return out


def _is_package(graph: dict[str, dict[str, int]], module: str) -> bool:
    return any(other.startswith(module + ".") for other in graph)


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
