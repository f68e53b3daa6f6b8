"""The Feature catalog page's pure pieces (document, HTML, freshness), its gatherers and its cache without servers:
a materialization log written by hand as a Delta table (no Spark) and a Redis that is not there."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from pitstop.config import load_config
from pitstop.orchestration.catalog_app import CatalogCache
from pitstop.plan.model import Plan
from pitstop.runtime import catalog_page as cp
from pitstop.runtime import freshness as fr
from pitstop.runtime.context import Context

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "demo_plan.json"
NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
DAG_IDS = {"merchant_transactions": "pitstop__merchant_transactions__v1",
           "user_profile": "pitstop__user_profile__v1",
           "user_transactions": "pitstop__user_transactions__v1"}


@pytest.fixture
def plan() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text())  # type: ignore[no-any-return]


def _run(state: str = "success") -> dict[str, Any]:
    return {"status": "ok", "paused": False,
            "last_run": {"status": "ok", "run_id": "scheduled__2026-10-31", "state": state, "run_type": "scheduled",
                         "data_interval_start": "2026-10-31T00:00:00+00:00",
                         "data_interval_end": "2026-11-01T00:00:00+00:00"},
            "consistency": {"status": "ok", "state": "success", "ds": "2026-10-31"}}


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (42, "42s"), (60, "1m"), (754, "12m"), (3600, "1h"), (18_720, "5h 12m"), (86_400, "1d"),
    (273_600, "3d 4h"), (-90, "-1m")])
def test_human_duration(seconds: float, text: str) -> None:
    assert fr.human_duration(seconds) == text


def test_freshness_lag_is_measured_from_the_snapshot_time() -> None:
    # S(2026-10-31) = 2026-11-01 00:00 UTC; at 2026-11-02 03:00 the snapshot is 1d 3h old, one day behind
    assert fr.freshness_lag(date(2026, 10, 31), NOW) == {
        "ds": "2026-10-31", "snapshot_time": "2026-11-01T00:00:00+00:00", "lag_seconds": 97_200,
        "lag": "1d 3h", "days_behind": 1}
    same_day = fr.freshness_lag(date(2026, 11, 1), NOW)  # the newest day that can exist at NOW
    assert (same_day["lag"], same_day["days_behind"]) == ("3h", 0)
    assert fr.freshness_lag(date(2026, 11, 2), NOW)["days_behind"] == 0  # S(D) still ahead: never negative


def test_catalog_document_lists_every_view_with_its_features(plan: dict[str, Any]) -> None:
    offline = {"user_transactions": {"status": "ok", **fr.freshness_lag(date(2026, 10, 31), NOW),
                                     "first_ds": "2026-10-30", "days": 2}}
    doc = cp.build_catalog(Plan.from_json(plan), now=NOW, offline=offline,
                           airflow={DAG_IDS["user_transactions"]: _run()}, base_url="http://localhost:8080/")
    assert doc["project"] == "demo" and doc["plan_fingerprint"] == plan["fingerprint"]
    assert doc["generated_at"] == "2026-11-02T03:00:00+00:00"
    views = {v["name"]: v for v in doc["views"]}
    assert list(views) == sorted(DAG_IDS)
    assert {n: v["dag_id"] for n, v in views.items()} == DAG_IDS
    tx = views["user_transactions"]
    assert tx["dag_url"] == "http://localhost:8080/dags/pitstop__user_transactions__v1"
    assert (tx["version"], tx["owner"], tx["kind"]) == (1, "fraud-team@example.com", "aggregate")
    assert tx["description"] == "How much, how often and where each card holder spends"
    assert tx["features"][4] == {"name": "amount_sum_7d", "function": "sum", "column": "amount", "window": "7d",
                                 "dtype": "float64"}
    assert [f["name"] for f in views["merchant_transactions"]["features"]] == [
        "count_1d", "count_7d", "amount_sum_7d", "user_id_approx_count_distinct_7d", "lifetime_tx_lifetime"]
    assert views["merchant_transactions"]["features"][-1]["window"] == "lifetime"
    assert views["user_profile"]["features"] == [
        {"name": "country", "function": "latest value", "column": None, "window": None, "dtype": "string"},
        {"name": "credit_limit", "function": "latest value", "column": None, "window": None, "dtype": "float64"},
        {"name": "is_verified", "function": "latest value", "column": None, "window": None, "dtype": "bool"}]
    assert tx["offline"]["ds"] == "2026-10-31" and tx["last_run"]["state"] == "success"
    assert tx["consistency"] == {"status": "ok", "state": "success", "ds": "2026-10-31"}
    assert tx["paused"] is False
    # what was not gathered says so
    assert views["user_profile"]["offline"]["status"] == "unavailable"
    assert views["user_profile"]["last_run"]["status"] == "unavailable"
    for view in views.values():
        assert view["validation"] == view["drift"] == {"status": "unavailable", "reason": "not gathered"}
    json.dumps(doc)  # JSON-ready


def test_offline_only_views_have_no_online_part_and_no_consistency_check(plan: dict[str, Any]) -> None:
    plan["views"]["user_profile"]["online"] = False
    doc = cp.build_catalog(Plan.from_json(plan), now=NOW, online={}, airflow={DAG_IDS["user_profile"]: _run()})
    view = next(v for v in doc["views"] if v["name"] == "user_profile")
    assert view["online_store"]["status"] == "not_online"
    assert view["consistency"]["status"] == "not_online"
    assert view["last_run"]["state"] == "success"


def test_html_page(plan: dict[str, Any]) -> None:
    plan["views"]["user_transactions"]["description"] = "<script>alert(1)</script> & more"
    online = {"user_transactions": {"status": "ok", **fr.freshness_lag(date(2026, 10, 31), NOW), "stale": True,
                                    "delta_version": 3},
              "merchant_transactions": {"status": "never_published", "stale": True},
              "user_profile": {"status": "unavailable", "reason": "cannot reach Redis at redis://127.0.0.1:1/0"}}
    airflow = {DAG_IDS["user_transactions"]: _run("failed"),
               DAG_IDS["merchant_transactions"]: {"status": "unavailable", "reason": "database is locked"}}
    alert = {"feature": "amount_sum_7d", "metric": "psi", "against": "baseline", "value": 0.31, "threshold": 0.2,
             "severity": "warning"}
    quality = {"user_transactions": {"status": "ok", "success": True, "ds": "2026-10-31", "errors": 0, "warnings": 2,
                                     "by_hand": False, "summary": "validation passed: <all>", "alerts_ds": "2026-10-31",
                                     "alerts": [alert, {**alert, "metric": "null_fraction", "against": ""}]},
               "merchant_transactions": {"status": "ok", "success": False, "ds": "2026-10-30", "errors": 1,
                                         "warnings": 0, "by_hand": False, "summary": "validation FAILED", "alerts_ds":
                                         "2026-10-29", "alerts": []},
               "user_profile": {"status": "never", "reason": "no validation yet"}}
    doc = cp.build_catalog(Plan.from_json(plan), now=NOW, online=online, airflow=airflow, quality=quality)
    drift = {v["name"]: v["drift"] for v in doc["views"]}
    assert drift == {"user_transactions": {"status": "ok", "ds": "2026-10-31", "alerts": [alert]},
                     "merchant_transactions": {"status": "ok", "ds": "2026-10-29", "alerts": []},
                     "user_profile": {"status": "never", "reason": "no validation yet"}}
    page = cp.render_html(doc)
    assert page.startswith("<!doctype html>") and page.endswith("</html>")
    assert "as of 2026-11-02 03:00:00 UTC" in page
    for name, dag_id in DAG_IDS.items():
        assert f'id="view-{name}"' in page
        assert f'<a href="../dags/{dag_id}" target="_top"><code>{dag_id}</code></a>' in page
    for feature in ("amount_sum_7d", "merchant_id_count_distinct_30d", "lifetime_tx_lifetime", "credit_limit"):
        assert f"<code>{feature}</code>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page and "<script>" not in page
    assert "fraud-team@example.com" in page
    assert ">stale<" in page and "Delta v3" in page and ">never published<" in page
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in page and "database is locked" in page
    assert '<span class="b bad">failed</span>' in page
    assert '<span title="validation passed: &lt;all&gt;"><span class="b ok">passed</span></span>' in page
    assert "ds 2026-10-31 · 2 warning(s)" in page and "1 error(s), 0 warning(s)" in page
    assert ('<span title="amount_sum_7d psi vs baseline 0.31 &gt; 0.2"><span class="b warn">1 alert(s)</span>'
            in page)
    assert '<span class="b ok">no drift</span>' in page and page.count(">never ran<") >= 1
    # self-contained: inline CSS, nothing loaded from elsewhere
    assert "<style>" in page and not re.search(r"<link|<script|src=|@import|url\(", page)



def test_script_in_any_value_is_escaped(plan: dict[str, Any]) -> None:
    """Every value the page shows goes through the template's autoescape: markup in the plan (names, owner,
    tags, features) and in what was gathered (reasons, summaries, alerts) appears as text, never as elements."""
    evil = "<script>alert(1)</script>"
    view = plan["views"]["user_transactions"]
    view.update(owner=evil, description=evil, tags={evil: evil}, dag_id=evil)
    view["features"][0]["name"] = evil
    alert = {"feature": evil, "metric": evil, "against": evil, "value": 0.31, "threshold": 0.2, "severity": evil}
    quality = {"user_transactions": {"status": "ok", "success": True, "ds": evil, "errors": 0, "warnings": 0,
                                     "by_hand": False, "summary": evil, "alerts_ds": evil, "alerts": []},
               "merchant_transactions": {"status": "unavailable", "reason": evil}}
    online = {"user_transactions": {"status": "ok", "ds": evil, "lag": evil, "stale": False, "delta_version": evil}}
    airflow = {evil: {"status": "ok", "paused": False,
                      "last_run": {"status": "ok", "state": evil, "run_type": evil, "data_interval_start": evil,
                                   "data_interval_end": evil},
                      "consistency": {"status": "ok", "state": evil, "ds": evil}}}
    doc = cp.build_catalog(Plan.from_json(plan), now=NOW, online=online, airflow=airflow, quality=quality)
    doc["project"] = evil
    doc["views"][-1]["drift"] = {"status": "ok", "ds": evil, "alerts": [alert]}
    page = cp.render_html(doc)
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 20
    assert f'<a href="../dags/{evil.replace("<", "&lt;").replace(">", "&gt;")}" target="_top">' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;=&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the tag


def _write_log(table: Path, rows: list[tuple[date, str]]) -> None:
    """A Delta table as Spark writes it, by hand: one parquet file and the commit that adds it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (table / "_delta_log").mkdir(parents=True)
    data = pa.table({"ds": pa.array([r[0] for r in rows], pa.date32()), "kind": [r[1] for r in rows],
                     "rows": pa.array([10] * len(rows), pa.int64()), "run_id": ["r1"] * len(rows)})
    pq.write_table(data, table / "part-00000-a.snapshot.parquet")
    pq.write_table(data.slice(0, 0), table / "part-00000-old.parquet")  # removed in the same commit
    actions = [{"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
               {"add": {"path": "part-00000-old.parquet", "partitionValues": {}, "size": 1, "dataChange": True}}]
    (table / "_delta_log" / f"{0:020d}.json").write_text("\n".join(json.dumps(a) for a in actions) + "\n")
    actions = [{"remove": {"path": "part-00000-old.parquet", "dataChange": True}},
               {"add": {"path": "part-00000-a.snapshot.parquet", "partitionValues": {}, "size": 1,
                        "dataChange": True}}]
    (table / "_delta_log" / f"{1:020d}.json").write_text("\n".join(json.dumps(a) for a in actions) + "\n")


def test_offline_freshness_reads_the_materialization_log_without_spark(tmp_path: Path,
                                                                        plan: dict[str, Any]) -> None:
    (tmp_path / "pitstop.yaml").write_text(f"project: demo\noffline_store:\n  path: {tmp_path / 'delta'}\n")
    config = load_config(tmp_path, env={})
    _write_log(tmp_path / "delta" / "log" / "user_transactions__v1",
               [(date(2026, 10, 30), "snapshot"), (date(2026, 10, 31), "snapshot"), (date(2026, 11, 1), "tiles")])
    (tmp_path / "delta" / "log" / "merchant_transactions__v1" / "_delta_log").mkdir(parents=True)
    _write_log(tmp_path / "delta" / "log" / "user_profile__v1", [(date(2026, 10, 31), "tiles")])
    found = fr.offline_freshness(Context(config, Plan.from_json(plan)), NOW)
    assert found["user_transactions"] == {"status": "ok", **fr.freshness_lag(date(2026, 10, 31), NOW),
                                          "first_ds": "2026-10-30", "days": 2}  # tiles are not snapshots
    assert found["merchant_transactions"]["status"] == "never"  # a log folder without commits
    assert found["user_profile"] == {"status": "never", "reason": "the materialization log records no snapshot yet"}


def test_redis_down_shows_unavailable_for_every_online_view(tmp_path: Path, plan: dict[str, Any]) -> None:
    from pitstop.stores.local_redis import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    (tmp_path / "pitstop.yaml").write_text(f"project: demo\nonline_store:\n  url: {url}\n")
    found = fr.online_freshness(Context(load_config(tmp_path, env={}), Plan.from_json(plan)), NOW)
    assert sorted(found) == sorted(DAG_IDS)
    for part in found.values():
        assert part["status"] == "unavailable"
        assert f"cannot read what is published: Redis at {url}" in part["reason"]
    page = cp.render_html(cp.build_catalog(Plan.from_json(plan), now=NOW, online=found))
    assert page.count('>unavailable:</span> <span class="small">cannot read what is published') == 3


def test_gather_survives_an_airflow_database_error(tmp_path: Path, plan: dict[str, Any]) -> None:
    from pitstop.stores.local_redis import free_port

    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "pitstop_plan.json").write_text(json.dumps(plan))
    (tmp_path / "pitstop.yaml").write_text(f"project: demo\noffline_store:\n  path: {tmp_path / 'delta'}\n"
                                           f"online_store:\n  url: redis://127.0.0.1:{free_port()}/0\n")

    def broken(dag_ids: list[str]) -> dict[str, dict[str, Any]]:
        raise RuntimeError("no such table: dag_run")

    doc = cp.gather(tmp_path, NOW, runs=broken)
    for view in doc["views"]:
        assert view["last_run"] == {"status": "unavailable",
                                    "reason": "Airflow's database: RuntimeError: no such table: dag_run"}
        assert view["offline"]["status"] == "never"
        assert view["online_store"]["status"] == "unavailable"


def test_gather_without_a_plan_says_how_to_make_one(tmp_path: Path) -> None:
    from pitstop.errors import PlanError

    (tmp_path / "pitstop.yaml").write_text("project: demo\n")
    with pytest.raises(PlanError, match=r"no compiled plan at .*pitstop_plan.json: run `pitstop apply`"):
        cp.gather(tmp_path, NOW, runs=lambda ids: {})


def test_cache_rebuilds_only_after_its_time() -> None:
    builds: list[int] = []

    def build() -> dict[str, Any]:
        builds.append(1)
        return {"n": len(builds)}

    cache = CatalogCache(build, seconds=60)
    assert cache.get() == cache.get() == {"n": 1}
    cache.seconds = 0
    assert cache.get() == {"n": 2}


@pytest.mark.subprocess
def test_the_plugin_module_imports_nothing_heavy() -> None:
    """Every Airflow component imports plugins/ (the scheduler and DAG processor too): FastAPI and the page's
    code load on the first request only."""
    import subprocess
    import sys

    plugins = Path(__file__).resolve().parents[2] / "plugins"
    code = ("import sys; import pitstop_catalog as p; "
            "print(sorted(m for m in ('fastapi', 'pitstop.runtime', 'pitstop.runtime.catalog_page', 'pyspark', "
            "'pitstop.runtime.freshness', 'pitstop.orchestration.catalog_app', 'pitstop.orchestration.airflow_db', "
            "'redis', 'great_expectations') if m in sys.modules)); print(p.PitstopCatalogPlugin.name)")
    out = subprocess.run([sys.executable, "-c", code], cwd=plugins, capture_output=True, text=True, check=True,
                         timeout=120)
    assert out.stdout.split("\n")[:2] == ["[]", "pitstop_catalog"]
