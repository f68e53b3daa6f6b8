"""Find the definition objects in feature_defs/: import every module, collect module-level objects.

Modules are imported as the package ``feature_defs`` (repo root on sys.path for the duration), so a
file may import another (``from feature_defs.entities import user``) and both see one object. No
registration by import side effect: only objects bound at module level (or in a module-level list,
tuple or dict) and the entities and sources those reference are collected.
"""

from __future__ import annotations

import importlib
import linecache
import os
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pitstop.definitions import BatchSource, Entity, FeatureView, TrainingSet
from pitstop.definitions._validate import display_path
from pitstop.errors import DefinitionError, DefinitionErrors

PACKAGE = "feature_defs"


@dataclass
class Discovered:
    entities: list[Entity] = field(default_factory=list)
    sources: list[BatchSource] = field(default_factory=list)
    views: list[FeatureView] = field(default_factory=list)
    training_sets: list[TrainingSet] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)


def _module_names(defs_dir: Path) -> list[str]:
    names = []
    for path in sorted(defs_dir.rglob("*.py")):
        rel = path.relative_to(defs_dir)
        if any(part.startswith((".", "_")) and part != "__init__.py" for part in rel.parts):
            continue
        if "__pycache__" in rel.parts:
            continue
        parts = [PACKAGE, *rel.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def _purge_modules() -> None:
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def _import_error(exc: BaseException, defs_dir: Path, module: str) -> DefinitionError:
    """The user's own failing line, not pitstop's frames."""
    root = os.path.abspath(defs_dir)
    if isinstance(exc, SyntaxError) and exc.filename:
        line = (exc.text or "").strip()
        return DefinitionError(f"cannot import {module}: SyntaxError: {exc.msg}\n    {line}",
                               f"{display_path(exc.filename)}:{exc.lineno}")
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(f.filename).startswith(root + os.sep)]
    where: str | None = None
    code = ""
    if frames:
        last = frames[-1]
        where = f"{display_path(last.filename)}:{last.lineno}"
        code = (last.line or linecache.getline(last.filename, last.lineno or 0)).strip()
    detail = f"{type(exc).__name__}: {exc}"
    hint = ""
    if isinstance(exc, ImportError | ModuleNotFoundError):
        hint = ("\n    feature_defs may import only pitstop, the standard library and other modules of "
                "feature_defs (as `from feature_defs.x import y`)")
    return DefinitionError(f"cannot import {module}: {detail}" + (f"\n    {code}" if code else "") + hint,
                           where)


def _candidates(value: Any) -> Iterator[Any]:
    if isinstance(value, list | tuple | set | frozenset):
        yield from value
    elif isinstance(value, dict):
        yield from value.values()
    else:
        yield value


def discover(repo: Path) -> Discovered:
    """Import every module under ``repo/feature_defs`` and collect entities, sources and views.

    Raises DefinitionErrors listing every module that failed to import and every duplicate name.
    """
    defs_dir = repo / PACKAGE
    if not defs_dir.is_dir():
        raise DefinitionError(f"no {PACKAGE}/ folder in {repo}: create it and put your definitions "
                              f"there (or run `pitstop init DIR` to start a repository)")
    errors: list[DefinitionError] = []
    found: dict[int, Any] = {}
    order: list[int] = []
    modules = _module_names(defs_dir)
    _purge_modules()
    sys.path.insert(0, str(repo.resolve()))
    try:
        for module_name in modules:
            try:
                module = importlib.import_module(module_name)
            except DefinitionError as exc:
                errors.append(exc)
                continue
            except (Exception, SystemExit) as exc:  # a definition file calling sys.exit() is a bad file too
                errors.append(_import_error(exc, defs_dir, module_name))
                continue
            for attr, value in sorted(vars(module).items()):
                if attr.startswith("__"):
                    continue
                for obj in _candidates(value):
                    if isinstance(obj, Entity | BatchSource | FeatureView | TrainingSet) and id(obj) not in found:
                        found[id(obj)] = obj
                        order.append(id(obj))
    finally:
        sys.path.remove(str(repo.resolve()))
        _purge_modules()
    # entities and sources referenced by views count even when not bound at module level
    for oid in list(order):
        obj = found[oid]
        if isinstance(obj, FeatureView):
            for dep in (*obj.entities, obj.source):
                if id(dep) not in found:
                    found[id(dep)] = dep
                    order.append(id(dep))
    result = Discovered(modules=modules)
    by_name: dict[tuple[str, str], Any] = {}
    for oid in order:
        obj = found[oid]
        kind = type(obj).__name__
        key = (kind, obj.name)
        if key in by_name:
            other = by_name[key]
            if other == obj and other.location == obj.location:
                continue
            places = sorted(str(x) for x in (other.location, obj.location))
            errors.append(DefinitionError(
                f"duplicate {kind} name {obj.name!r}, defined at {places[0]} and at {places[1]}; "
                f"names must be unique: rename one of them", obj.location))
            continue
        by_name[key] = obj
        if isinstance(obj, Entity):
            result.entities.append(obj)
        elif isinstance(obj, BatchSource):
            result.sources.append(obj)
        elif isinstance(obj, TrainingSet):
            result.training_sets.append(obj)
        else:
            result.views.append(obj)
    if errors:
        raise DefinitionErrors(errors)
    result.entities.sort(key=lambda o: o.name)
    result.sources.sort(key=lambda o: o.name)
    result.views.sort(key=lambda o: o.name)
    result.training_sets.sort(key=lambda o: o.name)
    return result
