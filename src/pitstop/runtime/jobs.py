"""Entry points of the Spark jobs in jobs/: the narrow (repo, view, ds range) contract."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date

from pitstop.errors import PitstopError
from pitstop.runtime.feature_store import FeatureStore


def run_materialize(repo: str, view: str, start: date, end: date, *, cascade: bool = True,
                    publish: bool = True) -> str:
    """Materialize one view; returns the run summary text. Reads only the compiled plan and config."""
    store = FeatureStore(repo)
    (summary,) = store.materialize([view], start, end, cascade=cascade, publish=publish)
    return summary.describe()


def run_publish(repo: str, view: str, ds: date | None) -> str:
    """Publish one view's day (default: the newest materialized) into Redis; returns what happened."""
    store = FeatureStore(repo)
    (result,) = store.publish([view], ds)
    return result.describe()


def exit_code(job: Callable[[], str]) -> int:
    """Run a job body and print its summary. Errors go to stderr with the exit code an orchestrator acts
    on: 3 terminal (bad input: do not retry), 1 transient (Redis or Spark failed: retry)."""
    try:
        print(job())
    except PitstopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3 if exc.terminal else 1
    return 0
