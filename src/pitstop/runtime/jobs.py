"""Entry points of the Spark jobs in jobs/: the narrow (repo, view, ds range) contract."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date

from pitstop.errors import PitstopError
from pitstop.runtime.feature_store import FeatureStore


def run_materialize(repo: str, views: list[str], start: date, end: date, *, cascade: bool = True,
                    publish: bool = True) -> str:
    """Materialize views (one Spark application); returns the run summaries. Reads only the plan and config."""
    store = FeatureStore(repo)
    return "\n".join(s.describe() for s in store.materialize(views, start, end, cascade=cascade, publish=publish))


def run_publish(repo: str, views: list[str], ds: date | None) -> str:
    """Publish views' day (default: each one's newest materialized) into Redis; returns what happened."""
    store = FeatureStore(repo)
    return "\n".join(r.describe() for r in store.publish(views, ds))


def run_monitor(repo: str, views: list[str], sample: int) -> str:
    """The monitor task: a sampled Delta-vs-Redis comparison of each view's published day; a mismatch in any
    of them is terminal (every view is checked first)."""
    from pitstop.errors import ConsistencyError
    from pitstop.runtime.consistency import check

    store = FeatureStore(repo)
    plan = store.load_plan()
    reports = [check(store.config, plan, view, sample, store.spark) for view in views]
    text = "\n".join(r.describe() for r in reports)
    if not all(r.ok for r in reports):
        raise ConsistencyError(text)
    return text


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
