"""Discovery for people: list views and describe one, from the compiled plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pitstop.errors import UsageError
from pitstop.plan import naming
from pitstop.plan.model import Plan, View


@dataclass(frozen=True)
class ViewSummary:
    name: str
    version: int
    kind: str
    entities: tuple[str, ...]
    features: int
    owner: str
    online: bool


def list_views(plan: Plan) -> list[ViewSummary]:
    return [ViewSummary(name, v.version, v.kind, v.entities, len(v.features), v.owner or "", v.online)
            for name, v in sorted(plan.views.items())]


@dataclass(frozen=True)
class ViewFeatures:
    """The features asked of one view: (feature name, output column) in the order asked."""

    name: str
    entry: View
    features: tuple[tuple[str, str], ...]


def resolve_features(plan: Plan, refs: Sequence[str] | str | None, full_names: bool, *,
                     what: str = "features") -> list[ViewFeatures]:
    """"view:feature" references checked against the plan and grouped by view (first-seen order); output
    columns are the feature names, or view__feature with ``full_names``; two references giving the same
    column are an error that says so."""
    if isinstance(refs, str) or not refs:
        raise UsageError(f"{what} must be a non-empty list of 'view:feature' references, e.g. "
                         f"['user_transactions:amount_sum_7d']")
    asks: dict[str, list[tuple[str, str]]] = {}
    seen_columns: dict[str, str] = {}
    for ref in refs:
        try:
            view_name, feature = naming.parse_feature_ref(ref)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        view = plan.views.get(view_name)
        if view is None:
            raise UsageError(f"unknown view {view_name!r} in {ref!r}; views: {', '.join(sorted(plan.views))}")
        names = view.feature_names
        if feature not in names:
            raise UsageError(f"view {view_name!r} has no feature {feature!r}; its features: {', '.join(names)}")
        column = naming.full_feature_name(view_name, feature) if full_names else feature
        if column in seen_columns and seen_columns[column] != ref:
            raise UsageError(f"{ref!r} and {seen_columns[column]!r} both give a column {column!r}; pass "
                             f"full_feature_names=True (--full-names) to name columns view__feature")
        seen_columns[column] = ref
        asked = asks.setdefault(view_name, [])
        if (feature, column) not in asked:
            asked.append((feature, column))
    return [ViewFeatures(name, plan.views[name], tuple(features)) for name, features in asks.items()]


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "none"
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds}s"


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def render_list(plan: Plan) -> str:
    rows = [["VIEW", "VERSION", "KIND", "ENTITIES", "FEATURES", "OWNER", "ONLINE"]]
    for s in list_views(plan):
        rows.append([s.name, str(s.version), s.kind, ",".join(s.entities), str(s.features), s.owner or "-",
                     "yes" if s.online else "no"])
    if len(rows) == 1:
        return "No views in the plan yet: define some in feature_defs/ and run `pitstop apply`."
    return format_table(rows)


def _quality_lines(v: View) -> list[str]:
    """The validation gate's checks and the declared alert thresholds, one line each."""
    suite = v.suite
    if not suite:
        return []
    declared = [c for c in suite if c.origin == "declared"]
    labels = [c.label + (" [warning]" if c.severity == "warning" else "") for c in declared]
    lines = [f"validation:  {len(suite)} checks ({len(suite) - len(declared)} built-in"
             + (f"; declared: {'; '.join(labels)}" if labels else "") + ")"]
    custom = sorted({f"{m} {feature} > {r.max:g}" + (" [error]" if r.severity == "error" else "")
                     for feature, rules in v.monitoring.alerts.items() for m, r in rules.items()
                     if r.origin == "declared"})
    lines.append(f"alerts:      defaults null_fraction > 0.05, psi > 0.2, kl > 0.1, schema (warnings); baseline "
                 f"{v.monitoring.baseline_days}d" + (f"; declared: {', '.join(custom)}" if custom else ""))
    return lines


def render_describe(plan: Plan, view: str) -> str:
    v = plan.view(view)
    src = v.source
    keys = ", ".join(f"{k.name} ({k.dtype})" for k in v.join_keys)
    lines = [
        f"view:        {view} (version {v.version}, {v.kind})",
        f"entities:    {', '.join(v.entities)}; join keys: {keys}",
        f"source:      {src.name} — {src.format} at {src.path}; event time {src.timestamp_field}"
        + (f", created time {src.created_timestamp_field}" if src.created_timestamp_field else ""),
        f"filter:      {v.filter or 'none'}",
        f"ttl:         {_duration(v.ttl_seconds)}; availability delay "
        f"{_duration(v.availability_delay_seconds)}; lateness {v.lateness_days}d",
        f"online:      {'yes' if v.online else 'no'}",
        f"owner:       {v.owner or '-'}",
        f"description: {v.description or '-'}",
        f"tags:        {', '.join(f'{k}={val}' for k, val in v.tags.items()) or '-'}",
        f"dag:         {v.dag_id}",
        *_quality_lines(v),
        f"fingerprint: data {v.data_fingerprint}, metadata {v.metadata_fingerprint}",
        "",
    ]
    if v.is_aggregate:
        rows = [["FEATURE", "FUNCTION", "COLUMN", "WINDOW", "DTYPE", "EMPTY WINDOW"]]
        rows += [[f.name, f.function or "", f.column or "-", f.window or "", f.dtype, f.empty_value or ""]
                 for f in v.features]
    else:
        rows = [["FEATURE", "DTYPE"]] + [[f.name, f.dtype] for f in v.features]
    return "\n".join(lines) + format_table(rows)
