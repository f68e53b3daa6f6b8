"""The commands the CLI and the Spark jobs of jobs/ share: one body each, a thin call into ``FeatureStore``
that reports through the store's reporter and returns an exit code (or raises a PitstopError, which
``pitstop.runtime.entry.run`` turns into its code)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pitstop.errors import EXIT_DONE, ConsistencyError
from pitstop.runtime.feature_store import FeatureStore


def materialize(store: FeatureStore, views: Sequence[str], start: date, end: date, *, cascade: bool = True,
                publish: bool = True, force: bool = False) -> int:
    """Materialize views for [start, end] (one Spark application), then publish each online view's newest
    day unless ``publish=False``; prints each view's run summary."""
    for summary in store.materialize(views, start, end, cascade=cascade, publish=publish, force=force):
        store.reporter.out(summary.describe())
    return EXIT_DONE


def publish(store: FeatureStore, views: Sequence[str], ds: date | None) -> int:
    """Publish views' day (default: each one's newest materialized) into Redis; prints what happened."""
    for result in store.publish(views, ds):
        store.reporter.out(result.describe())
    return EXIT_DONE


def consistency(store: FeatureStore, views: Sequence[str], sample: int) -> int:
    """A sampled Delta-vs-Redis comparison of each view's published day, recorded; every view is checked and
    printed first, then a mismatch in any of them is ConsistencyError (exit 2: a check found problems)."""
    reports = store.check_consistency(views, sample)
    for report in reports:
        store.reporter.out(report.describe())
    bad = [r.view for r in reports if not r.ok]
    if bad:
        raise ConsistencyError(f"online values disagree with the Delta snapshot they were published from: "
                               f"{', '.join(bad)} (mismatches above); find the cause (a publish interrupted, keys "
                               f"written by something else) and publish again", views=bad)
    return EXIT_DONE


def training_set(store: FeatureStore, name: str, run_id: str) -> int:
    """A TrainingSet definition's run, written to ``<output>/<run_id>`` with its manifest."""
    entry, manifest = store.build_training_set(name, run_id)
    store.reporter.out(f"training set {name}: {manifest['spine']['rows']:,} row(s), {len(entry.features)} "
                       f"feature(s) -> {manifest['output']['path']} ({entry.format}, manifest beside it)")
    return EXIT_DONE
