"""The data-quality report of one view (`pitstop report VIEW --out report.html`). PURE: no Spark, no I/O.

:func:`render_report` turns the view's plan entry, its statistics rows (the stats table: one row per ds and
feature, see :mod:`pitstop.compute.stats`) and its validation attempts (the quality table) into ONE
self-contained HTML page: inline CSS, inline SVG charts, no script and no external resource, so the file
can be mailed, archived or opened offline. The page holds

- a header: view, version, kind, owner, description, when it was generated, the ds range covered;
- the validation timeline: every attempt, newest first, with its badge, counts and summary text;
- per feature (``<section class="feature" data-feature="NAME">``): for numeric features the distribution
  over time (p05-p95 and p25-p75 bands, median and mean), the latest day's histogram against its baseline
  and the drift (PSI and KL vs the previous day and vs the baseline, with the alert thresholds); for every
  feature the null fraction with its threshold; the latest day's statistics and alerts.

Every plotted point is an SVG element that carries its numbers (``data-ds``, ``data-series`` and
``data-value``, the repr of the float; histogram bars ``data-bin``, ``data-series`` and ``data-value``, the
proportion), so tests and scripts read the page back exactly. Days without statistics break the lines
(they are gaps, not interpolated); NaN and infinite values are not plotted.

This module computes what the page shows (the numbers, their texts and the charts' SVG geometry); the
template report.html.j2 writes the markup, escaping every value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pitstop.jsontypes import Record
from pitstop.plan.model import Feature, View
from pitstop.runtime.pages import render
from pitstop.values import finite as _finite

NUMERIC_DTYPES = ("int64", "float64")
QUANTILE_INDEX = {"p01": 0, "p05": 1, "p25": 2, "p50": 3, "p75": 4, "p95": 5, "p99": 6}
DRIFT_SERIES = ("psi_previous", "psi_baseline", "kl_previous", "kl_baseline")
MAX_MISSING_LISTED = 10

# the SVG canvas (viewBox units; the page scales it to its width) and the plot area's margins
WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 60, 14, 16, 30
INNER = 8  # keeps the first and last points off the plot's border

COLORS = {
    "p50": "#0b63c5", "mean": "#d9822b", "band": "#0b63c5",
    "psi_previous": "#0b63c5", "psi_baseline": "#62a8e5", "kl_previous": "#c65d00", "kl_baseline": "#f0a75a",
    "null_fraction": "#0f8a7e", "current": "#0b63c5", "baseline": "#9aa5b1",
}
THRESHOLD_COLORS = {"null_fraction": "#a61b1b", "psi": "#0b4f8a", "kl": "#8d2b0b"}
LABELS = {
    "p50": "median (p50)", "mean": "mean", "p05_p95": "p05–p95", "p25_p75": "p25–p75",
    "psi_previous": "PSI vs previous", "psi_baseline": "PSI vs baseline", "kl_previous": "KL vs previous",
    "kl_baseline": "KL vs baseline", "null_fraction": "null fraction", "current": "latest day",
    "baseline": "baseline window",
}


# ---------------------------------------------------------------------------------------------------------
# values


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _utc(value: Any) -> datetime:
    """A timestamp in UTC (the quality table stores naive UTC timestamps); missing ones sort first."""
    if not isinstance(value, datetime):
        return datetime.min.replace(tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _num(value: Any, digits: int = 4) -> str:
    number = _finite(value)
    return "—" if number is None else f"{number:.{digits}g}"


def _int(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "—" if value is None else str(value)


def _pct(value: Any) -> str:
    number = _finite(value)
    return "—" if number is None else f"{number:.4g} ({number * 100:.2f}%)"


def _ds(value: date) -> str:
    return value.isoformat()


def _quantile(row: Mapping[str, Any], name: str) -> Any:
    values = row.get("quantiles")
    if isinstance(values, Sequence) and not isinstance(values, str) and len(values) == len(QUANTILE_INDEX):
        return values[QUANTILE_INDEX[name]]
    return None


def _threshold(entry: View, feature: str, metric: str) -> tuple[float, str] | None:
    """The alert threshold (max) and severity of a feature's metric from the plan entry, if any."""
    rule = entry.monitoring.alerts.get(feature, {}).get(metric)
    value = None if rule is None else _finite(rule.max)
    return None if value is None or rule is None else (value, rule.severity)


def _by_feature(stats: Iterable[Mapping[str, Any]]) -> dict[str, dict[date, Mapping[str, Any]]]:
    """{feature: {ds: row}}; a (ds, feature) given twice keeps the row of the newer snapshot version."""
    out: dict[str, dict[date, Mapping[str, Any]]] = {}
    for row in stats:
        ds, feature = _as_date(row.get("ds")), row.get("feature")
        if ds is None or feature is None:
            continue
        days = out.setdefault(str(feature), {})
        old = days.get(ds)
        if old is None or (_finite(row.get("snapshot_version")) or 0) >= (_finite(old.get("snapshot_version")) or 0):
            days[ds] = row
    return out


def _series(days: Mapping[date, Mapping[str, Any]],
            pick: Callable[[Mapping[str, Any]], Any]) -> list[tuple[date, float]]:
    out = []
    for ds in sorted(days):
        value = _finite(pick(days[ds]))
        if value is not None:
            out.append((ds, value))
    return out


def _field(name: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda row: row.get(name)


def _segments(points: Sequence[tuple[date, Any]]) -> list[list[tuple[date, Any]]]:
    """Runs of consecutive days: a day without a value ends a line."""
    runs: list[list[tuple[date, Any]]] = []
    for point in points:
        if runs and (point[0] - runs[-1][-1][0]).days == 1:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def _domain(values: Iterable[float], *, with_zero: bool = False) -> tuple[float, float]:
    """The y range of a chart: the values' min and max (and 0), widened when they are all equal."""
    values = list(values)
    if with_zero:
        values.append(0.0)
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    if hi == lo:
        if lo == 0:
            return (0.0, 1.0) if with_zero else (-1.0, 1.0)
        pad = abs(lo) * 0.1
        lo, hi = lo - pad, hi + pad
    return lo, hi


def _newest_attempts(attempts: Iterable[Mapping[str, Any]]) -> dict[date, Mapping[str, Any]]:
    """The newest attempt (by validated_at; the later one on a tie) of each ds."""
    out: dict[date, Mapping[str, Any]] = {}
    for attempt in attempts:
        ds = _as_date(attempt.get("ds"))
        if ds is None:
            continue
        old = out.get(ds)
        if old is None or _utc(attempt.get("validated_at")) >= _utc(old.get("validated_at")):
            out[ds] = attempt
    return out


def summarize_alerts(attempts: Iterable[Mapping[str, Any]]) -> dict[date, list[Record]]:
    """Per ds (ascending), the alerts of its newest attempt (the ones that describe the data as it stands)."""
    newest = _newest_attempts(attempts)
    return {ds: [dict(a) for a in (newest[ds].get("alerts") or [])] for ds in sorted(newest)}


# ---------------------------------------------------------------------------------------------------------
# SVG geometry: what the template draws, every coordinate already a string


@dataclass(frozen=True)
class _Frame:
    """Maps (ds, value) to SVG coordinates: x over the report's ds range, y over [lo, hi]."""

    first: date
    last: date
    lo: float
    hi: float

    def x(self, ds: date) -> float:
        span = (self.last - self.first).days
        width = WIDTH - LEFT - RIGHT - 2 * INNER
        if span <= 0:
            return LEFT + INNER + width / 2
        return LEFT + INNER + width * (ds - self.first).days / span

    def y(self, value: float) -> float:
        return _y(self.lo, self.hi, value)


def _y(lo: float, hi: float, value: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (hi - value) / (hi - lo)


def _c(value: float) -> str:
    return f"{value:.1f}"


@dataclass(frozen=True)
class Point:
    ds: str
    series: str
    value: str  # the repr of the float
    cx: str
    cy: str
    color: str
    title: str


@dataclass(frozen=True)
class Polyline:
    series: str
    points: str
    color: str


@dataclass(frozen=True)
class Series:
    """A series: a polyline per run of consecutive days and a point (with its numbers) per day."""

    lines: list[Polyline]
    points: list[Point]


@dataclass(frozen=True)
class Band:
    """A band between two quantiles over a run of consecutive days (a sliver on a lone day)."""

    series: str
    first_ds: str
    last_ds: str
    points: str
    color: str
    opacity: float
    title: str


@dataclass(frozen=True)
class Threshold:
    """An alert threshold: a dashed line with its label."""

    metric: str
    value: str
    severity: str
    y: str
    color: str
    text: str
    label_x: int
    label_y: str
    anchor: str


@dataclass(frozen=True)
class Bar:
    bin: int
    series: str
    value: str  # the proportion's repr
    count: int
    x: str
    y: str
    width: str
    height: str
    color: str
    title: str


@dataclass(frozen=True)
class AxisLabel:
    """A text under the plot: a day (``data-ds``) or a histogram edge (``data-value``)."""

    classes: str
    data: str  # the data attribute's name
    value: str
    x: str
    y: int
    anchor: str
    text: str


@dataclass
class Chart:
    """One inline SVG chart: its frame (plot area, y range labels, a zero line when 0 is inside) and body."""

    kind: str
    label: str
    lo: float
    hi: float
    data: dict[str, str]  # more data-* attributes of the <svg>
    x_labels: list[AxisLabel]
    y_format: Callable[[float], str] = field(default=_num)
    thresholds: list[Threshold] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    empty: str | None = None

    # the frame's fixed geometry, for the template
    width, height, left, right, top, bottom = WIDTH, HEIGHT, LEFT, RIGHT, TOP, HEIGHT - BOTTOM
    mid_x, mid_y = _c((LEFT + WIDTH - RIGHT) / 2), _c((TOP + HEIGHT - BOTTOM) / 2)
    empty_y = _c((TOP + HEIGHT - BOTTOM) / 2 + 4)

    @property
    def y_min(self) -> str:
        return repr(self.lo)

    @property
    def y_max(self) -> str:
        return repr(self.hi)

    @property
    def zero_y(self) -> str | None:
        return _c(_y(self.lo, self.hi, 0.0)) if self.lo < 0 < self.hi else None

    @property
    def y_max_text(self) -> str:
        return self.y_format(self.hi)

    @property
    def y_min_text(self) -> str:
        return self.y_format(self.lo)


@dataclass(frozen=True)
class LegendKey:
    label: str
    color: str
    style: str = ""  # more CSS of the key's swatch
    dashed: bool = False


@dataclass(frozen=True)
class Figure:
    title: str
    legend: list[LegendKey] = field(default_factory=list)
    chart: Chart | None = None
    note: str = ""
    no_histogram: bool = False  # says why there is no histogram instead of a chart


def _time_labels(frame: _Frame) -> list[AxisLabel]:
    y = HEIGHT - BOTTOM + 16
    if frame.first == frame.last:
        return [AxisLabel("x-label x-first x-last", "data-ds", _ds(frame.first), _c(frame.x(frame.first)), y,
                          "middle", _ds(frame.first))]
    return [AxisLabel("x-label x-first", "data-ds", _ds(frame.first), str(LEFT), y, "start", _ds(frame.first)),
            AxisLabel("x-label x-last", "data-ds", _ds(frame.last), str(WIDTH - RIGHT), y, "end", _ds(frame.last))]


def _line(frame: _Frame, name: str, points: Sequence[tuple[date, float]],
          tip: Callable[[date, float], str] | None = None) -> Series:
    color = COLORS[name]
    lines = [Polyline(name, " ".join(f"{_c(frame.x(ds))},{_c(frame.y(v))}" for ds, v in run), color)
             for run in _segments(points) if len(run) > 1]
    dots = [Point(_ds(ds), name, repr(value), _c(frame.x(ds)), _c(frame.y(value)), color,
                  tip(ds, value) if tip else f"{_ds(ds)} · {LABELS[name]} {_num(value, 6)}") for ds, value in points]
    return Series(lines, dots)


def _band(frame: _Frame, name: str, points: Sequence[tuple[date, tuple[float, float]]], opacity: float) -> list[Band]:
    out = []
    for run in _segments(points):
        if len(run) == 1:
            ds, (low, high) = run[0]
            x = frame.x(ds)
            upper = [(x - 3, high), (x + 3, high)]
            lower = [(x + 3, low), (x - 3, low)]
        else:
            upper = [(frame.x(ds), high) for ds, (_, high) in run]
            lower = [(frame.x(ds), low) for ds, (low, _) in reversed(run)]
        coords = " ".join(f"{_c(x)},{_c(frame.y(v))}" for x, v in upper + lower)
        out.append(Band(name, _ds(run[0][0]), _ds(run[-1][0]), coords, COLORS["band"], opacity, LABELS[name]))
    return out


def _threshold_line(lo: float, hi: float, metric: str, value: float, severity: str, *,
                    left: bool = False) -> Threshold:
    y = _y(lo, hi, value)
    x, anchor = (LEFT + 4, "start") if left else (WIDTH - RIGHT - 4, "end")
    return Threshold(metric, repr(value), severity, _c(y), THRESHOLD_COLORS[metric],
                     f"{metric} max {value:g} ({severity})", x, _c(float(_c(y)) - 4), anchor)


def _legend(names: Sequence[str], thresholds: Sequence[str] = ()) -> list[LegendKey]:
    keys = [LegendKey(LABELS[name], COLORS["band"] if name in ("p05_p95", "p25_p75") else COLORS[name],
                      {"p05_p95": " opacity:.25;", "p25_p75": " opacity:.5;"}.get(name, "")) for name in names]
    return keys + [LegendKey(f"{metric} threshold", THRESHOLD_COLORS[metric], dashed=True) for metric in thresholds]


# ---------------------------------------------------------------------------------------------------------
# charts


def _distribution_chart(first: date, last: date, days: Mapping[date, Mapping[str, Any]]) -> Figure:
    p50 = _series(days, lambda r: _quantile(r, "p50"))
    mean = _series(days, _field("mean"))
    bands: dict[str, list[tuple[date, tuple[float, float]]]] = {"p05_p95": [], "p25_p75": []}
    for ds in sorted(days):
        for name in bands:
            low_name, high_name = name.split("_")
            low, high = _finite(_quantile(days[ds], low_name)), _finite(_quantile(days[ds], high_name))
            if low is not None and high is not None:
                bands[name].append((ds, (low, high)))
    values = [v for _, v in p50 + mean] + [v for band in bands.values() for _, pair in band for v in pair]
    lo, hi = _domain(values)
    frame = _Frame(first, last, lo, hi)

    def tip(ds: date, value: float) -> str:
        row = days[ds]
        return (f"{_ds(ds)} · median {_num(value, 6)} · p25–p75 {_num(_quantile(row, 'p25'))} – "
                f"{_num(_quantile(row, 'p75'))} · p05–p95 {_num(_quantile(row, 'p05'))} – "
                f"{_num(_quantile(row, 'p95'))} · mean {_num(row.get('mean'))}")

    chart = Chart("distribution", "distribution over time", lo, hi,
                  {"data-x-first": _ds(first), "data-x-last": _ds(last)}, _time_labels(frame),
                  bands=_band(frame, "p05_p95", bands["p05_p95"], 0.14)
                  + _band(frame, "p25_p75", bands["p25_p75"], 0.28),
                  series=[_line(frame, "mean", mean), _line(frame, "p50", p50, tip)],
                  empty=None if values else "no values to plot: every value is null")
    return Figure("distribution over time", _legend(["p05_p95", "p25_p75", "p50", "mean"]), chart)


def _histogram_day(days: Mapping[date, Mapping[str, Any]]) -> date | None:
    """The newest day with a usable histogram against its baseline."""
    for ds in sorted(days, reverse=True):
        row = days[ds]
        edges, current, baseline = row.get("edges"), row.get("histogram"), row.get("baseline_histogram")
        if (isinstance(edges, Sequence) and isinstance(current, Sequence) and isinstance(baseline, Sequence)
                and len(current) == len(baseline) == len(edges) + 1
                and all(_finite(e) is not None for e in edges)):
            return ds
    return None


def _bin_text(edges: Sequence[float], i: int) -> str:
    low = "-∞" if i == 0 else f"{edges[i - 1]:.4g}"
    return f"({low}, +∞)" if i == len(edges) else f"({low}, {edges[i]:.4g}]"


def _share_text(value: float) -> str:
    return f"{value:.0%}" if value in (0.0, 1.0) else f"{value:.1%}"


def _histogram_chart(days: Mapping[date, Mapping[str, Any]]) -> Figure:
    latest = max(days)
    ds = _histogram_day(days)
    if ds is None:
        return Figure("histogram vs baseline", no_histogram=True)
    row = days[ds]
    edges = [float(e) for e in row["edges"]]
    counts = {"current": [int(c or 0) for c in row["histogram"]],
              "baseline": [int(c or 0) for c in row["baseline_histogram"]]}
    shares = {name: [c / sum(values) for c in values] if sum(values) else None for name, values in counts.items()}
    hi = max([p for values in shares.values() if values for p in values], default=0.0) or 1.0
    bins = len(edges) + 1
    width = (WIDTH - LEFT - RIGHT) / bins
    bars = []
    for offset, name in ((0.12, "current"), (0.52, "baseline")):
        values = shares[name]
        if values is None:
            continue
        total = sum(counts[name])
        for i, share in enumerate(values):
            top = _y(0.0, hi, share)
            bars.append(Bar(i, name, repr(share), counts[name][i], _c(LEFT + i * width + offset * width), _c(top),
                            _c(width * 0.36), _c(HEIGHT - BOTTOM - top), COLORS[name],
                            f"bin {i} {_bin_text(edges, i)} · {LABELS[name]} {share:.2%} ({counts[name][i]:,} of "
                            f"{total:,})"))
    x_labels = [AxisLabel("edge", "data-value", repr(edge), _c(LEFT + (k + 1) * width), HEIGHT - BOTTOM + 14, "middle",
                          f"{edge:.3g}") for k, edge in enumerate(edges)]
    baseline = ""
    if row.get("baseline_first") is not None:
        baseline = (f" (baseline {_as_date(row['baseline_first'])} … {_as_date(row['baseline_last'])}, "
                    f"{row.get('baseline_days')} day(s))")
    note = f"ds {_ds(ds)} vs its baseline window{baseline}; bins split at the baseline's deciles"
    if ds != latest:
        note += f"; the latest day {_ds(latest)} has no histogram (too few values or no baseline)"
    chart = Chart("histogram", f"histogram of {_ds(ds)} vs baseline", 0.0, hi, {"data-ds": _ds(ds)}, x_labels,
                  y_format=_share_text, bars=bars, empty=None if any(shares.values()) else "both histograms are empty")
    return Figure("histogram vs baseline (proportions)", _legend(["current", "baseline"]), chart, note)


def _drift_chart(first: date, last: date, days: Mapping[date, Mapping[str, Any]], entry: View,
                 feature: str) -> Figure:
    series = {name: _series(days, _field(name)) for name in DRIFT_SERIES}
    thresholds = {m: t for m in ("psi", "kl") if (t := _threshold(entry, feature, m)) is not None}
    lo, hi = _domain([v for points in series.values() for _, v in points] + [t[0] for t in thresholds.values()],
                     with_zero=True)
    frame = _Frame(first, last, lo, hi)
    chart = Chart("drift", "drift (PSI, KL)", lo, hi, {"data-x-first": _ds(first), "data-x-last": _ds(last)},
                  _time_labels(frame),
                  thresholds=[_threshold_line(lo, hi, m, value, severity, left=m == "kl")
                              for m, (value, severity) in thresholds.items()],
                  series=[_line(frame, name, series[name]) for name in DRIFT_SERIES],
                  empty=None if any(series.values()) else "no drift yet: needs a previous day or a baseline with "
                                                          "enough values")
    return Figure("drift: PSI and KL", _legend(list(DRIFT_SERIES), list(thresholds)), chart)


def _null_chart(first: date, last: date, days: Mapping[date, Mapping[str, Any]], entry: View,
                feature: str) -> Figure:
    points = _series(days, _field("null_fraction"))
    threshold = _threshold(entry, feature, "null_fraction")
    lo, hi = _domain([v for _, v in points] + ([threshold[0]] if threshold else []), with_zero=True)
    frame = _Frame(first, last, lo, hi)
    chart = Chart("null_fraction", "null fraction", lo, hi, {"data-x-first": _ds(first), "data-x-last": _ds(last)},
                  _time_labels(frame),
                  thresholds=[_threshold_line(lo, hi, "null_fraction", *threshold)] if threshold else [],
                  series=[_line(frame, "null_fraction", points)],
                  empty=None if points else "no null fraction recorded")
    return Figure("null fraction", _legend(["null_fraction"], ["null_fraction"] if threshold else []), chart)


# ---------------------------------------------------------------------------------------------------------
# tables and sections


@dataclass(frozen=True)
class StatRow:
    key: str
    label: str
    value: str  # the number's repr, "" when there is none
    text: str
    note: str = ""


def _stat_row(key: str, label: str, value: Any, text: str, note: str = "") -> StatRow:
    number = _finite(value)
    return StatRow(key, label, "" if number is None else repr(value if isinstance(value, int) else number), text, note)


def _stats_rows(row: Mapping[str, Any], numeric: bool) -> list[StatRow]:
    rows = [_stat_row("rows", "rows", row.get("rows"), _int(row.get("rows"))),
            _stat_row("nulls", "nulls", row.get("nulls"), _int(row.get("nulls"))),
            _stat_row("null_fraction", "null fraction", row.get("null_fraction"), _pct(row.get("null_fraction")))]
    if numeric:
        for key in ("min", "max", "mean", "stddev"):
            rows.append(_stat_row(key, key, row.get(key), _num(row.get(key), 6)))
        rows.append(_stat_row("p50", "median (p50)", _quantile(row, "p50"), _num(_quantile(row, "p50"), 6)))
        previous = _as_date(row.get("previous_ds"))
        first, last = _as_date(row.get("baseline_first")), _as_date(row.get("baseline_last"))
        against = {"previous": f"vs {previous}" if previous else "no previous day",
                   "baseline": f"vs {first} … {last} ({row.get('baseline_days')} day(s))" if first else "no baseline"}
        for name in DRIFT_SERIES:
            kind = name.split("_")[1]
            rows.append(_stat_row(name, LABELS[name], row.get(name), _num(row.get(name), 4), against[kind]))
    return rows


def _alert_row(alert: Mapping[str, Any]) -> dict[str, object]:
    value = _finite(alert.get("value"))
    return {"metric": alert.get("metric"), "against": alert.get("against"),
            "severity": str(alert.get("severity") or ""), "value": "" if value is None else repr(value),
            "value_text": _num(value, 4), "threshold_text": _num(alert.get("threshold"), 4)}


def _feature_meta(entry: View, feature: Feature) -> str:
    parts = [feature.dtype]
    if entry.kind == "aggregate" and feature.function:
        column = f"({feature.column})" if feature.column else ""
        parts.append(f"{feature.function}{column} over {feature.window or 'lifetime'}")
    elif entry.kind == "latest":
        parts.append("latest value")
    return " · ".join(parts)


def _feature_section(entry: View, feature: Feature, days: Mapping[date, Mapping[str, Any]],
                     first: date, last: date, newest: Mapping[date, Mapping[str, Any]]) -> dict[str, object]:
    name = feature.name
    numeric = feature.dtype in NUMERIC_DTYPES
    section: dict[str, object] = {"name": name, "dtype": feature.dtype, "meta": _feature_meta(entry, feature),
                               "badge": None, "days": bool(days)}
    if not days:
        return section
    latest = max(days)
    attempt = newest.get(latest)
    alerts = [a for a in ((attempt or {}).get("alerts") or []) if a.get("feature") == name]
    if alerts:
        worst = "bad" if any(a.get("severity") == "error" for a in alerts) else "warn"
        section["badge"] = (f"{len(alerts)} alert{'s' * (len(alerts) != 1)} on {_ds(latest)}", worst)
    elif attempt is not None:
        section["badge"] = ("no alert", "ok")
    figures = []
    if numeric:
        figures += [_distribution_chart(first, last, days), _histogram_chart(days),
                    _drift_chart(first, last, days, entry, name)]
    figures.append(_null_chart(first, last, days, entry, name))
    section.update(figures=figures, latest=_ds(latest), stats=_stats_rows(days[latest], numeric),
                   attempt=None if attempt is None else {"run_id": attempt.get("run_id"),
                                                         "validated_at": _iso(attempt.get("validated_at"))},
                   alerts=[_alert_row(a) for a in alerts])
    return section


def _iso(value: Any) -> str:
    return _utc(value).isoformat(timespec="seconds") if isinstance(value, datetime) else "—"


def _timeline_row(attempt: Mapping[str, Any]) -> dict[str, object]:
    ds = _as_date(attempt.get("ds"))
    summary = str(attempt.get("summary") or "")
    return {"ds": _ds(ds) if ds else "", "run_id": attempt.get("run_id"), "success": bool(attempt.get("success")),
            "validated_at": _iso(attempt.get("validated_at")), "snapshot_version": attempt.get("snapshot_version"),
            "by_hand": bool(attempt.get("by_hand")), "checks": attempt.get("checks"), "failed": attempt.get("failed"),
            "errors": attempt.get("errors") or 0, "warnings": attempt.get("warnings") or 0, "summary": summary,
            "first_line": summary.splitlines()[0] if summary else "no summary",
            "result_file": str(attempt["result_path"]).rsplit("/", 1)[-1] if attempt.get("result_path") else ""}


def _view_alerts(entry: View, attempt: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The latest day's alerts that belong to no feature (the schema check)."""
    names = set(entry.feature_names)
    return [a for a in ((attempt or {}).get("alerts") or []) if a.get("feature") not in names]


def render_report(view: str, entry: View, stats: Sequence[Mapping[str, Any]],
                  attempts: Sequence[Mapping[str, Any]], *, generated_at: datetime) -> str:
    """The data-quality report of ``view`` as one self-contained HTML page (see the module's doc)."""
    by_feature = _by_feature(stats)
    features = list(entry.features)
    known = set(entry.feature_names)
    all_days = sorted({ds for name, days in by_feature.items() if name in known for ds in days})
    newest = _newest_attempts(attempts)
    page: dict[str, object] = {"view": view, "version": entry.version, "kind": entry.kind,
                            "owner": entry.owner or "—", "description": entry.description or "",
                            "generated": generated_at.isoformat(timespec="seconds"), "days": len(all_days),
                            "first": "", "last": "", "toc": [], "latest_attempt": None}
    if all_days:
        first, last = all_days[0], all_days[-1]
        missing = [d for d in (date.fromordinal(o) for o in range(first.toordinal(), last.toordinal() + 1))
                   if d not in set(all_days)]
        page.update(first=_ds(first), last=_ds(last), span=(last - first).days + 1, missing=len(missing),
                    missing_listed=", ".join(_ds(d) for d in missing[:MAX_MISSING_LISTED]),
                    missing_more=max(0, len(missing) - MAX_MISSING_LISTED),
                    view_alerts=[{k: a.get(k) for k in ("metric", "severity", "feature")}
                                 for a in _view_alerts(entry, newest.get(last))],
                    sections=[_feature_section(entry, f, by_feature.get(f.name, {}), first, last, newest)
                              for f in features])
        toc = []
        for f in features:
            name = f.name
            days = by_feature.get(name, {})
            alerts = (newest.get(max(days)) or {}).get("alerts") or [] if days else []
            toc.append((name, len([a for a in alerts if a.get("feature") == name])))
        page["toc"] = toc
    if attempts:
        top = max(attempts, key=lambda a: (_utc(a.get("validated_at")), _as_date(a.get("ds")) or date.min))
        ds = _as_date(top.get("ds"))
        page["latest_attempt"] = {"success": bool(top.get("success")), "ds": _ds(ds) if ds else "—"}
    ordered = sorted(attempts, key=lambda a: (_utc(a.get("validated_at")), _as_date(a.get("ds")) or date.min),
                     reverse=True)
    page["timeline"] = [_timeline_row(a) for a in ordered]
    page["passed"] = sum(1 for a in ordered if a.get("success"))
    return render("report.html.j2", **page)
