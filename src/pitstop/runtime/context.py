"""Context: what every runtime operation reads, passed as one value.

A runtime operation (materialize, publish, validate, a training set, an online read, status) needs the
project's configuration, its compiled plan and, for most, a Spark session. They travel together as a
``Context`` instead of as ``(config, plan, view_name, ..., spark)``: the Spark session starts on the first
operation that asks for it (``ctx.spark``), a view is looked up once (``ctx.view(name)``, with the plan's
clear error for an unknown one) and a view's table locations are built once (``ctx.tables(view)``).

``FeatureStore.context()`` builds the context of a repository; tests and notebooks can build one from parts:
``Context(config, plan, spark)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pitstop.config import Config
from pitstop.plan.model import Plan, View
from pitstop.runtime.tables import ViewTables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class Context:
    """The configuration, the compiled plan and the Spark session (or how to start one) of one project."""

    __slots__ = ("_session", "_start", "_tables", "config", "plan")

    def __init__(self, config: Config, plan: Plan, spark: SparkSession | None = None, *,
                 start_spark: Callable[[], SparkSession] | None = None) -> None:
        """``spark``: the session to use; without one, ``start_spark()`` (or, without that, a session built
        from ``config``) starts one when an operation first needs it."""
        self.config = config
        self.plan = plan
        self._session = spark
        self._start = start_spark
        self._tables: dict[tuple[str, int], ViewTables] = {}

    @property
    def spark(self) -> SparkSession:
        """The Spark session: the one given, else ``start_spark()`` (asked each time: its owner keeps the
        session), else one built from the configuration on first use."""
        if self._session is not None:
            return self._session
        if self._start is not None:
            return self._start()
        from pitstop.stores.engine import session_for

        self._session = session_for(self.config)
        return self._session

    def view(self, name: str) -> View:
        """The view ``name`` of the plan (a PlanError naming the views there are otherwise)."""
        return self.plan.view(name)

    def tables(self, view: View | str) -> ViewTables:
        """Where the Delta tables of ``view`` (a View or its name) live; built once per view version."""
        entry = self.view(view) if isinstance(view, str) else view
        key = (entry.name, entry.version)
        if key not in self._tables:
            self._tables[key] = ViewTables(self.config, entry)
        return self._tables[key]
