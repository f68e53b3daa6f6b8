"""Find the definition objects in feature_defs/: run every module, collect module-level objects.

Modules are loaded as the package ``feature_defs`` (repo root on sys.path for the duration), so a
file may import another (``from feature_defs.entities import user``) and both see one object. No
registration by import side effect: only objects bound at module level (or in a module-level list,
tuple or dict) and the entities and sources those reference are collected.

**One run reports every mistake.** Definitions are frozen dataclasses checked when they are built, so a
bad call raises where it is written. A plain import would stop a file at its first bad call and hide
everything after it. Instead, while discovering, the modules of ``feature_defs`` are loaded by a loader
of this module (an import finder installed for the duration of :func:`discover` only, and only for the
``feature_defs`` package) that runs each module **top-level statement by top-level statement**, each
compiled from the file's own syntax tree with the file's name and line numbers:

- a statement that raises is recorded (its file:line, the error, the fix) and the next one runs;
- the names that statement would have bound are left unbound and remembered as *failed*, with the
  definitions it was building (the ``FeatureView("name", ...)`` calls written in it, and the object the
  error came from); a later statement that stops on one of those names (a NameError for it, an
  ``from feature_defs.x import`` of it, an attribute of a module where it failed) is a *knock-on*: it is
  not reported as a mistake of its own, only counted in one note, and what it binds fails in turn.

The definition objects stay plain data and raise as they always do (nothing collects errors behind
their back, nothing is registered); only the module runner changes, and only under ``pitstop plan``.
A mistake inside one statement still hides a later mistake in the same statement (a second bad
``Aggregation`` in the same ``FeatureView(...)`` call): the statement is the unit.
"""

from __future__ import annotations
import __future__

import ast
import builtins
import difflib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import linecache
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from pitstop.definitions import Aggregation, Alert, BatchSource, Entity, Expect, Feature, FeatureView, TrainingSet
from pitstop.definitions._validate import display_path
from pitstop.errors import DefinitionError

PACKAGE = "feature_defs"
DEFINITION_KINDS = ("Entity", "BatchSource", "FeatureView", "TrainingSet")


@dataclass
class Discovered:
    entities: list[Entity] = field(default_factory=list)
    sources: list[BatchSource] = field(default_factory=list)
    views: list[FeatureView] = field(default_factory=list)
    training_sets: list[TrainingSet] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    # every independent mistake found while running feature_defs (compile_plan adds its own and raises)
    errors: list[DefinitionError] = field(default_factory=list)
    # (kind, name) of each definition that could not be built -> what it failed on, e.g. "feature_defs/x.py:9"
    failed: dict[tuple[str, str], str] = field(default_factory=dict)
    # statements not run because they use a name that failed: "feature_defs/x.py:12 (uses 'user')"
    skipped: list[str] = field(default_factory=list)


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


def _statement_error(exc: BaseException, defs_dir: Path, namespace: dict[str, object]) -> DefinitionError:
    """The user's own failing line, not pitstop's frames."""
    root = os.path.abspath(defs_dir)
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(f.filename).startswith(root + os.sep)]
    where: str | None = None
    code = ""
    if frames:
        last = frames[-1]
        where = f"{display_path(last.filename)}:{last.lineno}"
        code = (last.line or linecache.getline(last.filename, last.lineno or 0)).strip()
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, NameError) and not isinstance(exc, UnboundLocalError) and exc.name:
        close = difflib.get_close_matches(exc.name, [*namespace, *vars(builtins)], n=1)
        if close:
            detail += f" (did you mean {close[0]!r}?)"
    hint = ""
    if isinstance(exc, ImportError | ModuleNotFoundError):
        hint = ("\n    feature_defs may import only pitstop, the standard library and other modules of "
                "feature_defs (as `from feature_defs.x import y`)")
    return DefinitionError(detail + (f"\n    {code}" if code else "") + hint, where)


def _bound_names(node: ast.AST) -> set[str]:
    """The module-level names a top-level statement binds (not those local to a function, class body,
    lambda or comprehension inside it)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {a.asname or a.name.split(".")[0] for a in node.names if a.name != "*"}
    if isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
        return set()
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return {node.id}
    names: set[str] = set()
    for child in ast.iter_child_nodes(node):
        names |= _bound_names(child)
    return names


def _definitions_written(stmt: ast.stmt) -> set[tuple[str, str]]:
    """The definitions a statement builds with a literal name: ``FeatureView("spend", ...)`` (or
    ``name="spend"``). Used only to know that a training set naming view 'spend' names a view that failed,
    rather than one never written."""
    found: set[tuple[str, str]] = set()
    for node in ast.walk(stmt):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        kind = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if kind not in DEFINITION_KINDS:
            continue
        args = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "name")]
        for arg in args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add((kind, arg.value))
    return found


def _definition_calls() -> set[Any]:
    calls: set[Any] = {Entity, BatchSource, FeatureView, TrainingSet, Aggregation, Feature}
    for factory in (Expect, Alert):
        calls.update(getattr(factory, n) for n in vars(factory) if not n.startswith("_"))
    return calls


_DEFINITION_CALLS = _definition_calls()


def _resolve(node: ast.expr, namespace: dict[str, object]) -> Any:
    """What a call's ``Name`` or ``module.Name`` / ``Class.attr`` refers to, by lookup only (no code runs)."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, namespace)
        if isinstance(base, ModuleType | type):
            return vars(base).get(node.attr) if isinstance(base, ModuleType) else getattr(base, node.attr, None)
    return None


class _Run(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """The state of one discovery (the errors, what failed and where) and the finder and loader of the
    package feature_defs while it runs."""

    def __init__(self, defs_dir: Path) -> None:
        self.defs_dir = defs_dir
        self.errors: list[DefinitionError] = []
        self.skipped: list[str] = []
        self.failed_defs: dict[tuple[str, str], str] = {}
        # module name -> {name: why it is unbound}
        self.failed_names: dict[str, dict[str, str]] = {}

    # -- the import finder and loader ---------------------------------------------------------------------
    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != PACKAGE and not fullname.startswith(PACKAGE + "."):
            return None
        base = self.defs_dir.joinpath(*fullname.split(".")[1:])
        if base.is_dir():
            init = base / "__init__.py"
            if init.is_file():
                return importlib.util.spec_from_file_location(fullname, init, loader=self,
                                                              submodule_search_locations=[str(base)])
            spec = importlib.machinery.ModuleSpec(fullname, self, is_package=True)
            spec.submodule_search_locations = [str(base)]
            return spec
        file = base.with_suffix(".py")
        if file.is_file():
            return importlib.util.spec_from_file_location(fullname, file, loader=self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default module

    def exec_module(self, module: ModuleType) -> None:
        spec = module.__spec__
        if spec is None or not spec.has_location or spec.origin is None:
            return  # a folder without __init__.py: an empty package
        self._run_module(module, Path(spec.origin))

    # -- running a module statement by statement --------------------------------------------------------
    def _run_module(self, module: ModuleType, path: Path) -> None:
        name = module.__name__
        failed = self.failed_names.setdefault(name, {})
        filename = str(path)
        try:
            tree = ast.parse(path.read_bytes(), filename)
        except SyntaxError as exc:
            line = (exc.text or "").strip()
            self._error(DefinitionError(f"cannot import {name}: SyntaxError: {exc.msg}\n    {line}",
                                        f"{display_path(exc.filename or filename)}:{exc.lineno}"), failed,
                        cause=f"{display_path(filename)} (SyntaxError)", names=set(), defs=set())
            failed["*"] = f"{display_path(filename)} (SyntaxError)"
            return
        namespace = vars(module)
        namespace["__doc__"] = ast.get_docstring(tree, clean=False)
        flags = 0
        for stmt in tree.body:
            if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
                for alias in stmt.names:
                    feature = getattr(__future__, alias.name, None)
                    flags |= getattr(feature, "compiler_flag", 0)
        for stmt in tree.body:
            where = f"{display_path(filename)}:{stmt.lineno}"
            if isinstance(stmt, ast.ImportFrom) and (runnable := self._import_from(stmt, module, failed, where)):
                stmt = runnable
            elif isinstance(stmt, ast.ImportFrom):
                continue  # every name it imports failed: recorded by _import_from
            try:
                code: CodeType = compile(ast.Module(body=[stmt], type_ignores=[]), filename, "exec",
                                         flags=flags, dont_inherit=True)
                exec(code, namespace)
            except (Exception, SystemExit) as exc:  # a definition file calling sys.exit() is a bad file too
                names = _bound_names(stmt)
                defs = _definitions_written(stmt)
                knock_on = self._knock_on(exc, failed)
                if knock_on is not None:
                    used, root = knock_on
                    self.skipped.append(f"{where} (uses {used}, which failed at {root})")
                    self._unbind(namespace, failed, names, defs, cause=root)
                    self._probe(stmt, namespace, filename, flags, seen=set())
                    continue
                if isinstance(exc, DefinitionError):
                    error = exc
                elif isinstance(exc, SyntaxError):  # found when compiling, e.g. 'return' outside a function
                    error = DefinitionError(f"SyntaxError: {exc.msg}\n    {(exc.text or '').strip()}",
                                            f"{display_path(filename)}:{exc.lineno or stmt.lineno}")
                else:
                    error = _statement_error(exc, self.defs_dir, namespace)
                if isinstance(exc, DefinitionError) and exc.subject is not None:
                    defs.add(exc.subject)
                self._error(error, failed, cause=error.location or where, names=names, defs=defs,
                            namespace=namespace)
                self._probe(stmt, namespace, filename, flags, seen={str(error)})

    def _probe(self, stmt: ast.stmt, namespace: dict[str, object], filename: str, flags: int,
               seen: set[str]) -> None:
        """After a statement failed: build each definition it writes (``Aggregation(...)``,
        ``Expect.between(...)``, ``FeatureView(...)``, ...) on its own, so a second mistake in the same
        statement is reported too. Definitions are pure data, so building one again changes nothing; a call
        that needs what failed (or a comprehension's variable) cannot be built alone and is left out."""
        for node in ast.walk(stmt):
            if not isinstance(node, ast.Call) or _resolve(node.func, namespace) not in _DEFINITION_CALLS:
                continue
            try:
                code = compile(ast.Expression(body=node), filename, "eval", flags=flags, dont_inherit=True)
                eval(code, dict(namespace))
            except DefinitionError as exc:
                if str(exc) not in seen:
                    seen.add(str(exc))
                    self.errors.append(exc)
                    if exc.subject is not None:
                        self.failed_defs.setdefault(exc.subject, exc.location or filename)
            except (Exception, SystemExit):
                continue  # needs a failed name or a local one: only the statement's own error counts

    def _error(self, error: DefinitionError, failed: dict[str, str], *, cause: str, names: set[str],
               defs: set[tuple[str, str]], namespace: dict[str, object] | None = None) -> None:
        self.errors.append(error)
        self._unbind(namespace, failed, names, defs, cause=cause)

    def _unbind(self, namespace: dict[str, object] | None, failed: dict[str, str], names: set[str],
                defs: set[tuple[str, str]], *, cause: str) -> None:
        for n in names:
            if namespace is not None:
                namespace.pop(n, None)
            failed[n] = cause
        for d in defs:
            self.failed_defs.setdefault(d, cause)

    def _knock_on(self, exc: BaseException, failed: dict[str, str]) -> tuple[str, str] | None:
        """When a statement's error is only the effect of an earlier failure: the name it used and where
        that failed (the first cause, e.g. "feature_defs/entities.py:4"); else None."""
        if isinstance(exc, NameError) and not isinstance(exc, UnboundLocalError) and exc.name in failed:
            return repr(exc.name), failed[exc.name]
        if isinstance(exc, AttributeError) and isinstance(exc.obj, ModuleType) and exc.name is not None:
            other = self.failed_names.get(exc.obj.__name__, {})
            why = other.get(exc.name) or other.get("*")
            if why is not None:
                return f"{exc.obj.__name__}.{exc.name}", why
        return None

    def _import_from(self, stmt: ast.ImportFrom, module: ModuleType, failed: dict[str, str],
                     where: str) -> ast.ImportFrom | None:
        """``from feature_defs.x import a, b``: the names that failed in x are unbound here too (a knock-on,
        not a mistake); the statement is run for the others. None when none is left to import."""
        if stmt.module == "__future__" or any(a.name == "*" for a in stmt.names):
            return stmt
        package = module.__spec__.parent if module.__spec__ is not None else None
        try:
            target = importlib.util.resolve_name("." * stmt.level + (stmt.module or ""), package)
        except (ImportError, ValueError):
            return stmt
        if target != PACKAGE and not target.startswith(PACKAGE + "."):
            return stmt
        try:
            other = importlib.import_module(target)
        except (Exception, SystemExit):
            return stmt  # reported when the statement runs
        theirs = self.failed_names.get(target, {})
        good, bad = [], []
        for alias in stmt.names:
            why = theirs.get(alias.name) or (None if hasattr(other, alias.name) else theirs.get("*"))
            if why is not None:
                bad.append((alias, why))
            else:
                good.append(alias)
        for alias, why in bad:
            self.skipped.append(f"{where} (imports {alias.name!r}, which failed at {why})")
            failed[alias.asname or alias.name] = why
        if not good:
            return None
        if bad:
            narrowed = ast.ImportFrom(module=stmt.module, names=good, level=stmt.level)
            return ast.copy_location(narrowed, stmt)
        return stmt


def _candidates(value: Any) -> Iterator[Any]:
    if isinstance(value, list | tuple | set | frozenset):
        yield from value
    elif isinstance(value, dict):
        yield from value.values()
    else:
        yield value


def discover(repo: Path) -> Discovered:
    """Run every module under ``repo/feature_defs`` and collect entities, sources, views and training sets.

    Never stops at a mistake: the result lists every error found (``errors``), the definitions that
    could not be built (``failed``) and the statements skipped because they use one (``skipped``);
    compile_plan adds its own and raises them all together.
    """
    defs_dir = repo / PACKAGE
    if not defs_dir.is_dir():
        raise DefinitionError(f"no {PACKAGE}/ folder in {repo}: create it and put your definitions "
                              f"there (or run `pitstop init DIR` to start a repository)")
    run = _Run(defs_dir.resolve())
    found: dict[int, Any] = {}
    order: list[int] = []
    modules = _module_names(defs_dir)
    _purge_modules()
    root = str(repo.resolve())
    sys.path.insert(0, root)
    sys.meta_path.insert(0, run)  # only for the package feature_defs, removed below
    try:
        for module_name in modules:
            module = importlib.import_module(module_name)
            for attr, value in sorted(vars(module).items()):
                if attr.startswith("__"):
                    continue
                for obj in _candidates(value):
                    if isinstance(obj, Entity | BatchSource | FeatureView | TrainingSet) and id(obj) not in found:
                        found[id(obj)] = obj
                        order.append(id(obj))
    finally:
        sys.meta_path.remove(run)
        sys.path.remove(root)
        _purge_modules()
    errors = run.errors
    # entities and sources referenced by views count even when not bound at module level
    for oid in list(order):
        obj = found[oid]
        if isinstance(obj, FeatureView):
            for dep in (*obj.entities, obj.source):
                if id(dep) not in found:
                    found[id(dep)] = dep
                    order.append(id(dep))
    result = Discovered(modules=modules, errors=errors, failed=run.failed_defs, skipped=run.skipped)
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
    for key in by_name:  # built after all (e.g. one of two statements defining it failed): not failed
        result.failed.pop(key, None)
    result.entities.sort(key=lambda o: o.name)
    result.sources.sort(key=lambda o: o.name)
    result.views.sort(key=lambda o: o.name)
    result.training_sets.sort(key=lambda o: o.name)
    return result
