"""Entry points of the Spark jobs in jobs/: the narrow (repo, view, ds range) contract."""

from __future__ import annotations

from datetime import date

from pitstop.runtime.feature_store import FeatureStore


def run_materialize(repo: str, view: str, start: date, end: date, *, cascade: bool = True) -> str:
    """Materialize one view; returns the run summary text. Reads only the compiled plan and config."""
    store = FeatureStore(repo)
    (summary,) = store.materialize([view], start, end, cascade=cascade)
    return summary.describe()
