"""Plan and apply: discover feature_defs, compile against the sources, diff with the checked-in plan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pitstop.config import Config
from pitstop.definitions import BatchSource
from pitstop.errors import PlanError
from pitstop.jsontypes import JSONObject
from pitstop.plan import model
from pitstop.plan.compiler import CompiledPlan, compile_plan
from pitstop.plan.diff import PlanDiff, diff_plans
from pitstop.plan.discovery import discover
from pitstop.plan.model import Plan
from pitstop.stores import schema_cache


@dataclass
class PlanResult:
    compiled: CompiledPlan
    diff: PlanDiff
    stale: bool  # the checked-in plan file differs from the compiled one
    written: bool = False

    @property
    def problems(self) -> list[str]:
        return self.diff.problems


def read_plan_json(path: Path) -> JSONObject | None:
    """The checked-in plan file's JSON, or None when there is none yet (its schema version checked)."""
    return model.read_json(path)


def read_plan(path: Path) -> Plan | None:
    """The checked-in plan, or None when there is none yet."""
    return model.read(path)


def load_plan(config: Config) -> Plan:
    """The checked-in plan every job, DAG and reader uses; an error that says how to make one."""
    plan = read_plan(config.plan_path)
    if plan is None:
        raise PlanError(f"no compiled plan at {config.plan_path}: run `pitstop apply` in {config.repo}")
    return plan


def compile_repo(config: Config, previous: JSONObject | None) -> CompiledPlan:
    cache = config.repo / ".pitstop" / "cache"  # answers kept while their inputs are unchanged (not committed)

    def lookup(source: BatchSource) -> dict[str, str] | None:
        return schema_cache.read_source_schema(source.path, source.format, config.repo, cache)

    def check_expectation(name: str, kwargs: JSONObject) -> str | None:
        # imports GX only for an Expect.gx not yet checked under the installed GX version (answers kept per version)
        from pitstop.stores.gx_suite import cached_check_expectation

        return cached_check_expectation(name, kwargs, cache)

    return compile_plan(config.project, discover(config.repo), lookup, previous, check_expectation)


def plan(config: Config, *, prune: bool = False) -> PlanResult:
    previous = read_plan_json(config.plan_path)
    compiled = compile_repo(config, previous)
    rendered = compiled.render()
    current = config.plan_path.read_text() if config.plan_path.exists() else None
    diff = diff_plans(previous, compiled.data, compiled.locations, prune=prune)
    return PlanResult(compiled, diff, stale=current != rendered)


def apply(config: Config, *, prune: bool = False) -> PlanResult:
    """Write the compiled plan unless a change is refused (PlanError says which and how to fix)."""
    result = plan(config, prune=prune)
    if result.problems:
        raise PlanError("pitstop apply refused:\n" + "\n".join(f"  - {p}" for p in result.problems))
    if result.stale:
        config.plan_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = config.plan_path.with_suffix(".json.tmp")
        tmp.write_text(result.compiled.render())
        tmp.replace(config.plan_path)
        result.written = True
    return result
