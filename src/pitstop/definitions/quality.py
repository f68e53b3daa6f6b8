"""Data-quality declarations on a view: expectations (the validation gate) and monitoring alerts.

Pure, like every definition: ``Expect.*`` and ``Alert.*`` build frozen objects checked eagerly (file:line
in every message). Checks that need the compiled view (does the feature exist, is it numeric) and
``Expect.gx`` class names and arguments (against Great Expectations) run at plan time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pitstop.definitions._validate import caller_location, fail
from pitstop.jsontypes import JSONObject

SEVERITIES = ("error", "warning")
# what Alert metrics measure per feature and ds (see pitstop.compute.stats)
ALERT_METRICS = ("null_fraction", "psi", "kl", "schema")
# alerts every view gets unless it declares its own for the metric (design: warnings by default)
DEFAULT_ALERTS: dict[str, float | None] = {"null_fraction": 0.05, "psi": 0.2, "kl": 0.1, "schema": None}
GX_CLASS_NAME = re.compile(r"^Expect[A-Za-z0-9]+$")


def _severity(what: str, value: object, location: str | None) -> str:
    if value not in SEVERITIES:
        fail(what, f"severity must be one of {', '.join(map(repr, SEVERITIES))}, got {value!r}", location)
    return str(value)


def _number(what: str, name: str, value: object, location: str | None, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        fail(what, f"{name} must be a finite number{' or None' if allow_none else ''}, got {value!r}", location)


def _json_ready(what: str, value: object, location: str | None) -> None:
    """Expectation arguments go into the plan's JSON: plain numbers, strings, booleans, lists and dicts."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            fail(what, f"argument value {value!r} is not a finite number", location)
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                fail(what, f"argument keys must be strings, got {k!r}", location)
            _json_ready(what, v, location)
        return
    if isinstance(value, Sequence):
        for v in value:
            _json_ready(what, v, location)
        return
    fail(what, f"argument value {value!r} ({type(value).__name__}) cannot be stored in the plan; use numbers, "
               f"strings, booleans, lists or dicts (dates as 'YYYY-MM-DD' strings)", location)


@dataclass(frozen=True)
class Expectation:
    """One check of the validation gate, run on each new snapshot partition before publishing.

    ``expectation_type`` is a Great Expectations 1.x class name (``ExpectColumnValuesToBeBetween``) and
    ``kwargs`` its arguments; ``feature`` names the checked column where there is one. Build them with
    ``Expect.between``, ``Expect.max_null_fraction``, ``Expect.row_count`` or ``Expect.gx``."""

    expectation_type: str
    kwargs: Mapping[str, Any]
    feature: str | None = None
    severity: str = "error"
    label: str = ""
    custom: bool = False  # made by Expect.gx: its class name and arguments are checked against GX at plan time
    location: str | None = field(default=None, compare=False, repr=False)

    @property
    def columns(self) -> tuple[str, ...]:
        """The features and keys the check names (``feature``, GX's column_A/B, column_list/set)."""
        named = [self.feature] if self.feature else []
        for key in ("column_A", "column_B"):
            if isinstance(self.kwargs.get(key), str):
                named.append(self.kwargs[key])
        for key in ("column_list", "column_set"):
            value = self.kwargs.get(key)
            if isinstance(value, Sequence) and not isinstance(value, str):
                named += [c for c in value if isinstance(c, str)]
        return tuple(dict.fromkeys(named))

    def to_plan(self) -> JSONObject:
        return {"type": self.expectation_type, "kwargs": dict(sorted(self.kwargs.items())), "feature": self.feature,
                "severity": self.severity, "label": self.label, "origin": "declared"}


class Expect:
    """Factories for the checks a view declares with ``FeatureView(..., expectations=[...])``."""

    @staticmethod
    def between(feature: str, min: float | None = None, max: float | None = None, *, mostly: float = 1.0,
                severity: str = "error") -> Expectation:
        """Every non-null value of ``feature`` lies in [min, max] (either bound may be None); ``mostly``
        allows a fraction of rows outside."""
        loc = caller_location()
        what = f"Expect.between({feature!r})"
        _feature_arg(what, feature, loc)
        _number(what, "min", min, loc)
        _number(what, "max", max, loc)
        if min is None and max is None:
            fail(what, "give min=, max= or both", loc)
        if min is not None and max is not None and min > max:
            fail(what, f"min={min} is greater than max={max}", loc)
        _mostly(what, mostly, loc)
        kwargs: JSONObject = {"column": feature, "min_value": min, "max_value": max}
        if mostly != 1.0:
            kwargs["mostly"] = float(mostly)
        return Expectation("ExpectColumnValuesToBeBetween", kwargs, feature, _severity(what, severity, loc),
                           f"{feature} between {min} and {max}", location=loc)

    @staticmethod
    def max_null_fraction(feature: str, fraction: float, *, severity: str = "error") -> Expectation:
        """At most ``fraction`` (0..1) of a day's rows have a null ``feature``."""
        loc = caller_location()
        what = f"Expect.max_null_fraction({feature!r})"
        _feature_arg(what, feature, loc)
        _number(what, "fraction", fraction, loc, allow_none=False)
        if not 0 <= fraction <= 1:
            fail(what, f"fraction must be between 0 and 1, got {fraction!r}", loc)
        kwargs: JSONObject = {"column": feature}
        if fraction:
            kwargs["mostly"] = round(1.0 - float(fraction), 12)
        return Expectation("ExpectColumnValuesToNotBeNull", kwargs, feature, _severity(what, severity, loc),
                           f"{feature} null fraction <= {fraction}", location=loc)

    @staticmethod
    def row_count(min: int | None = None, max: int | None = None, *, severity: str = "error") -> Expectation:
        """A day's snapshot holds between ``min`` and ``max`` rows (an empty day is otherwise valid)."""
        loc = caller_location()
        what = "Expect.row_count"
        for name, value in (("min", min), ("max", max)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                fail(what, f"{name} must be a whole number >= 0 or None, got {value!r}", loc)
        if min is None and max is None:
            fail(what, "give min=, max= or both", loc)
        if min is not None and max is not None and min > max:
            fail(what, f"min={min} is greater than max={max}", loc)
        return Expectation("ExpectTableRowCountToBeBetween", {"min_value": min, "max_value": max}, None,
                           _severity(what, severity, loc), f"row count between {min} and {max}", location=loc)

    @staticmethod
    def gx(expectation_type: str, *, severity: str = "error", **kwargs: Any) -> Expectation:
        """Any Great Expectations 1.x expectation by class name, with its arguments, e.g.
        ``Expect.gx("ExpectColumnValuesToMatchRegex", column="country", regex="^[A-Z]{2}$")``."""
        loc = caller_location()
        what = f"Expect.gx({expectation_type!r})"
        if not isinstance(expectation_type, str) or not GX_CLASS_NAME.match(expectation_type):
            fail(what, "give a Great Expectations class name such as 'ExpectColumnValuesToMatchRegex' (the "
                       "classes in great_expectations.expectations)", loc)
        for name, value in kwargs.items():
            _json_ready(f"{what} argument {name}", value, loc)
        column = kwargs.get("column")
        return Expectation(expectation_type, dict(kwargs), column if isinstance(column, str) else None,
                           _severity(what, severity, loc), expectation_type, True, location=loc)


def _feature_arg(what: str, feature: object, location: str | None) -> None:
    if not isinstance(feature, str) or not feature:
        fail(what, f"the first argument must be a feature name, got {feature!r}", location)


def _mostly(what: str, mostly: object, location: str | None) -> None:
    if isinstance(mostly, bool) or not isinstance(mostly, (int, float)) or not 0 < mostly <= 1:
        fail(what, f"mostly must be a fraction in (0, 1], got {mostly!r}", location)


@dataclass(frozen=True)
class AlertRule:
    """A monitoring threshold: ``metric`` above ``threshold`` on a day raises an alert (a warning by
    default; ``severity="error"`` makes it fail the gate). ``features`` None means every feature."""

    metric: str
    threshold: float | None
    features: tuple[str, ...] | None = None
    severity: str = "warning"
    location: str | None = field(default=None, compare=False, repr=False)

    def to_plan(self) -> JSONObject:
        return {"metric": self.metric, "max": self.threshold,
                "features": None if self.features is None else list(self.features), "severity": self.severity}


def _alert(metric: str, threshold: float | None, features: Sequence[str] | str | None, severity: str,
           location: str | None) -> AlertRule:
    what = f"Alert.{metric}"
    if metric != "schema":
        _number(what, "max", threshold, location, allow_none=False)
        assert threshold is not None
        if threshold < 0:
            fail(what, f"max must be >= 0, got {threshold!r}", location)
    names: tuple[str, ...] | None = None
    if features is not None:
        if isinstance(features, str):
            features = [features]
        if not isinstance(features, Sequence) or not features or not all(isinstance(f, str) for f in features):
            fail(what, f"features must be a feature name or a non-empty list of names, got {features!r}", location)
        names = tuple(features)
    return AlertRule(metric, None if threshold is None else float(threshold), names,
                     _severity(what, severity, location), location)


class Alert:
    """Monitoring thresholds for ``FeatureView(..., alerts=[...])``. Every view gets null_fraction > 0.05,
    psi > 0.2, kl > 0.1 and any schema violation as warnings; a declared alert replaces the default for
    the features it names (all features when ``features`` is omitted)."""

    @staticmethod
    def null_fraction(max: float, features: Sequence[str] | str | None = None, *,
                      severity: str = "warning") -> AlertRule:
        loc = caller_location()
        rule = _alert("null_fraction", max, features, severity, loc)
        if max > 1:
            fail("Alert.null_fraction", f"max is a fraction between 0 and 1, got {max!r}", loc)
        return rule

    @staticmethod
    def psi(max: float, features: Sequence[str] | str | None = None, *, severity: str = "warning") -> AlertRule:
        """Population stability index against the previous ds and the baseline window."""
        return _alert("psi", max, features, severity, caller_location())

    @staticmethod
    def kl(max: float, features: Sequence[str] | str | None = None, *, severity: str = "warning") -> AlertRule:
        """Kullback-Leibler divergence (current || reference) against the previous ds and the baseline."""
        return _alert("kl", max, features, severity, caller_location())

    @staticmethod
    def schema(*, severity: str = "warning") -> AlertRule:
        """The snapshot's columns or types differ from the plan."""
        return _alert("schema", None, None, severity, caller_location())


def check_quality(what: str, expectations: object, alerts: object, baseline_days: object,
                  location: str | None) -> tuple[tuple[Expectation, ...], tuple[AlertRule, ...]]:
    """Check the shape of a view's declarations. Whether the features they name exist is checked at plan
    time (pitstop.plan.quality), against the features that compile: a feature named after a mistyped
    column is then reported once, at the column, not again at every check that names it."""
    out: list[tuple[Any, ...]] = []
    for fieldname, value, kind in (("expectations", expectations, Expectation), ("alerts", alerts, AlertRule)):
        if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
            fail(what, f"{fieldname} must be a list, got {value!r}", location)
        for item in value:
            if not isinstance(item, kind):
                maker = "Expect.between(...), Expect.gx(...)" if kind is Expectation else "Alert.psi(...)"
                fail(what, f"{fieldname} must hold objects made by {maker}, got {item!r}", location)
        out.append(tuple(value))
    exps: tuple[Expectation, ...] = out[0]
    rules: tuple[AlertRule, ...] = out[1]
    if isinstance(baseline_days, bool) or not isinstance(baseline_days, int) or not 1 <= baseline_days <= 365:
        fail(what, f"baseline_days must be a whole number of days between 1 and 365, got {baseline_days!r} "
                   f"(drift is measured against the materialized days in the window before each ds)", location)
    return exps, rules
