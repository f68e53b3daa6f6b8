"""The validation suite and monitoring thresholds of a view, compiled into its plan entry.

The suite is written out in full (built-in checks generated from the definition, then the declared ones),
so `pitstop plan` shows exactly what the gate will check and a diff shows a changed check. Neither part
changes values: both belong to the metadata fingerprint.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from pitstop.definitions.quality import ALERT_METRICS, DEFAULT_ALERTS, AlertRule, Expectation
from pitstop.jsontypes import JSONObject
from pitstop.plan.model import AlertRule as PlanAlert
from pitstop.plan.model import Check, Feature, JoinKey, Monitoring, SchemaRule, Severity

# (class name, kwargs) -> an error message, or None when Great Expectations accepts them
ExpectationCheck = Callable[[str, JSONObject], str | None]

FEATURE_TS = "feature_timestamp"
EVENT_TS = "event_timestamp"
COUNT_LIKE = ("count", "count_distinct", "approx_count_distinct")
# avg is computed as sum / count in float64: allow this relative slack against min and max
AVG_TOLERANCE = 1e-9
BINS = 10
# drift needs this many non-null values on both sides: PSI over 10 bins of a few dozen values is noise
DRIFT_MIN_ROWS = 100


def _builtin(kind: str, kwargs: JSONObject, feature: str | None, label: str) -> Check:
    return Check(kind, kwargs, feature, label, "error", "builtin")


def builtin_suite(kind: str, join_keys: Sequence[JoinKey], features: Sequence[Feature]) -> list[Check]:
    """The checks every view's snapshot gets: keys and feature timestamp not null, one row per key and ds,
    counts >= 0, avg within [min, max] of the same column and window."""
    keys = [k.name for k in join_keys]
    ts = FEATURE_TS if kind == "aggregate" else EVENT_TS
    suite = [_builtin("ExpectColumnValuesToNotBeNull", {"column": k}, k, f"join key {k} not null") for k in keys]
    suite.append(_builtin("ExpectColumnValuesToNotBeNull", {"column": ts}, ts, f"{ts} not null"))
    if kind != "aggregate":
        return suite  # a latest-value view holds every source row of the day: several per key are normal
    suite.append(_builtin("ExpectCompoundColumnsToBeUnique", {"column_list": [*keys, "ds"]}, None,
                          f"one row per ({', '.join(keys)}, ds)"))
    for f in features:
        if f.function in COUNT_LIKE:
            suite.append(_builtin("ExpectColumnValuesToBeBetween", {"column": f.name, "min_value": 0},
                                  f.name, f"{f.name} >= 0"))
    by_shape = {(f.function, f.column, f.window_days): f.name for f in features}
    for f in features:
        if f.function != "avg":
            continue
        for bound, op in (("min", ">="), ("max", "<=")):
            other = by_shape.get((bound, f.column, f.window_days))
            if other is None:
                continue
            suite.append(_builtin("avg_within_bound", {"avg": f.name, "bound": other, "side": bound,
                                                       "tolerance": AVG_TOLERANCE},
                                  f.name, f"{f.name} {op} {other}"))
    return suite


def _resolve(metric: str, feature: str, rules: tuple[AlertRule, ...]) -> PlanAlert:
    named = [r for r in rules if r.metric == metric and r.features is not None and feature in r.features]
    general = [r for r in rules if r.metric == metric and r.features is None]
    chosen = named or general  # the last declaration wins, as in a dict literal
    rule = chosen[-1] if chosen else None
    threshold = DEFAULT_ALERTS[metric] if rule is None else rule.threshold
    assert threshold is not None  # only the schema alert has none, and it is not resolved here
    if rule is None:
        return PlanAlert(threshold, "warning", "default")
    return PlanAlert(threshold, _severity(rule.severity), "declared")


def _severity(value: str) -> Severity:
    return "error" if value == "error" else "warning"


def declared_checks(what: str, view: str, expectations: tuple[Expectation, ...], alerts: tuple[AlertRule, ...],
                    verdict: Callable[[str], str], columns: list[str], suggestions: list[str],
                    location: str | None,
                    error: Callable[[str, str | None], None],
                    skip: Callable[[str], None]) -> tuple[tuple[Expectation, ...], tuple[AlertRule, ...]]:
    """The declared expectations and alerts whose every named feature is a column of the compiled view.

    ``verdict(name)`` says "ok", "unknown" (a mistake of the check itself: reported at its line, with the
    closest name) or "knock-on" (the feature belongs to a part of the view that failed, e.g. an aggregation
    over a mistyped column: that error is reported at its own line, the check is only noted as skipped).
    ``columns`` are listed in the message, the closest of ``suggestions`` is proposed.
    """
    kept_exps: list[Expectation] = []
    kept_rules: list[AlertRule] = []
    checks: list[tuple[str, tuple[str, ...], str | None, Expectation | AlertRule]] = [
        (f"expectation {e.label or e.expectation_type}", e.columns, e.location, e) for e in expectations]
    checks += [(f"Alert.{r.metric}", r.features or (), r.location, r) for r in alerts]
    for label, named, where, item in checks:
        fine = True
        for name in named:
            judged = verdict(name)
            if judged == "ok":
                continue
            fine = False
            if judged == "unknown":
                close = difflib.get_close_matches(name, suggestions, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                error(f"{what} {label}: unknown feature {name!r}{hint}; the view's columns are: "
                      f"{', '.join(columns)}", where or location)
            else:
                skip(f"{label} at {where or location} (feature {name!r} of view {view!r})")
        if fine:
            if isinstance(item, Expectation):
                kept_exps.append(item)
            else:
                kept_rules.append(item)
    return tuple(kept_exps), tuple(kept_rules)


def monitoring_entry(features: Sequence[Feature], rules: tuple[AlertRule, ...], baseline_days: int,
                     error: Callable[[str, str | None], None] | None = None) -> Monitoring:
    """Per feature, the threshold and severity of each drift/null alert, resolved once here."""
    numeric = {f.name for f in features if f.dtype in ("int64", "float64")}
    for rule in rules:
        if rule.metric in ("psi", "kl") and error is not None:
            for name in [n for n in rule.features or () if n not in numeric]:
                error(f"Alert.{rule.metric} on {name!r}: drift is measured on numeric features only "
                      f"(int64, float64); numeric features: {', '.join(sorted(numeric)) or 'none'}", rule.location)
    alerts = {}
    for f in features:
        metrics = [m for m in ALERT_METRICS if m != "schema" and (m == "null_fraction" or f.name in numeric)]
        alerts[f.name] = {m: _resolve(m, f.name, rules) for m in metrics}
    schema = [r for r in rules if r.metric == "schema"]
    return Monitoring(baseline_days, BINS, DRIFT_MIN_ROWS, alerts,
                      SchemaRule(_severity(schema[-1].severity) if schema else "warning",
                                 "declared" if schema else "default"))


def validation_entry(kind: str, join_keys: Sequence[JoinKey], features: Sequence[Feature],
                     declared: tuple[Expectation, ...], check: ExpectationCheck | None,
                     error: Callable[[str, str | None], None]) -> tuple[Check, ...]:
    """The full suite: built-in checks, then the declared ones (each checked by ``check`` if given)."""
    suite = builtin_suite(kind, join_keys, features)
    dtypes = {k.name: k.dtype for k in join_keys} | {f.name: f.dtype for f in features}
    for exp in declared:
        if exp.expectation_type == "ExpectColumnValuesToBeBetween" and not exp.custom and exp.feature is not None \
                and dtypes.get(exp.feature) not in ("int64", "float64"):
            error(f"expectation {exp.label}: Expect.between needs a numeric feature, but {exp.feature!r} is "
                  f"{dtypes.get(exp.feature)}; use Expect.gx(...) with a check for that type", exp.location)
            continue
        if check is not None and exp.custom:
            problem = check(exp.expectation_type, dict(exp.kwargs))
            if problem is not None:
                error(f"expectation {exp.label or exp.expectation_type}: {problem}", exp.location)
                continue
        suite.append(Check.from_json(exp.to_plan()))
    return tuple(suite)
