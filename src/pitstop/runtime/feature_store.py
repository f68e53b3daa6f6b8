"""FeatureStore: the Python entry point to a feature repository."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop.config import Config, load_config
from pitstop.runtime import catalog, registry

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from pitstop.runtime.materialize import RunSummary


class FeatureStore:
    """A feature repository (the folder holding pitstop.yaml).

    >>> store = FeatureStore("path/to/repo")    # doctest: +SKIP
    >>> store.apply()                          # doctest: +SKIP
    """

    def __init__(self, repo: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> None:
        self.config: Config = load_config(Path(repo) if repo is not None else None, env)
        self._spark: SparkSession | None = None

    @property
    def spark(self) -> SparkSession:
        """The Spark session (built from config on first use, with Delta Lake and UTC)."""
        if self._spark is None:
            from pitstop.stores.spark import session_for

            self._spark = session_for(self.config)
        return self._spark

    def use_spark(self, spark: SparkSession) -> None:
        """Use an existing session (a notebook's, a test's) instead of building one."""
        self._spark = spark

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

    def materialize(self, views: Sequence[str] | str, start: date | str, end: date | str, *,
                    cascade: bool = True) -> list[RunSummary]:
        """Compute the views for the days [start, end] into Delta (one Spark application, one commit
        per table per view). ``cascade=False`` leaves later snapshots untouched (with a warning)."""
        from pitstop.runtime.materialize import check_view_names, materialize

        plan = self.load_plan()
        names = [views] if isinstance(views, str) else list(views)
        check_view_names(plan, names)
        first, last = _day(start), _day(end)
        return [materialize(self.config, plan, name, first, last, self.spark, cascade=cascade) for name in names]

    def snapshot(self, view: str, ds: date | str) -> DataFrame:
        """One materialized day of a view as a DataFrame (join keys, feature_timestamp, features)."""
        from pitstop.runtime.materialize import snapshot

        return snapshot(self.config, self.load_plan(), view, _day(ds), self.spark)

    def materialized_days(self, view: str) -> list[date]:
        from pitstop.runtime.materialize import materialized_days

        return materialized_days(self.config, self.load_plan(), view, self.spark)

    def history(self, view: str) -> list[dict[str, Any]]:
        """Commits of the view's snapshot table, newest first, with the ds range each wrote."""
        from pitstop.runtime.materialize import history

        return history(self.config, self.load_plan(), view, self.spark)


def _day(value: date | str) -> date:
    from pitstop.errors import UsageError

    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"{value!r} is not a day in YYYY-MM-DD form") from exc
