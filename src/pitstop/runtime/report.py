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
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

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


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _finite(value: Any) -> float | None:
    """The value as a float, or None when it is missing, not a number, NaN or infinite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


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


def _threshold(entry: Mapping[str, Any], feature: str, metric: str) -> tuple[float, str] | None:
    """The alert threshold (max) and severity of a feature's metric from the plan entry, if any."""
    rules = ((entry.get("monitoring") or {}).get("alerts") or {}).get(feature) or {}
    rule = rules.get(metric) or {}
    value = _finite(rule.get("max"))
    return None if value is None else (value, str(rule.get("severity") or "warning"))


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


def summarize_alerts(attempts: Iterable[Mapping[str, Any]]) -> dict[date, list[dict[str, Any]]]:
    """Per ds (ascending), the alerts of its newest attempt (the ones that describe the data as it stands)."""
    newest = _newest_attempts(attempts)
    return {ds: [dict(a) for a in (newest[ds].get("alerts") or [])] for ds in sorted(newest)}


# ---------------------------------------------------------------------------------------------------------
# SVG


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


def _svg(kind: str, lo: float, hi: float, body: Sequence[str], x_labels: Sequence[str], *, label: str,
         empty: str | None = None, attrs: str = "", y_format: Callable[[float], str] = _num) -> str:
    """The frame of a chart (plot area, y range labels, a zero line when 0 is inside) around ``body``."""
    bottom = HEIGHT - BOTTOM
    parts = [f'<svg class="chart" data-chart="{kind}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{_e(label)}" data-y-min="{lo!r}" data-y-max="{hi!r}"{attrs}>',
             f"<title>{_e(label)}</title>",
             f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{bottom - TOP}" '
             'fill="#fbfcfd" stroke="#e4e7eb"/>',
             f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_c((TOP + bottom) / 2)}" '
             f'y2="{_c((TOP + bottom) / 2)}" stroke="#eef0f3"/>']
    if lo < 0 < hi:
        parts.append(f'<line class="zero" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_c(_y(lo, hi, 0.0))}" '
                     f'y2="{_c(_y(lo, hi, 0.0))}" stroke="#9aa5b1" stroke-width="1"/>')
    parts.append(f'<text class="y-label y-max" data-value="{hi!r}" x="{LEFT - 6}" y="{TOP + 4}" '
                 f'text-anchor="end">{_e(y_format(hi))}</text>')
    parts.append(f'<text class="y-label y-min" data-value="{lo!r}" x="{LEFT - 6}" y="{bottom}" '
                 f'text-anchor="end">{_e(y_format(lo))}</text>')
    parts += x_labels
    parts += body
    if empty:
        parts.append(f'<text class="empty" x="{_c((LEFT + WIDTH - RIGHT) / 2)}" y="{_c((TOP + bottom) / 2 + 4)}" '
                     f'text-anchor="middle">{_e(empty)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _time_labels(frame: _Frame) -> list[str]:
    y = HEIGHT - BOTTOM + 16
    if frame.first == frame.last:
        return [f'<text class="x-label x-first x-last" data-ds="{_ds(frame.first)}" x="{_c(frame.x(frame.first))}" '
                f'y="{y}" text-anchor="middle">{_ds(frame.first)}</text>']
    return [f'<text class="x-label x-first" data-ds="{_ds(frame.first)}" x="{LEFT}" y="{y}" '
            f'text-anchor="start">{_ds(frame.first)}</text>',
            f'<text class="x-label x-last" data-ds="{_ds(frame.last)}" x="{WIDTH - RIGHT}" y="{y}" '
            f'text-anchor="end">{_ds(frame.last)}</text>']


def _line(frame: _Frame, name: str, points: Sequence[tuple[date, float]],
          tip: Callable[[date, float], str] | None = None) -> list[str]:
    """A series: a polyline per run of consecutive days and a point (with its numbers) per day."""
    color = COLORS[name]
    out = []
    for run in _segments(points):
        if len(run) > 1:
            coords = " ".join(f"{_c(frame.x(ds))},{_c(frame.y(v))}" for ds, v in run)
            out.append(f'<polyline class="line" data-series="{name}" points="{coords}" fill="none" '
                       f'stroke="{color}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>')
    for ds, value in points:
        text = tip(ds, value) if tip else f"{_ds(ds)} · {LABELS[name]} {_num(value, 6)}"
        out.append(f'<circle class="point" data-ds="{_ds(ds)}" data-series="{name}" data-value="{value!r}" '
                   f'cx="{_c(frame.x(ds))}" cy="{_c(frame.y(value))}" r="3" fill="{color}" stroke="#fff" '
                   f'stroke-width="1"><title>{_e(text)}</title></circle>')
    return out


def _band(frame: _Frame, name: str, points: Sequence[tuple[date, tuple[float, float]]], opacity: float) -> list[str]:
    """A band between two quantiles: a polygon per run of consecutive days (a sliver on a lone day)."""
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
        out.append(f'<polygon class="band" data-series="{name}" data-first-ds="{_ds(run[0][0])}" '
                   f'data-last-ds="{_ds(run[-1][0])}" points="{coords}" fill="{COLORS["band"]}" '
                   f'fill-opacity="{opacity}" stroke="none"><title>{_e(LABELS[name])}</title></polygon>')
    return out


def _threshold_line(lo: float, hi: float, metric: str, value: float, severity: str, *, left: bool = False) -> str:
    y = _c(_y(lo, hi, value))
    color = THRESHOLD_COLORS[metric]
    x, anchor = (LEFT + 4, "start") if left else (WIDTH - RIGHT - 4, "end")
    text = f"{metric} max {value:g} ({severity})"
    return (f'<line class="threshold" data-metric="{metric}" data-value="{value!r}" data-severity="{_e(severity)}" '
            f'x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" stroke="{color}" stroke-width="1.5" '
            f'stroke-dasharray="6 4"><title>{_e(text)}</title></line>'
            f'<text class="threshold-label" x="{x}" y="{_c(float(y) - 4)}" text-anchor="{anchor}" '
            f'fill="{color}">{_e(text)}</text>')


def _legend(names: Sequence[str], thresholds: Sequence[str] = ()) -> str:
    keys = []
    for name in names:
        color = COLORS["band"] if name in ("p05_p95", "p25_p75") else COLORS[name]
        opacity = {"p05_p95": ' opacity:.25;', "p25_p75": ' opacity:.5;'}.get(name, "")
        keys.append(f'<span class="key"><i style="background:{color};{opacity}"></i>{_e(LABELS[name])}</span>')
    for metric in thresholds:
        keys.append(f'<span class="key"><i class="dash" style="border-color:{THRESHOLD_COLORS[metric]}"></i>'
                    f"{_e(metric)} threshold</span>")
    return f'<span class="legend">{"".join(keys)}</span>'


def _figure(title: str, legend: str, svg: str, note: str = "") -> str:
    note_html = f'<p class="note">{note}</p>' if note else ""
    return f"<figure><figcaption><span>{_e(title)}</span>{legend}</figcaption>{svg}{note_html}</figure>"


# ---------------------------------------------------------------------------------------------------------
# charts


def _distribution_chart(first: date, last: date, days: Mapping[date, Mapping[str, Any]]) -> str:
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

    body = (_band(frame, "p05_p95", bands["p05_p95"], 0.14) + _band(frame, "p25_p75", bands["p25_p75"], 0.28)
            + _line(frame, "mean", mean) + _line(frame, "p50", p50, tip))
    empty = None if values else "no values to plot: every value is null"
    svg = _svg("distribution", lo, hi, body, _time_labels(frame), label="distribution over time", empty=empty,
               attrs=f' data-x-first="{_ds(first)}" data-x-last="{_ds(last)}"')
    return _figure("distribution over time", _legend(["p05_p95", "p25_p75", "p50", "mean"]), svg)


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


def _histogram_chart(days: Mapping[date, Mapping[str, Any]]) -> str:
    latest = max(days)
    ds = _histogram_day(days)
    if ds is None:
        return _figure("histogram vs baseline", "", "",
                       'no histogram yet: drift needs a baseline window with at least <i>min_rows</i> values '
                       "on both sides")
    row = days[ds]
    edges = [float(e) for e in row["edges"]]
    counts = {"current": [int(c or 0) for c in row["histogram"]],
              "baseline": [int(c or 0) for c in row["baseline_histogram"]]}
    shares = {name: [c / sum(values) for c in values] if sum(values) else None for name, values in counts.items()}
    hi = max([p for values in shares.values() if values for p in values], default=0.0) or 1.0
    bins = len(edges) + 1
    width = (WIDTH - LEFT - RIGHT) / bins
    body = []
    for offset, name in ((0.12, "current"), (0.52, "baseline")):
        values = shares[name]
        if values is None:
            continue
        total = sum(counts[name])
        for i, share in enumerate(values):
            top = _y(0.0, hi, share)
            text = (f"bin {i} {_bin_text(edges, i)} · {LABELS[name]} {share:.2%} ({counts[name][i]:,} of {total:,})")
            body.append(f'<rect class="bar" data-bin="{i}" data-series="{name}" data-value="{share!r}" '
                        f'data-count="{counts[name][i]}" x="{_c(LEFT + i * width + offset * width)}" y="{_c(top)}" '
                        f'width="{_c(width * 0.36)}" height="{_c(HEIGHT - BOTTOM - top)}" fill="{COLORS[name]}">'
                        f"<title>{_e(text)}</title></rect>")
    x_labels = [f'<text class="edge" data-value="{edge!r}" x="{_c(LEFT + (k + 1) * width)}" y="{HEIGHT - BOTTOM + 14}" '
                f'text-anchor="middle">{_e(f"{edge:.3g}")}</text>' for k, edge in enumerate(edges)]
    baseline = ""
    if row.get("baseline_first") is not None:
        baseline = (f" (baseline {_e(_as_date(row['baseline_first']))} … {_e(_as_date(row['baseline_last']))}, "
                    f"{_e(row.get('baseline_days'))} day(s))")
    note = f"ds {_ds(ds)} vs its baseline window{baseline}; bins split at the baseline's deciles"
    if ds != latest:
        note += f"; the latest day {_ds(latest)} has no histogram (too few values or no baseline)"
    empty = None if any(shares.values()) else "both histograms are empty"
    svg = _svg("histogram", 0.0, hi, body, x_labels, label=f"histogram of {_ds(ds)} vs baseline", empty=empty,
               attrs=f' data-ds="{_ds(ds)}"', y_format=lambda v: f"{v:.0%}" if v in (0.0, 1.0) else f"{v:.1%}")
    return _figure("histogram vs baseline (proportions)", _legend(["current", "baseline"]), svg, note)


def _drift_chart(first: date, last: date, days: Mapping[date, Mapping[str, Any]], entry: Mapping[str, Any],
                 feature: str) -> str:
    series = {name: _series(days, _field(name)) for name in DRIFT_SERIES}
    thresholds = {m: t for m in ("psi", "kl") if (t := _threshold(entry, feature, m)) is not None}
    lo, hi = _domain([v for points in series.values() for _, v in points] + [t[0] for t in thresholds.values()],
                     with_zero=True)
    frame = _Frame(first, last, lo, hi)
    body = [_threshold_line(lo, hi, m, value, severity, left=m == "kl") for m, (value, severity) in thresholds.items()]
    for name in DRIFT_SERIES:
        body += _line(frame, name, series[name])
    empty = None if any(series.values()) else "no drift yet: needs a previous day or a baseline with enough values"
    svg = _svg("drift", lo, hi, body, _time_labels(frame), label="drift (PSI, KL)", empty=empty,
               attrs=f' data-x-first="{_ds(first)}" data-x-last="{_ds(last)}"')
    return _figure("drift: PSI and KL", _legend(list(DRIFT_SERIES), list(thresholds)), svg)


def _null_chart(first: date, last: date, days: Mapping[date, Mapping[str, Any]], entry: Mapping[str, Any],
                feature: str) -> str:
    points = _series(days, _field("null_fraction"))
    threshold = _threshold(entry, feature, "null_fraction")
    lo, hi = _domain([v for _, v in points] + ([threshold[0]] if threshold else []), with_zero=True)
    frame = _Frame(first, last, lo, hi)
    body = [_threshold_line(lo, hi, "null_fraction", *threshold)] if threshold else []
    body += _line(frame, "null_fraction", points)
    svg = _svg("null_fraction", lo, hi, body, _time_labels(frame), label="null fraction",
               empty=None if points else "no null fraction recorded",
               attrs=f' data-x-first="{_ds(first)}" data-x-last="{_ds(last)}"')
    return _figure("null fraction", _legend(["null_fraction"], ["null_fraction"] if threshold else []), svg)


# ---------------------------------------------------------------------------------------------------------
# tables and sections


def _badge(text: str, css: str) -> str:
    return f'<span class="b {css}">{_e(text)}</span>'


def _stat_row(key: str, label: str, value: Any, text: str, note: str = "") -> str:
    number = _finite(value)
    data = "" if number is None else repr(value if isinstance(value, int) else number)
    note_html = f' <span class="small">{note}</span>' if note else ""
    return f'<tr data-stat="{key}" data-value="{data}"><th>{_e(label)}</th><td>{_e(text)}{note_html}</td></tr>'


def _stats_table(row: Mapping[str, Any], ds: date, numeric: bool) -> str:
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
            rows.append(_stat_row(name, LABELS[name], row.get(name), _num(row.get(name), 4), _e(against[kind])))
    return (f'<table class="kv stats" data-ds="{_ds(ds)}"><caption>statistics of ds {_ds(ds)}</caption>'
            f'{"".join(rows)}</table>')


def _alerts_block(feature: str, ds: date, attempt: Mapping[str, Any] | None) -> str:
    head = f"alerts of ds {_ds(ds)}"
    if attempt is None:
        return f'<div class="alerts" data-ds="{_ds(ds)}"><h3>{head}</h3><p class="small">no validation attempt ' \
               "recorded for this day</p></div>"
    alerts = [a for a in (attempt.get("alerts") or []) if a.get("feature") == feature]
    source = (f'<p class="small">from attempt <code>{_e(attempt.get("run_id"))}</code> validated '
              f"{_e(_iso(attempt.get('validated_at')))}</p>")
    if not alerts:
        return f'<div class="alerts" data-ds="{_ds(ds)}" data-count="0"><h3>{head}</h3>{source}' \
               f'<p>{_badge("no alert", "ok")}</p></div>'
    rows = []
    for a in alerts:
        severity = str(a.get("severity") or "")
        value, threshold = _finite(a.get("value")), _finite(a.get("threshold"))
        rows.append(f'<tr class="alert" data-metric="{_e(a.get("metric"))}" data-against="{_e(a.get("against"))}" '
                    f'data-severity="{_e(severity)}" data-value="{"" if value is None else repr(value)}">'
                    f'<td>{_e(a.get("metric"))}</td><td>{_e(a.get("against") or "—")}</td><td>{_num(value, 4)}</td>'
                    f'<td>{_num(threshold, 4)}</td><td>{_badge(severity, "bad" if severity == "error" else "warn")}'
                    "</td></tr>")
    return (f'<div class="alerts" data-ds="{_ds(ds)}" data-count="{len(alerts)}"><h3>{head}</h3>{source}<table>'
            f'<tr><th>metric</th><th>against</th><th>value</th><th>max</th><th>severity</th></tr>{"".join(rows)}'
            "</table></div>")


def _feature_meta(entry: Mapping[str, Any], feature: Mapping[str, Any]) -> str:
    parts = [str(feature.get("dtype"))]
    if entry.get("kind") == "aggregate" and feature.get("function"):
        column = f"({feature['column']})" if feature.get("column") else ""
        parts.append(f"{feature['function']}{column} over {feature.get('window') or 'lifetime'}")
    elif entry.get("kind") == "latest":
        parts.append("latest value")
    return " · ".join(parts)


def _feature_section(entry: Mapping[str, Any], feature: Mapping[str, Any], days: Mapping[date, Mapping[str, Any]],
                     first: date, last: date, newest: Mapping[date, Mapping[str, Any]]) -> str:
    name = str(feature["name"])
    numeric = feature.get("dtype") in NUMERIC_DTYPES

    def head(badge: str) -> str:
        return (f'<header><h2><code>{_e(name)}</code></h2><span class="meta">{_e(_feature_meta(entry, feature))}'
                f"</span>{badge}</header>")

    attrs = f'class="feature" data-feature="{_e(name)}" data-dtype="{_e(feature.get("dtype"))}" id="feature-{_e(name)}"'
    if not days:
        return (f"<section {attrs}>{head('')}"
                '<p class="empty">no statistics for this feature yet</p></section>')
    latest = max(days)
    attempt = newest.get(latest)
    alerts = [a for a in ((attempt or {}).get("alerts") or []) if a.get("feature") == name]
    if alerts:
        worst = "bad" if any(a.get("severity") == "error" for a in alerts) else "warn"
        badge = _badge(f"{len(alerts)} alert{'s' * (len(alerts) != 1)} on {_ds(latest)}", worst)
    else:
        badge = _badge("no alert", "ok") if attempt is not None else ""
    charts = []
    if numeric:
        charts += [_distribution_chart(first, last, days), _histogram_chart(days),
                   _drift_chart(first, last, days, entry, name)]
    charts.append(_null_chart(first, last, days, entry, name))
    return (f"<section {attrs}>{head(badge)}<div class=\"charts\">{''.join(charts)}</div>"
            f'<div class="tables">{_stats_table(days[latest], latest, numeric)}'
            f"{_alerts_block(name, latest, attempt)}</div></section>")


def _iso(value: Any) -> str:
    return _utc(value).isoformat(timespec="seconds") if isinstance(value, datetime) else "—"


def _timeline(attempts: Sequence[Mapping[str, Any]]) -> str:
    ordered = sorted(attempts, key=lambda a: (_utc(a.get("validated_at")), _as_date(a.get("ds")) or date.min),
                     reverse=True)
    passed = sum(1 for a in ordered if a.get("success"))
    failed = len(ordered) - passed
    counts = (f'<p class="counts" data-passed="{passed}" data-failed="{failed}">{len(ordered)} attempt'
              f"{'s' * (len(ordered) != 1)}: {_badge(f'{passed} passed', 'ok')} "
              f"{_badge(f'{failed} FAILED', 'bad' if failed else 'off')}</p>")
    if not ordered:
        return (f'<section class="card timeline"><h2>Validation timeline</h2>{counts}'
                '<p class="empty">no validation attempt recorded yet</p></section>')
    rows = []
    for a in ordered:
        ok = bool(a.get("success"))
        ds = _as_date(a.get("ds"))
        summary = str(a.get("summary") or "")
        first_line = summary.splitlines()[0] if summary else "no summary"
        hand = " " + _badge("by hand", "off") if a.get("by_hand") else ""
        errors, warnings = a.get("errors") or 0, a.get("warnings") or 0
        path = (f'<div class="small">results <code>{_e(str(a["result_path"]).rsplit("/", 1)[-1])}</code></div>'
                if a.get("result_path") else "")
        rows.append(
            f'<tr class="attempt" data-ds="{_ds(ds) if ds else ""}" data-run-id="{_e(a.get("run_id"))}" '
            f'data-success="{"true" if ok else "false"}"><td><code>{_ds(ds) if ds else "—"}</code></td>'
            f'<td>{_e(_iso(a.get("validated_at")))} <div class="small">{_e(a.get("run_id"))}</div></td>'
            f'<td>v{_e(a.get("snapshot_version"))}</td>'
            f'<td>{_badge("passed", "ok") if ok else _badge("FAILED", "bad")}{hand}</td>'
            f'<td>{_e(a.get("checks"))}</td><td>{_e(a.get("failed"))}</td>'
            f'<td>{_badge(str(errors), "bad") if errors else "0"}</td>'
            f'<td>{_badge(str(warnings), "warn") if warnings else "0"}</td>'
            f'<td class="summary-cell"><details><summary>{_e(first_line)}</summary><pre>{_e(summary)}</pre>'
            f"</details> {path}</td></tr>")
    return (f'<section class="card timeline"><h2>Validation timeline</h2>{counts}<div class="scroll"><table>'
            "<tr><th>ds</th><th>validated at (UTC)</th><th>snapshot</th><th>result</th><th>checks</th>"
            f"<th>failed</th><th>errors</th><th>warnings</th><th>summary</th></tr>{''.join(rows)}</table></div>"
            "</section>")


def _view_alerts(entry: Mapping[str, Any], ds: date, attempt: Mapping[str, Any] | None) -> str:
    """The latest day's alerts that belong to no feature (the schema check)."""
    names = {str(f["name"]) for f in entry.get("features") or []}
    others = [a for a in ((attempt or {}).get("alerts") or []) if a.get("feature") not in names]
    if not others:
        return ""
    items = "".join(f'<li class="alert" data-metric="{_e(a.get("metric"))}" data-severity="{_e(a.get("severity"))}">'
                    f'{_badge(str(a.get("severity") or ""), "bad" if a.get("severity") == "error" else "warn")} '
                    f'{_e(a.get("metric"))}: {_e(a.get("feature"))}</li>' for a in others)
    return f'<section class="card view-alerts"><h2>View alerts of ds {_ds(ds)}</h2><ul>{items}</ul></section>'


_CSS = """
*{box-sizing:border-box}
body{margin:0;padding:20px 24px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  color:#1f2933;background:#f7f8fa;max-width:1400px}
h1{font-size:20px;margin:0 0 2px}
h2{font-size:16px;margin:0}
h3{font-size:13px;margin:0 0 4px;color:#323f4b}
.sub{color:#616e7c;margin:0 0 8px}
.desc{margin:0 0 6px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:5px 10px;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:#52606d;background:#f0f2f5}
caption{text-align:left;font-size:13px;font-weight:600;color:#323f4b;padding:0 0 4px}
.card,.feature{background:#fff;border:1px solid #e4e7eb;border-radius:6px;padding:14px 16px;margin-bottom:16px}
.card h2{margin-bottom:6px}
.feature>header{display:flex;gap:12px;align-items:baseline;flex-wrap:wrap;margin-bottom:10px}
.meta{color:#52606d;font-size:13px}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
a{color:#0b63c5;text-decoration:none}a:hover{text-decoration:underline}
.b{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.ok{background:#e3f9e5;color:#0e6027}.warn{background:#fff3c4;color:#8d2b0b}
.bad{background:#ffe3e3;color:#a61b1b}.off{background:#e4e7eb;color:#3e4c59}
.small{font-size:12px;color:#616e7c}
.empty{color:#616e7c;font-style:italic}
.toc{display:flex;flex-wrap:wrap;gap:6px 14px;margin:0 0 16px;font-size:13px}
.scroll{overflow:auto;max-height:520px}
.timeline td{font-size:13px}
.summary-cell{min-width:280px}
details summary{cursor:pointer}
pre{margin:6px 0 0;padding:8px 10px;background:#f7f8fa;border:1px solid #e4e7eb;border-radius:4px;
  white-space:pre-wrap;word-break:break-word;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:12px;margin-bottom:12px}
figure{margin:0;border:1px solid #eef0f3;border-radius:6px;padding:8px 10px 6px}
figcaption{display:flex;flex-wrap:wrap;gap:2px 12px;align-items:baseline;font-size:13px;font-weight:600;
  color:#323f4b}
.legend{display:flex;flex-wrap:wrap;gap:2px 10px;font-size:11.5px;font-weight:400;color:#52606d}
.key i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.key i.dash{width:14px;height:0;border-top:2px dashed;border-radius:0;vertical-align:3px}
.note{margin:2px 0 0;font-size:12px;color:#616e7c}
svg.chart{display:block;width:100%;height:auto;margin-top:4px}
svg.chart text{font:10px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;fill:#616e7c}
svg.chart text.threshold-label{font-size:9.5px;font-weight:600}
svg.chart text.empty{font-size:12px;font-style:italic;fill:#9aa5b1}
svg.chart circle.point:hover{r:5}
.tables{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}
.kv th{width:38%;text-transform:none;letter-spacing:0;font-size:12.5px;font-weight:500;background:#f7f8fa}
.kv td{font-variant-numeric:tabular-nums}
.alerts td,.alerts th{font-size:12.5px}
footer{margin-top:12px}
"""


def render_report(view: str, entry: Mapping[str, Any], stats: Sequence[Mapping[str, Any]],
                  attempts: Sequence[Mapping[str, Any]], *, generated_at: datetime) -> str:
    """The data-quality report of ``view`` as one self-contained HTML page (see the module's doc)."""
    by_feature = _by_feature(stats)
    features = [f for f in entry.get("features") or [] if f.get("name") is not None]
    known = {str(f["name"]) for f in features}
    all_days = sorted({ds for name, days in by_feature.items() if name in known for ds in days})
    newest = _newest_attempts(attempts)
    version = entry.get("version")
    generated = generated_at.isoformat(timespec="seconds")

    if all_days:
        first, last = all_days[0], all_days[-1]
        span = (last - first).days + 1
        missing = [d for d in (date.fromordinal(o) for o in range(first.toordinal(), last.toordinal() + 1))
                   if d not in set(all_days)]
        gap = ""
        if missing:
            listed = ", ".join(_ds(d) for d in missing[:MAX_MISSING_LISTED])
            more = f" and {len(missing) - MAX_MISSING_LISTED} more" if len(missing) > MAX_MISSING_LISTED else ""
            gap = (f' · <span class="b warn">{len(missing)} day{"s" * (len(missing) != 1)} without statistics'
                   f"</span> <span class=small>{listed}{more}</span>")
        days_text = (f"ds <code>{_ds(first)}</code> … <code>{_ds(last)}</code> · {len(all_days)} "
                     f"day{'s' * (len(all_days) != 1)} of statistics over {span} calendar "
                     f"day{'s' * (span != 1)}{gap}")
        range_attrs = f' data-first-ds="{_ds(first)}" data-last-ds="{_ds(last)}" data-days="{len(all_days)}"'
        sections = [_feature_section(entry, f, by_feature.get(str(f["name"]), {}), first, last, newest)
                    for f in features]
        body = _view_alerts(entry, last, newest.get(last)) + "".join(sections)
    else:
        days_text = "no ds covered yet"
        range_attrs = ' data-first-ds="" data-last-ds="" data-days="0"'
        body = (f'<section class="card"><p class="empty" data-empty="stats">no statistics yet: materialize the view '
                f"(<code>pitstop materialize {_e(view)} --start DS --end DS</code>); statistics are recorded for "
                "every day that passes its validation gate.</p></section>")

    latest_attempt = ""
    if attempts:
        top = max(attempts, key=lambda a: (_utc(a.get("validated_at")), _as_date(a.get("ds")) or date.min))
        state = _badge("passed", "ok") if top.get("success") else _badge("FAILED", "bad")
        ds = _as_date(top.get("ds"))
        latest_attempt = f" · latest validation {state} <span class=small>ds {_ds(ds) if ds else '—'}</span>"
    toc = ""
    if all_days and features:
        links = []
        for f in features:
            name = str(f["name"])
            days = by_feature.get(name, {})
            count = len([a for a in ((newest.get(max(days)) or {}).get("alerts") or []) if a.get("feature") == name]) \
                if days else 0
            mark = f' <span class="b warn">{count}</span>' if count else ""
            links.append(f'<a href="#feature-{_e(name)}"><code>{_e(name)}</code></a>{mark}')
        toc = f'<nav class="toc"><span class="small">features:</span>{"".join(links)}</nav>'
    description = entry.get("description") or ""
    header = (
        f'<header class="report" data-view="{_e(view)}" data-version="{_e(version)}"{range_attrs}>'
        f'<h1>Data quality · {_e(view)} <span class="small">v{_e(version)}</span></h1>'
        f'<p class="sub">{_e(entry.get("kind"))} view · owner <b>{_e(entry.get("owner") or "—")}</b> · '
        f'generated <time class="generated" datetime="{_e(generated)}">{_e(generated)}</time>{latest_attempt}</p>'
        f'<p class="desc">{_e(description) if description else "<i>no description</i>"}</p>'
        f'<p class="range sub">{days_text}</p></header>')
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Data quality · {_e(view)} v{_e(version)}</title><style>{_CSS}</style></head><body>"
        f"{header}{toc}{_timeline(attempts)}{body}"
        f'<footer class="small">pitstop report · {_e(view)} v{_e(version)} · generated {_e(generated)}</footer>'
        "</body></html>")
