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


def run_monitor(repo: str, view: str, sample: int) -> str:
    """The monitor task: a sampled Delta-vs-Redis comparison of the published day; a mismatch is terminal."""
    from pitstop.errors import ConsistencyError
    from pitstop.runtime.consistency import check

    store = FeatureStore(repo)
    report = check(store.config, store.load_plan(), view, sample, store.spark)
    if not report.ok:
        raise ConsistencyError(report.describe())
    return report.describe()


def run_training_set(repo: str, name: str, run_id: str) -> str:
    """A TrainingSet definition's run: its spine SQL joined point in time and written to
    ``<output>/<run>`` with the manifest. Relative paths (in the spine SQL, the output) are relative to the
    repository."""
    import os
    import re

    from pitstop.errors import UsageError
    from pitstop.runtime.training_set import write

    store = FeatureStore(repo)
    plan = store.load_plan()
    entry = plan.get("training_sets", {}).get(name)
    if entry is None:
        raise UsageError(f"no training set {name!r} in the plan; training sets: "
                         f"{', '.join(sorted(plan.get('training_sets', {}))) or 'none'}")
    os.chdir(store.repo)
    result = store.training_set(entry["spine_sql"], entry["features"], timestamp_column=entry["timestamp_column"],
                                full_feature_names=entry["full_feature_names"])
    folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("_")
    out = f"{entry['output'].rstrip('/')}/{folder}"
    manifest = write(result, out, entry["format"], overwrite=True)
    return (f"training set {name}: {manifest['spine']['rows']:,} row(s), {len(entry['features'])} feature(s) -> "
            f"{manifest['output']['path']} ({entry['format']}, manifest beside it)")


def exit_code(job: Callable[[], str]) -> int:
    """Run a job body and print its summary. Errors go to stderr with the exit code an orchestrator acts
    on: 3 terminal (bad input: do not retry), 1 transient (Redis or Spark failed: retry)."""
    try:
        print(job())
    except PitstopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3 if exc.terminal else 1
    return 0
