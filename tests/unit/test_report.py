"""The data-quality report (pitstop.runtime.report): rendered from hand-written statistics and attempts,
parsed back (html.parser for the page, xml.etree for each SVG chart) and checked number by number."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pitstop.plan.model import Feature, Monitoring, Plan, View
from pitstop.runtime import report as rp

GENERATED = datetime(2026, 10, 5, 6, 30, tzinfo=UTC)
D1, D2, D3, D4 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3), date(2026, 10, 4)  # D3: no statistics
FAILED_SUMMARY = ("validation FAILED: user_transactions v3 ds 2026-10-03 (snapshot version 7, 1,200 rows): 3 of 4 "
                  "checks passed\n  ✗ [error] spend_avg_7d >= 0: 3 rows with spend_avg_7d < 0 (e.g. -2.5) <b>&")
PASSED_SUMMARY = ("validation passed: user_transactions v3 ds 2026-10-04 (snapshot version 8, 1,000 rows): 4 of 4 "
                  "checks passed, 1 alert(s)\n  ! [warning] alert spend_avg_7d: psi vs baseline 0.31 > 0.2")


def _rule(limit: float, severity: str = "warning") -> dict[str, Any]:
    return {"max": limit, "severity": severity, "origin": "default"}


ENTRY: dict[str, Any] = {
    "version": 3, "kind": "aggregate", "owner": "risk-team", "description": "Spend per user <7 days> & more",
    "features": [
        {"name": "spend_avg_7d", "dtype": "float64", "function": "avg", "column": "amount", "window": "7d"},
        {"name": "last_country", "dtype": "string", "function": "last", "column": "country", "window": None},
    ],
    "monitoring": {
        "baseline_days": 7, "bins": 10, "min_rows": 100,
        "alerts": {"spend_avg_7d": {"null_fraction": _rule(0.05), "psi": _rule(0.2), "kl": _rule(0.1, "error")},
                   "last_country": {"null_fraction": _rule(0.1)}},
        "schema": {"severity": "warning", "origin": "default"},
    },
}


GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "demo_plan.json"


def view_of(entry: dict[str, Any]) -> View:
    """The test's entry (the fields the report shows) as a compiled view; other fields from the demo's plan."""
    base = Plan.from_json(json.loads(GOLDEN.read_text())).views["user_transactions"]
    features = tuple(Feature(f["name"], f["dtype"], f.get("function"), f.get("column"), f.get("window"),
                             None, None) for f in entry["features"])
    return dataclasses.replace(base, version=entry["version"], kind=entry["kind"], owner=entry["owner"],
                               description=entry["description"], features=features,
                               monitoring=Monitoring.from_json(entry["monitoring"]))


def _stat(ds: date, feature: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ds": ds, "feature": feature, "rows": 1000, "nulls": 0, "null_fraction": 0.0, "min": None, "max": None,
        "mean": None, "stddev": None, "quantiles": None, "previous_ds": None, "psi_previous": None,
        "kl_previous": None, "baseline_first": None, "baseline_last": None, "baseline_days": None,
        "psi_baseline": None, "kl_baseline": None, "edges": None, "histogram": None, "baseline_histogram": None,
        "snapshot_version": 8, "run_id": "run-1"}
    row.update(values)
    return row


QUANTILES = {
    D1: [-3.0, -1.5, 2.0, 4.25, 6.0, 9.5, 12.0],  # negative values at the low end
    D2: [-2.0, -1.0, 2.5, 4.75, 6.5, 10.0, 13.0],
    D4: [-1.0, 0.5, 3.0, 5.125, 7.0, 11.0, 14.0],
}
STATS = [  # in no particular order, as the stats table returns them
    _stat(D4, "spend_avg_7d", rows=1000, nulls=20, null_fraction=0.02, min=-4.0, max=20.0, mean=5.5, stddev=3.25,
          quantiles=QUANTILES[D4], previous_ds=D2, psi_previous=0.05, kl_previous=0.04, baseline_first=D1,
          baseline_last=D2, baseline_days=2, psi_baseline=0.31, kl_baseline=0.08, edges=[1.0, 2.0, 3.0],
          histogram=[98, 196, 294, 392], baseline_histogram=[4, 3, 2, 1]),
    _stat(D1, "last_country", rows=1200, nulls=36, null_fraction=0.03),
    _stat(D1, "spend_avg_7d", rows=1200, nulls=12, null_fraction=0.01, min=-5.0, max=18.0, mean=4.5, stddev=3.0,
          quantiles=QUANTILES[D1]),  # the first day: no previous day, no baseline, psi None
    _stat(D4, "last_country", rows=1000, nulls=150, null_fraction=0.15),
    _stat(D2, "spend_avg_7d", rows=1100, nulls=0, null_fraction=0.0, min=-4.5, max=19.0, mean=5.0, stddev=3.1,
          quantiles=QUANTILES[D2], previous_ds=D1, psi_previous=0.12, kl_previous=0.09, baseline_first=D1,
          baseline_last=D1, baseline_days=1, psi_baseline=0.12, kl_baseline=math.nan),  # NaN: not plotted
    _stat(D2, "last_country", rows=1100, nulls=55, null_fraction=0.05),
]
ATTEMPTS = [
    {"ds": D3, "run_id": "scheduled__2026-10-03", "validated_at": datetime(2026, 10, 4, 1, 0), "snapshot_version": 7,
     "success": False, "checks": 4, "failed": 1, "errors": 1, "warnings": 0, "summary": FAILED_SUMMARY,
     "result_path": "/data/offline/_validation/user_transactions__v3/2026-10-03/7", "by_hand": False, "alerts": []},
    {"ds": D4, "run_id": "scheduled__2026-10-04", "validated_at": datetime(2026, 10, 5, 1, 0), "snapshot_version": 8,
     "success": True, "checks": 4, "failed": 0, "errors": 0, "warnings": 2, "summary": PASSED_SUMMARY,
     "result_path": "/data/offline/_validation/user_transactions__v3/2026-10-04/8", "by_hand": False,
     "alerts": [{"feature": "spend_avg_7d", "metric": "psi", "against": "baseline", "value": 0.31,
                 "threshold": 0.2, "severity": "warning"},
                {"feature": "last_country", "metric": "null_fraction", "against": "", "value": 0.15,
                 "threshold": 0.1, "severity": "warning"}]},
]


# ---------------------------------------------------------------------------------------------------------
# a small tree of the parsed page

VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "source"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def iter(self, tag: str | None = None, **attrs: str) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                if (tag is None or child.tag == tag) and all(child.attrs.get(k.replace("_", "-")) == v
                                                             for k, v in attrs.items()):
                    yield child
                yield from child.iter(tag, **attrs)

    def find(self, tag: str | None = None, **attrs: str) -> Node:
        found = list(self.iter(tag, **attrs))
        assert len(found) == 1, f"{len(found)} <{tag} {attrs}>"
        return found[0]

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert tag in [n.tag for n in self.stack], f"stray </{tag}>"
        while self.stack.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(page: str) -> Node:
    builder = TreeBuilder()
    builder.feed(page)
    builder.close()
    assert [n.tag for n in builder.stack] == ["#root"], "unclosed elements"
    return builder.root


def points(chart: Node, series: str) -> list[tuple[str, str]]:
    return [(c.attrs["data-ds"], c.attrs["data-value"]) for c in chart.iter("circle", data_series=series)]


def thresholds(chart: Node) -> dict[str, float]:
    lines = [n for n in chart.iter("line") if "threshold" in n.classes]
    assert all(n.attrs["stroke-dasharray"] for n in lines)
    return {n.attrs["data-metric"]: float(n.attrs["data-value"]) for n in lines}


def assert_self_contained(page: str) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page


def svg_charts(page: str) -> list[ET.Element]:
    """Each inline chart parsed as XML: well formed, every point and bar with its tooltip."""
    charts = [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", page, re.DOTALL)]
    for chart in charts:
        for element in chart.iter():
            if element.tag in ("circle", "rect") and "data-series" in element.attrib:
                assert element.find("title") is not None and element.find("title").text  # type: ignore[union-attr]
            for name in ("cx", "cy", "x", "y", "width", "height", "points"):
                value = element.attrib.get(name, "")
                assert "nan" not in value and "inf" not in value, (element.tag, name, value)
    return charts


@pytest.fixture(scope="module")
def page() -> str:
    return rp.render_report("user_transactions", view_of(ENTRY), STATS, ATTEMPTS, generated_at=GENERATED)


@pytest.fixture(scope="module")
def tree(page: str) -> Node:
    return parse(page)


# ---------------------------------------------------------------------------------------------------------


def test_header_names_the_view_and_the_days_covered(tree: Node) -> None:
    header = tree.find("header", **{"class": "report"})
    assert header.attrs["data-view"] == "user_transactions" and header.attrs["data-version"] == "3"
    assert (header.attrs["data-first-ds"], header.attrs["data-last-ds"], header.attrs["data-days"]) == (
        "2026-10-01", "2026-10-04", "3")
    text = " ".join(header.text().split())
    assert "Data quality · user_transactions v3" in text
    assert "owner risk-team" in text and "aggregate view" in text
    assert "Spend per user <7 days> & more" in text  # escaped in the source, the same text once parsed
    assert tree.find("time").attrs["datetime"] == "2026-10-05T06:30:00+00:00"
    assert "2026-10-01 … 2026-10-04 · 3 days of statistics over 4 calendar days" in text
    assert "1 day without statistics 2026-10-03" in text
    assert tree.find("head").find("title").text() == "Data quality · user_transactions v3"


def test_validation_timeline_lists_attempts_newest_first(page: str, tree: Node) -> None:
    timeline = tree.find("section", **{"class": "card timeline"})
    counts = timeline.find("p", **{"class": "counts"})
    assert (counts.attrs["data-passed"], counts.attrs["data-failed"]) == ("1", "1")
    rows = list(timeline.iter("tr", **{"class": "attempt"}))
    assert [(r.attrs["data-ds"], r.attrs["data-success"]) for r in rows] == [("2026-10-04", "true"),
                                                                             ("2026-10-03", "false")]
    cells = [[" ".join(td.text().split()) for td in row.iter("td") if "summary-cell" not in td.classes]
             for row in rows]
    assert cells[1] == ["2026-10-03", "2026-10-04T01:00:00+00:00 scheduled__2026-10-03", "v7", "FAILED", "4", "1",
                        "1", "0"]
    assert cells[0][3:] == ["passed", "4", "0", "0", "2"]
    failed_pre = rows[1].find("pre")
    assert failed_pre.text() == FAILED_SUMMARY  # the whole multi-line text, exactly
    assert rows[1].find("summary").text() == FAILED_SUMMARY.splitlines()[0]
    assert "(e.g. -2.5) &lt;b&gt;&amp;" in page and "<b>&" not in page  # escaped, not markup
    assert rows[0].find("pre").text() == PASSED_SUMMARY


def test_a_section_per_feature_with_its_charts(tree: Node) -> None:
    sections = list(tree.iter("section", **{"class": "feature"}))
    assert [s.attrs["data-feature"] for s in sections] == ["spend_avg_7d", "last_country"]
    numeric, text = sections
    assert [c.attrs["data-chart"] for c in numeric.iter("svg")] == ["distribution", "histogram", "drift",
                                                                    "null_fraction"]
    assert [c.attrs["data-chart"] for c in text.iter("svg")] == ["null_fraction"]  # non-numeric: nulls only
    for chart in numeric.iter("svg"):
        assert chart.attrs["viewbox"] == "0 0 640 220" and chart.attrs["class"] == "chart"


def test_distribution_points_are_the_medians_and_means_of_the_input(tree: Node) -> None:
    chart = tree.find("section", data_feature="spend_avg_7d").find("svg", data_chart="distribution")
    assert points(chart, "p50") == [(d.isoformat(), repr(QUANTILES[d][3])) for d in (D1, D2, D4)]
    assert points(chart, "mean") == [("2026-10-01", "4.5"), ("2026-10-02", "5.0"), ("2026-10-04", "5.5")]
    # the gap day ends the lines: one polyline per series over 10-01..10-02, 10-04 stands alone
    lines = [n for n in chart.iter("polyline", data_series="p50")]
    assert len(lines) == 1 and len(lines[0].attrs["points"].split()) == 2
    bands = [(n.attrs["data-series"], n.attrs["data-first-ds"], n.attrs["data-last-ds"]) for n in chart.iter("polygon")]
    assert bands == [("p05_p95", "2026-10-01", "2026-10-02"), ("p05_p95", "2026-10-04", "2026-10-04"),
                     ("p25_p75", "2026-10-01", "2026-10-02"), ("p25_p75", "2026-10-04", "2026-10-04")]
    # the y range: the lowest p05 to the highest p95 (negative values included), labelled on the axis
    assert (float(chart.attrs["data-y-min"]), float(chart.attrs["data-y-max"])) == (-1.5, 11.0)
    assert [t.text() for t in chart.iter("text") if "y-label" in t.classes] == ["11", "-1.5"]
    assert [(t.attrs["data-ds"], t.text()) for t in chart.iter("text") if "x-label" in t.classes] == [
        ("2026-10-01", "2026-10-01"), ("2026-10-04", "2026-10-04")]
    tip = chart.find("circle", data_series="p50", data_ds="2026-10-04").find("title").text()
    assert tip.startswith("2026-10-04 · median 5.125 · p25–p75 3 – 7")


def test_null_fraction_points_and_threshold_lines(tree: Node) -> None:
    for feature, limit in (("spend_avg_7d", 0.05), ("last_country", 0.1)):
        chart = tree.find("section", data_feature=feature).find("svg", data_chart="null_fraction")
        expected = sorted((r["ds"].isoformat(), repr(r["null_fraction"])) for r in STATS if r["feature"] == feature)
        assert points(chart, "null_fraction") == expected
        assert thresholds(chart) == {"null_fraction": limit}
        assert float(chart.attrs["data-y-min"]) == 0.0
    drift = tree.find("section", data_feature="spend_avg_7d").find("svg", data_chart="drift")
    assert thresholds(drift) == {"psi": 0.2, "kl": 0.1}
    assert drift.find("line", data_metric="kl").attrs["data-severity"] == "error"


def test_drift_series_skip_missing_and_nan_values(tree: Node) -> None:
    drift = tree.find("section", data_feature="spend_avg_7d").find("svg", data_chart="drift")
    assert points(drift, "psi_previous") == [("2026-10-02", "0.12"), ("2026-10-04", "0.05")]  # None on day 1
    assert points(drift, "psi_baseline") == [("2026-10-02", "0.12"), ("2026-10-04", "0.31")]
    assert points(drift, "kl_previous") == [("2026-10-02", "0.09"), ("2026-10-04", "0.04")]
    assert points(drift, "kl_baseline") == [("2026-10-04", "0.08")]  # NaN on 10-02 is not plotted
    assert list(drift.iter("polyline")) == []  # 10-02 and 10-04 are not consecutive: no line joins them
    assert (float(drift.attrs["data-y-min"]), float(drift.attrs["data-y-max"])) == (0.0, 0.31)


def test_histogram_of_the_latest_day_against_its_baseline(tree: Node) -> None:
    chart = tree.find("section", data_feature="spend_avg_7d").find("svg", data_chart="histogram")
    assert chart.attrs["data-ds"] == "2026-10-04"
    for series, expected in (("current", [0.1, 0.2, 0.3, 0.4]), ("baseline", [0.4, 0.3, 0.2, 0.1])):
        bars = list(chart.iter("rect", data_series=series))
        assert [b.attrs["data-bin"] for b in bars] == ["0", "1", "2", "3"]
        shares = [float(b.attrs["data-value"]) for b in bars]
        assert shares == pytest.approx(expected) and math.fsum(shares) == pytest.approx(1.0)
    assert [float(t.attrs["data-value"]) for t in chart.iter("text") if "edge" in t.classes] == [1.0, 2.0, 3.0]
    bar = chart.find("rect", data_series="current", data_bin="3")
    assert bar.attrs["data-count"] == "392" and bar.find("title").text() == (
        "bin 3 (3, +∞) · latest day 40.00% (392 of 980)")


def test_latest_day_statistics_and_alerts(tree: Node) -> None:
    numeric = tree.find("section", data_feature="spend_avg_7d")
    stats = numeric.find("table", data_ds="2026-10-04")
    values = {r.attrs["data-stat"]: r.attrs["data-value"] for r in stats.iter("tr")}
    assert values == {"rows": "1000", "nulls": "20", "null_fraction": "0.02", "min": "-4.0", "max": "20.0",
                      "mean": "5.5", "stddev": "3.25", "p50": "5.125", "psi_previous": "0.05",
                      "psi_baseline": "0.31", "kl_previous": "0.04", "kl_baseline": "0.08"}
    assert stats.find("tr", data_stat="rows").find("td").text() == "1,000"
    alerts = numeric.find("div", **{"class": "alerts"})
    assert alerts.attrs["data-count"] == "1"
    assert [(a.attrs["data-metric"], a.attrs["data-against"], a.attrs["data-value"], a.attrs["data-severity"])
            for a in alerts.iter("tr", **{"class": "alert"})] == [("psi", "baseline", "0.31", "warning")]
    text = tree.find("section", data_feature="last_country")
    assert {r.attrs["data-stat"] for r in text.find("table", data_ds="2026-10-04").iter("tr")} == {
        "rows", "nulls", "null_fraction"}
    assert text.find("div", **{"class": "alerts"}).attrs["data-count"] == "1"


def test_page_is_self_contained_and_well_formed(page: str) -> None:
    assert_self_contained(page)
    assert len(svg_charts(page)) == 5
    assert page.startswith("<!doctype html>") and "<style>" in page


def test_summarize_alerts_keeps_the_newest_attempt_of_each_day() -> None:
    retry = {**ATTEMPTS[1], "validated_at": datetime(2026, 10, 5, 4, 0), "alerts": []}
    assert rp.summarize_alerts([*ATTEMPTS, retry]) == {D3: [], D4: []}
    assert rp.summarize_alerts(ATTEMPTS)[D4] == ATTEMPTS[1]["alerts"]


def test_no_statistics_yet() -> None:
    page = rp.render_report("user_transactions", view_of(ENTRY), [], [], generated_at=GENERATED)
    tree = parse(page)
    message = tree.find("p", data_empty="stats")
    assert " ".join(message.text().split()).startswith("no statistics yet: materialize the view (pitstop materialize "
                                                       "user_transactions")
    assert list(tree.iter("section", **{"class": "feature"})) == [] and "<svg" not in page
    assert tree.find("header", **{"class": "report"}).attrs["data-days"] == "0"
    assert tree.find("p", **{"class": "counts"}).attrs["data-passed"] == "0"
    assert_self_contained(page)


def test_single_day_with_null_constant_and_infinite_values() -> None:
    entry = {**ENTRY, "features": [
        {"name": "empty_sum", "dtype": "int64", "function": "sum", "column": "x", "window": "1d"},
        {"name": "flat", "dtype": "float64", "function": "max", "column": "y", "window": "1d"},
        {"name": "flag", "dtype": "bool", "function": "last", "column": "z", "window": None}]}
    stats = [
        _stat(D1, "empty_sum", rows=10, nulls=10, null_fraction=1.0),  # every value null
        _stat(D1, "flat", min=2.0, max=2.0, mean=2.0, stddev=0.0, quantiles=[2.0] * 7, psi_previous=math.inf),
        _stat(D1, "flag", null_fraction=math.nan),
    ]
    page = rp.render_report("v", view_of(entry), stats, [], generated_at=GENERATED)
    tree = parse(page)
    svg_charts(page)  # well formed, no NaN or infinite coordinate
    assert_self_contained(page)
    empty = tree.find("section", data_feature="empty_sum").find("svg", data_chart="distribution")
    assert points(empty, "p50") == [] and "every value is null" in empty.text()
    flat = tree.find("section", data_feature="flat")
    dist = flat.find("svg", data_chart="distribution")
    assert points(dist, "p50") == [("2026-10-01", "2.0")]
    assert (float(dist.attrs["data-y-min"]), float(dist.attrs["data-y-max"])) == pytest.approx((1.8, 2.2))
    assert [t.attrs["data-ds"] for t in dist.iter("text") if "x-label" in t.classes] == ["2026-10-01"]
    assert points(flat.find("svg", data_chart="drift"), "psi_previous") == []  # inf is not plotted
    assert "no histogram yet" in flat.text()
    flag = tree.find("section", data_feature="flag")
    assert points(flag.find("svg", data_chart="null_fraction"), "null_fraction") == []  # NaN is not plotted


def test_script_in_any_value_is_escaped() -> None:
    """Every value the page shows goes through the template's autoescape: names, texts and alert fields
    holding markup appear as text, never as elements."""
    evil = "<script>alert(1)</script>"
    entry = {**ENTRY, "owner": evil, "description": evil, "kind": evil,
             "features": [{**ENTRY["features"][0], "name": evil}, ENTRY["features"][1]]}
    stats = [{**row, "feature": evil} if row["feature"] == "spend_avg_7d" else row for row in STATS]
    attempts = [{**ATTEMPTS[0], "run_id": evil, "summary": evil, "result_path": f"/x/{evil}"},
                {**ATTEMPTS[1], "alerts": [{**ATTEMPTS[1]["alerts"][0], "feature": evil, "metric": evil,
                                            "against": evil, "severity": evil},
                                           {"feature": "schema", "metric": evil, "severity": "error"}]}]
    page = rp.render_report(evil, view_of(entry), stats, attempts, generated_at=GENERATED)
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 20
    tree = parse(page)  # still well formed, the value intact once parsed
    assert tree.find("header", **{"class": "report"}).attrs["data-view"] == evil
    assert tree.find("head").find("title").text() == f"Data quality · {evil} v3"
    section = tree.find("section", data_feature=evil)
    assert section.attrs["id"] == f"feature-{evil}" and section.find("h2").text() == evil
    assert [a.attrs["data-metric"] for a in section.iter("tr", **{"class": "alert"})] == [evil]
    assert [li.attrs["data-metric"] for li in tree.find("section", **{"class": "card view-alerts"}).iter("li")] == [
        evil]
    assert tree.find("tr", data_run_id=evil).find("pre").text() == evil
    assert len(svg_charts(page)) == 5
