"""FeatureStore: the Python entry point to a feature repository."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop.config import Config, load_config
from pitstop.jsontypes import JSONObject
from pitstop.plan.model import Plan, View
from pitstop.runtime import catalog, registry

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from pitstop.runtime.materialize import RunSummary
    from pitstop.runtime.online import OnlineReader, OnlineResponse
    from pitstop.runtime.publish import PublishResult
    from pitstop.runtime.training_set import TrainingSet


class FeatureStore:
    """A feature repository (the folder holding pitstop.yaml).

    >>> store = FeatureStore("path/to/repo")    # doctest: +SKIP
    >>> store.apply()                          # doctest: +SKIP
    """

    def __init__(self, repo: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> None:
        self.config: Config = load_config(Path(repo) if repo is not None else None, env)
        self._spark: SparkSession | None = None
        self._reader: tuple[int, OnlineReader] | None = None

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

    def load_plan(self) -> Plan:
        return registry.load_plan(self.config)

    def list_views(self) -> list[catalog.ViewSummary]:
        return catalog.list_views(self.load_plan())

    def describe(self, view: str) -> View:
        return self.load_plan().view(view)

    def materialize(self, views: Sequence[str] | str, start: date | str, end: date | str, *,
                    cascade: bool = True, publish: bool = True, force: bool = False) -> list[RunSummary]:
        """Compute the views for the days [start, end] into Delta (one Spark application, one commit
        per table per view), then publish each online view's newest materialized day to Redis
        (``publish=False`` / ``--no-publish`` skips that). ``cascade=False`` leaves later snapshots
        untouched (with a warning).

        Before Spark starts, every view's days are checked against its source: a day before the view's
        start_date or the source's first event, or whose source is not ready under the view's readiness
        rule, is refused (SourceNotReady, terminal); ``force=True`` (``--force``) skips that check."""
        from pitstop.runtime.materialize import check_days, check_range, check_view_names, materialize

        plan = self.load_plan()
        names = [views] if isinstance(views, str) else list(views)
        check_view_names(plan, names)
        first, last = _day(start), _day(end)
        check_range(first, last)  # also with force: every check that needs no data comes before Spark starts
        checked = {name: "" if force else check_days(self.config, plan, name, first, last) for name in names}
        summaries = []
        for name in names:
            summary = materialize(self.config, plan, name, first, last, self.spark, cascade=cascade)
            summary.source, summary.forced = checked[name], force
            if publish and plan.views[name].online:
                from pitstop.runtime.publish import publish as publish_view

                summary.published = publish_view(self.config, plan, name, self.spark)
            summaries.append(summary)
        return summaries

    def publish(self, views: Sequence[str] | str, ds: date | str | None = None) -> list[PublishResult]:
        """Publish ds (default: each view's newest materialized day) into the online store: written from the
        executors into a new generation, then switched to atomically; an older ds never replaces a newer."""
        from pitstop.runtime.materialize import check_view_names
        from pitstop.runtime.publish import publish

        plan = self.load_plan()
        names = [views] if isinstance(views, str) else list(views)
        check_view_names(plan, names)
        day = None if ds is None else _day(ds)
        return [publish(self.config, plan, name, self.spark, day) for name in names]

    def get_online_features(self, features: Sequence[str], entity_rows: Sequence[Mapping[str, Any]], *,
                            full_feature_names: bool = False) -> OnlineResponse:
        """Features of the latest published snapshots for the given entities, in one Redis round trip.
        No Spark: this reads only the plan and Redis."""
        return self.online_reader().read(features, entity_rows, full_feature_names=full_feature_names)

    def online_reader(self) -> OnlineReader:
        """A reader kept across calls (one connection pool, parsed requests cached); renewed when the plan
        file changes."""
        from pitstop.runtime.online import OnlineReader

        stamp = self.config.plan_path.stat().st_mtime_ns if self.config.plan_path.exists() else 0
        if self._reader is None or self._reader[0] != stamp:
            if self._reader is not None:
                self._reader[1].close()
            self._reader = (stamp, OnlineReader(self.config, self.load_plan()))
        return self._reader[1]

    def get_historical_features(self, entity_df: Any, features: Sequence[str], *, accuracy: str = "snapshot",
                                full_feature_names: bool = False,
                                timestamp_column: str = "event_timestamp") -> DataFrame:
        """A point-in-time-correct training set (docs/semantics.md) as a Spark DataFrame: every spine row, every
        spine column, one column per feature. ``entity_df``: a Spark or pandas DataFrame, a path (parquet,
        csv, Delta) or a Spark SQL query, holding the join keys and ``timestamp_column``. Use
        ``training_set`` for the SQL it runs and the manifest that rebuilds it."""
        return self.training_set(entity_df, features, accuracy=accuracy, full_feature_names=full_feature_names,
                                 timestamp_column=timestamp_column).df

    def training_set(self, entity_df: Any, features: Sequence[str], *, accuracy: str = "snapshot",
                     full_feature_names: bool = False, timestamp_column: str = "event_timestamp") -> TrainingSet:
        """Like ``get_historical_features``, with the standalone SQL (``.printable_sql()``) and the manifest
        (``.manifest``: the Delta version of every table read); write it with ``pitstop.runtime.training_set.
        write`` or the CLI's ``pitstop training-set``."""
        from pitstop.runtime.training_set import check_request, get_historical_features

        plan = self.load_plan()
        # every check that needs no data answers before the Spark session starts
        check_request(plan, entity_df, list(features), timestamp_column=timestamp_column,
                      full_feature_names=full_feature_names, accuracy=accuracy)
        return get_historical_features(self.config, plan, self.spark, entity_df, list(features),
                                       timestamp_column=timestamp_column, full_feature_names=full_feature_names,
                                       accuracy=accuracy)

    def snapshot(self, view: str, ds: date | str) -> DataFrame:
        """One materialized day of a view as a DataFrame (join keys, feature_timestamp, features)."""
        from pitstop.runtime.materialize import snapshot

        return snapshot(self.config, self.load_plan(), view, _day(ds), self.spark)

    def materialized_days(self, view: str) -> list[date]:
        from pitstop.runtime.materialize import materialized_days

        return materialized_days(self.config, self.load_plan(), view, self.spark)

    def history(self, view: str) -> list[JSONObject]:
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
