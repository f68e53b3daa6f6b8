"""FeatureStore: the Python entry point to a feature repository."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pitstop.config import Config, load_config
from pitstop.runtime import catalog, registry


class FeatureStore:
    """A feature repository (the folder holding pitstop.yaml).

    >>> store = FeatureStore("path/to/repo")    # doctest: +SKIP
    >>> store.apply()                          # doctest: +SKIP
    """

    def __init__(self, repo: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> None:
        self.config: Config = load_config(Path(repo) if repo is not None else None, env)

    @property
    def repo(self) -> Path:
        return self.config.repo

    def plan(self, *, prune: bool = False) -> registry.PlanResult:
        """Compile feature_defs and diff against the checked-in plan (writes nothing)."""
        return registry.plan(self.config, prune=prune)

    def apply(self, *, prune: bool = False) -> registry.PlanResult:
        """Compile and write dags/pitstop_plan.json; refuses value changes without a version bump."""
        return registry.apply(self.config, prune=prune)

    def load_plan(self) -> dict[str, Any]:
        return registry.load_plan(self.config)

    def list_views(self) -> list[catalog.ViewSummary]:
        return catalog.list_views(self.load_plan())

    def describe(self, view: str) -> dict[str, Any]:
        return catalog.view_entry(self.load_plan(), view)
