"""The Feature catalog page served by a real `airflow api-server` (the plugin in plugins/ on the demo repo).

The api-server gets an Airflow home of its own (same settings as the session's), so the DAG run this test
creates cannot reach the scheduler tests' database.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

VIEWS = {
    "merchant_transactions": ("pitstop__merchant_transactions__v1",
                              ["count_1d", "count_7d", "amount_sum_7d", "user_id_approx_count_distinct_7d",
                               "lifetime_tx_lifetime"]),
    "user_profile": ("pitstop__user_profile__v1", ["country", "credit_limit", "is_verified"]),
    "user_transactions": ("pitstop__user_transactions__v1",
                          ["count_1d", "count_7d", "count_30d", "amount_sum_1d", "amount_sum_7d", "amount_sum_30d",
                           "amount_avg_1d", "amount_avg_7d", "amount_avg_30d", "amount_max_1d", "amount_max_7d",
                           "amount_max_30d", "merchant_id_count_distinct_7d", "merchant_id_count_distinct_30d"]),
}
START_TIMEOUT_S = 90


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Server:
    url: str
    token: str
    log: Path

    def get(self, path: str, *, auth: bool = True) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url + path)
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=30) as reply:
                return reply.status, dict(reply.headers), reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()


def _token(url: str, home: Path) -> str:
    from pitstop.orchestration.local import ADMIN_USER, admin_password

    password = admin_password(home)
    assert password, f"no generated admin password in {home}"
    body = json.dumps({"username": ADMIN_USER, "password": password}).encode()
    request = urllib.request.Request(f"{url}/auth/token", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return str(json.loads(reply.read())["access_token"])


@pytest.fixture(scope="module")
def server(airflow_home: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from pitstop.errors import SetupError
    from pitstop.orchestration.local import stop, wait_healthy
    from pitstop.stores.local_redis import free_port

    home = tmp_path_factory.mktemp("catalog-airflow")
    port = free_port()
    env = dict(airflow_home.env)
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/"})
    airflow = type(airflow_home)(airflow_home.repo, home, env)
    airflow.run("db", "migrate", timeout=300)
    airflow.run("dags", "reserialize", timeout=300)  # the DAGs in the database, paused, no runs
    # one queued run (no scheduler here): the catalog shows its state and data interval
    airflow.run("dags", "trigger", VIEWS["user_transactions"][0], "--logical-date", "2026-10-31T00:00:00+00:00")
    log = home / "api-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(Path(env["PATH"].split(os.pathsep)[0]) / "airflow"), "api-server"], env=env,
                                cwd=airflow.repo, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://localhost:{port}"
        try:
            wait_healthy(port, proc, timeout=START_TIMEOUT_S, components=("metadatabase",), log=log)
        except SetupError as exc:
            pytest.fail(str(exc))
        yield Server(url, _token(url, home), log)
    finally:
        stop(proc, timeout=30)  # the api-server and its workers: the group started above


def test_plugin_is_listed_with_its_app_and_nav_entry(server: Server) -> None:
    status, _, body = server.get("/api/v2/plugins")
    assert status == 200, body[:2000]
    plugins = {p["name"]: p for p in json.loads(body)["plugins"]}
    plugin = plugins["pitstop_catalog"]
    assert plugin["fastapi_apps"] == [{"app": "pitstop_catalog.LazyCatalogApp", "url_prefix": "/pitstop",
                                       "name": "pitstop feature catalog"}]
    assert plugin["external_views"] == [{"name": "Feature catalog", "href": "/pitstop/catalog",
                                         "url_route": "feature-catalog", "destination": "nav", "category": "browse",
                                         "icon": None, "icon_dark_mode": None, "nav_top_level": False}]
    status, _, body = server.get("/api/v2/importErrors")
    assert status == 200 and json.loads(body)["total_entries"] == 0, body[:2000]


def test_catalog_json(server: Server) -> None:
    status, headers, body = server.get("/pitstop/api/catalog")
    assert status == 200, body[:2000]
    assert headers["content-type"] == "application/json"
    doc = json.loads(body)
    assert doc["project"] == "demo"
    views = {v["name"]: v for v in doc["views"]}
    assert list(views) == sorted(VIEWS)
    for name, (dag_id, features) in VIEWS.items():
        view = views[name]
        assert view["dag_id"] == dag_id
        assert view["dag_url"] == f"{server.url}/dags/{dag_id}"
        assert [f["name"] for f in view["features"]] == features
        assert (view["version"], view["owner"]) == (1, "fraud-team@example.com")
        # the demo copy is applied, not materialized: nothing in Delta, nothing in Redis (which is up)
        assert view["offline"]["status"] == "never"
        assert view["online_store"] == {"status": "never_published", "stale": True}
        assert view["paused"] is True
        assert view["consistency"] == {"status": "never", "reason": "no finished monitor task yet"}
        assert view["validation"] == view["drift"] == {"status": "never", "reason": "no validation yet"}
    run = views["user_transactions"]["last_run"]
    assert (run["status"], run["state"], run["run_type"]) == ("ok", "queued", "manual")
    # the same run, state and data interval as Airflow's REST API reports
    status, _, body = server.get(f"/api/v2/dags/{VIEWS['user_transactions'][0]}/dagRuns")
    assert status == 200, body[:2000]
    [api_run] = json.loads(body)["dag_runs"]
    assert run["run_id"] == api_run["dag_run_id"] and api_run["state"] == "queued"
    for key in ("data_interval_start", "data_interval_end"):
        assert datetime.fromisoformat(run[key]) == datetime.fromisoformat(api_run[key].replace("Z", "+00:00"))
    for name in ("merchant_transactions", "user_profile"):
        assert views[name]["last_run"] == {"status": "no_runs", "reason": "no run yet (the DAG is paused)"}


def test_catalog_page(server: Server) -> None:
    status, headers, body = server.get("/pitstop/catalog")
    assert status == 200, body[:2000]
    assert headers["content-type"].startswith("text/html")
    page = body.decode()
    assert "<h1>Feature catalog</h1>" in page
    for name, (dag_id, features) in VIEWS.items():
        assert f'id="view-{name}"' in page
        assert f'<a href="../dags/{dag_id}" target="_top">' in page
        for feature in features:
            assert f"<code>{feature}</code>" in page
    assert '<span class="b run">queued</span>' in page
    assert page.count(">never materialized<") == 3 and page.count(">never published<") == 3


def test_catalog_needs_a_login(server: Server) -> None:
    status, headers, _ = server.get("/pitstop/catalog", auth=False)  # a person: sent to the login page
    assert status == 307 and headers["location"].startswith("/auth/login?next=")
    status, _, _ = server.get("/pitstop/api/catalog", auth=False)
    assert status == 401
