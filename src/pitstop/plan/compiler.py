"""Compile discovered definitions into the plan: the versioned registry every other part reads.

The plan is plain, deterministic JSON (sorted keys, enums as words, no JSON inside JSON) with a
schema_version, one entry per view holding everything jobs, DAGs and readers need, and a data
fingerprint separate from a metadata fingerprint: a change that alters values needs a version bump, a
description or owner edit does not.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from pitstop.definitions import DTYPES, FUNCTIONS, BatchSource, FeatureView, TrainingSet
from pitstop.definitions.windows import window_suffix
from pitstop.errors import DefinitionError, DefinitionErrors
from pitstop.jsontypes import JSONObject
from pitstop.plan import naming
from pitstop.plan.discovery import Discovered
from pitstop.plan.fingerprint import data_fingerprint, digest, metadata_fingerprint
from pitstop.plan.model import (
    DagSpec,
    Entity,
    Feature,
    JoinKey,
    Plan,
    Source,
    Tables,
    TrainingSetSpec,
    View,
    ViewSource,
)
from pitstop.plan.quality import ExpectationCheck, declared_checks, monitoring_entry, validation_entry

JOIN_KEY_TYPES = ("int64", "string")

SchemaLookup = Callable[[BatchSource], dict[str, str] | None]


@dataclass
class CompiledPlan:
    plan: Plan
    locations: dict[str, str | None] = field(default_factory=dict)  # view name -> file:line
    warnings: list[str] = field(default_factory=list)

    @property
    def data(self) -> JSONObject:
        """The plan as JSON (what the plan file holds)."""
        return self.plan.to_json()

    def render(self) -> str:
        return self.plan.render()


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def _suggest(name: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(name, columns, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass
class _Names:
    """What the checks, alerts and training sets of a view may name, when part of the view failed.

    ``good`` names are columns of the compiled snapshot. ``doubtful`` ones belong to a part that failed (an
    aggregation over a missing or mistyped column, a missing join key) or are the names that part would
    produce with the suggested column (``amout`` -> ``amount``: ``amount_sum_7d``): naming one is a
    knock-on of that failure, not a mistake of its own. ``open`` when a missing column has no suggestion,
    so any unknown name may be one of its features."""

    features: list[str]  # the declared feature names, for messages
    columns: list[str]   # the declared snapshot columns (keys, features, ds, timestamp), for messages
    good: set[str]
    doubtful: set[str] = field(default_factory=set)
    would_be: set[str] = field(default_factory=set)  # the names failed parts would produce, fixed as suggested
    open: bool = False

    @property
    def suggestions(self) -> list[str]:
        """Names to suggest for an unknown one: the good columns, and what a failed part would produce."""
        return [*(c for c in self.columns if c in self.good), *sorted(self.would_be - self.good)]

    def verdict(self, name: str) -> str:
        if name in self.good:
            return "ok"
        return "knock-on" if self.open or name in self.doubtful else "unknown"


FAILED_AT_DISCOVERY = _Names([], [], set(), open=True)


class _Checker:
    def __init__(self, errors: list[DefinitionError] | None = None) -> None:
        self.errors: list[DefinitionError] = list(errors or [])
        self.skipped: list[str] = []

    def error(self, message: str, location: str | None) -> None:
        self.errors.append(DefinitionError(message, location))

    def skip(self, what: str) -> None:
        self.skipped.append(what)

    def column(self, schema: dict[str, str], source: BatchSource, column: str, role: str,
               location: str | None) -> str | None:
        if column in schema:
            return schema[column]
        cols = sorted(schema)
        self.error(f"{role} {column!r} is not a column of source {source.name!r} ({source.path})"
                   f"{_suggest(column, cols)}; its columns are: {', '.join(cols)}", location)
        return None


def _source_schema(source: BatchSource, lookup: SchemaLookup, previous: JSONObject | None,
                   checker: _Checker, warnings: list[str]) -> dict[str, str] | None:
    try:
        schema = lookup(source)
    except DefinitionError as exc:
        checker.error(exc.detail, source.location)
        return None
    if schema is not None:
        return schema
    old = (previous or {}).get("sources", {}).get(source.name)
    if old and old.get("path") == source.path and old.get("format") == source.format and old.get("schema"):
        warnings.append(f"source {source.name!r} ({source.path}) is not readable from here; "
                        f"using the column types recorded in the checked-in plan")
        return dict(old["schema"])
    checker.error(f"cannot read source {source.name!r} at {source.path!r} (format {source.format}) to learn "
                  f"its column types, and the checked-in plan records none: create the data first "
                  f"(for the demo: `pitstop demo-data`) or fix the path", source.location)
    return None


def _check_source(source: BatchSource, schema: dict[str, str], checker: _Checker) -> None:
    for ts_field, role in ((source.timestamp_field, "timestamp_field"),
                           (source.created_timestamp_field, "created_timestamp_field")):
        if ts_field is None:
            continue
        dtype = checker.column(schema, source, ts_field, f"{role} of source {source.name!r}:", source.location)
        if dtype is not None and dtype not in ("timestamp", "date"):  # a date is midnight UTC of its day
            checker.error(f"{role} {ts_field!r} of source {source.name!r} has type {dtype}; it must be a "
                          f"timestamp or date column (cast it in the source)", source.location)


def _view_entry(view: FeatureView, schema: dict[str, str], checker: _Checker,
                expectation_check: ExpectationCheck | None = None) -> tuple[View | None, _Names]:
    """The plan entry of a view (None when it has errors) and what its checks and training sets may name."""
    src = view.source
    loc = view.location
    n_errors = len(checker.errors)
    used: dict[str, str] = {}
    timestamp = "feature_timestamp" if view.aggregations is not None else "event_timestamp"
    declared = list(view.feature_names())
    names = _Names(declared, [*view.join_keys, *declared, "ds", timestamp], {"ds", timestamp})
    cols = sorted(schema)

    def fails(produced: list[str], would_be: list[str]) -> None:
        """A missing or mistyped column: what it produces is doubtful, and so is what it would produce fixed."""
        names.doubtful.update(produced)
        names.doubtful.update(would_be)
        names.would_be.update(would_be)

    def use(column: str, role: str, location: str | None) -> str | None:
        dtype = checker.column(schema, src, column, role, location)
        if dtype is not None:
            used[column] = dtype
        return dtype

    join_keys: list[JoinKey] = []
    for entity in view.entities:
        for key in entity.join_keys:
            dtype = use(key, f"join key of entity {entity.name!r} in view {view.name!r}:", loc)
            if dtype is None:
                fails([key], [])
            else:
                names.good.add(key)
            if dtype is not None and dtype not in JOIN_KEY_TYPES:
                checker.error(f"join key {key!r} of view {view.name!r} has type {dtype} in source "
                              f"{src.name!r}; join keys must be {' or '.join(JOIN_KEY_TYPES)} columns "
                              f"(cast it in the source)", loc)
            join_keys.append(JoinKey(key, dtype or ""))
    for ts_field in (src.timestamp_field, src.created_timestamp_field):
        if ts_field is not None and ts_field in schema:  # checked once per source in _check_source
            used[ts_field] = schema[ts_field]
    features: list[Feature] = []
    kind: Literal["aggregate", "latest"]
    if view.aggregations is not None:
        kind = "aggregate"
        for agg in view.aggregations:
            spec = FUNCTIONS[agg.function]
            col_type = None
            if agg.column is not None:
                col_type = use(agg.column, f"aggregation column of {agg.function}:", agg.location)
                if col_type is None:
                    close = difflib.get_close_matches(agg.column, cols, n=1)
                    fixed = [] if agg.name is not None or not close else [
                        naming.feature_name(f"{close[0]}_{agg.function}", d) for d in agg.window_days]
                    names.open = names.open or (agg.name is None and not close)
                    fails(list(agg.feature_names()), fixed)
                    continue
                if spec.accepts is not None and col_type not in spec.accepts:
                    checker.error(f"{agg.function}({agg.column}) needs a column of type "
                                  f"{' or '.join(spec.accepts)}, but {agg.column!r} is {col_type} in source "
                                  f"{src.name!r}", agg.location)
                    fails(list(agg.feature_names()), [])
                    continue
                if spec.result == "column" and col_type not in (
                        "int64", "float64", "string", "bool", "timestamp"):
                    checker.error(f"{agg.function}({agg.column}): column type {col_type} is not supported "
                                  f"for feature values; cast it in the source", agg.location)
                    fails(list(agg.feature_names()), [])
                    continue
            for days in agg.window_days:
                features.append(Feature(naming.feature_name(agg.base_name, days), spec.result_dtype(col_type),
                                        agg.function, agg.column, window_suffix(days), days, spec.empty))
    else:
        kind = "latest"
        assert view.features is not None
        for feat in view.features:
            col_type = use(feat.name, "feature column", feat.location)
            if col_type is None:
                close = difflib.get_close_matches(feat.name, cols, n=1)
                names.open = names.open or not close
                fails([feat.name], close)
                continue
            if col_type != feat.dtype:
                fix = (f"declare dtype={col_type!r} or cast it in the source" if col_type in DTYPES
                       else f"cast it to one of {', '.join(DTYPES)} in the source")
                checker.error(f"Feature {feat.name!r} is declared dtype={feat.dtype!r} but source "
                              f"{src.name!r} has it as {col_type}; {fix}", feat.location)
            features.append(Feature(feat.name, feat.dtype))
    names.good.update(f.name for f in features)
    windows = sorted({f.window_days for f in features if kind == "aggregate"}, key=lambda d: (d is None, d or 0))
    # the declared checks and alerts are vetted even when the view failed (their own mistakes are
    # independent), but those naming a feature that failed are skipped: the cause is reported already
    expectations, alerts = declared_checks(f"FeatureView {view.name!r}", view.name, tuple(view.expectations),
                                           tuple(view.alerts), names.verdict, names.columns, names.suggestions, loc,
                                           checker.error, checker.skip)
    suite = validation_entry(kind, join_keys, features, expectations, expectation_check, checker.error)
    monitoring = monitoring_entry(features, alerts, view.baseline_days, checker.error)
    if len(checker.errors) > n_errors or names.doubtful or names.open:
        return None, names
    compiled = View(
        name=view.name, kind=kind, version=view.version, entities=tuple(e.name for e in view.entities),
        join_keys=tuple(join_keys),
        source=ViewSource(src.name, src.path, src.format, src.timestamp_field, src.created_timestamp_field,
                          dict(sorted(used.items())), src.readiness),
        filter=view.filter, lateness_days=view.lateness, features=tuple(features),
        max_window_days=(None if None in windows else max(w for w in windows if w is not None)) if windows else None,
        ttl_seconds=_seconds(view.effective_ttl), availability_delay_seconds=_seconds(view.availability_delay),
        inclusive_cutoff=view.inclusive_cutoff, online=view.online, owner=view.owner, description=view.description,
        tags=dict(sorted(view.tags.items())),
        tables=Tables(naming.snapshot_table(view.name, view.version), naming.tile_table(view.name, view.version))
        if kind == "aggregate" else Tables(latest=naming.latest_table(view.name, view.version)),
        dag_id=naming.dag_id(view.name, view.version),
        dag=DagSpec(view.schedule, view.start_date, view.catchup, view.max_active_runs),
        suite=suite, monitoring=monitoring, data_fingerprint="", metadata_fingerprint="")
    entry = compiled.to_json()
    return dataclasses.replace(compiled, data_fingerprint=data_fingerprint(entry),
                               metadata_fingerprint=metadata_fingerprint(entry)), names


def _training_entry(ts: TrainingSet, views: dict[str, View], failed: dict[str, _Names],
                    checker: _Checker) -> TrainingSetSpec | None:
    """The plan entry of a training set; None when it has errors or uses a view that failed (then it is
    noted as skipped, not reported: the view's own error says what to fix)."""
    n_errors = len(checker.errors)
    knock_on: list[str] = []
    defined = sorted({*views, *failed})
    for ref in ts.features:
        view_name, _, feature = ref.partition(":")
        view = views.get(view_name)
        if view is None and view_name in failed:
            names = failed[view_name]
            if names.verdict(feature) != "unknown":
                knock_on.append(view_name)
                continue
            hints = [f for f in names.suggestions if f in names.features or f in names.would_be]
            checker.error(f"TrainingSet {ts.name!r}: view {view_name!r} has no feature {feature!r}"
                          f"{_suggest(feature, hints)}; its features: {', '.join(names.features)}",
                          ts.location)
            continue
        if view is None:
            checker.error(f"TrainingSet {ts.name!r}: feature {ref!r} names view {view_name!r}, which is not "
                          f"defined{_suggest(view_name, defined)}; views: {', '.join(defined)}",
                          ts.location)
            continue
        feature_names = view.feature_names
        if feature not in feature_names:
            checker.error(f"TrainingSet {ts.name!r}: view {view_name!r} has no feature {feature!r}"
                          f"{_suggest(feature, feature_names)}; its features: {', '.join(feature_names)}",
                          ts.location)
    if knock_on:
        failed_views = list(dict.fromkeys(knock_on))
        checker.skip(f"TrainingSet {ts.name!r} at {ts.location} (view{'s' if len(failed_views) > 1 else ''} "
                     f"{', '.join(map(repr, failed_views))})")
    if len(checker.errors) > n_errors or knock_on:
        return None
    return TrainingSetSpec(ts.name, ts.spine_sql, tuple(ts.features), tuple(ts.views), ts.output, ts.format,
                           ts.timestamp_column, ts.full_feature_names, ts.owner, ts.description,
                           naming.training_dag_id(ts.name))


def compile_plan(project: str, discovered: Discovered, lookup: SchemaLookup,
                 previous: JSONObject | None = None,
                 expectation_check: ExpectationCheck | None = None) -> CompiledPlan:
    """Validate everything against the sources and build the plan; raises DefinitionErrors.
    ``expectation_check`` vets declared Great Expectations classes and arguments (the runtime passes one
    that asks GX; the pure core cannot import it)."""
    checker = _Checker(discovered.errors)
    warnings: list[str] = []
    schemas: dict[str, dict[str, str] | None] = {}
    for source in discovered.sources:
        schema = schemas[source.name] = _source_schema(source, lookup, previous, checker, warnings)
        if schema is not None:
            _check_source(source, schema, checker)
    views: dict[str, View] = {}
    failed: dict[str, _Names] = {name: FAILED_AT_DISCOVERY for kind, name in discovered.failed
                                 if kind == "FeatureView"}
    for view in discovered.views:
        schema = schemas.get(view.source.name)
        if schema is None:  # the source's error is reported; the view's features are still known
            declared = list(view.feature_names())
            failed[view.name] = _Names(declared, declared, set(declared))
            checker.skip(f"FeatureView {view.name!r} at {view.location} (source {view.source.name!r})")
            continue
        entry, names = _view_entry(view, schema, checker, expectation_check)
        if entry is not None:
            views[view.name] = entry
        else:
            failed[view.name] = names
    training_sets = {t.name: spec for t in discovered.training_sets
                     if (spec := _training_entry(t, views, failed, checker)) is not None}
    if checker.errors:
        raise DefinitionErrors(checker.errors, [*discovered.skipped, *checker.skipped])
    plan = Plan(
        project=project,
        entities={e.name: Entity(e.name, tuple(e.join_keys), e.description) for e in discovered.entities},
        sources={s.name: Source(s.name, s.path, s.format, s.timestamp_field, s.created_timestamp_field,
                                dict(sorted((schemas[s.name] or {}).items()))) for s in discovered.sources},
        views=views, training_sets=training_sets,
        fingerprint=digest({name: [v.version, v.data_fingerprint] for name, v in views.items()}))
    return CompiledPlan(plan, {v.name: v.location for v in discovered.views}, warnings)
