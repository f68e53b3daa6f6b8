"""The "Feature catalog" page of the Airflow 3 UI: every pitstop view with its features, owner, version,
freshness offline and online, its DAG's last run, the last consistency check, and a link to the DAG.

The Airflow 3 plugin mechanism: a FastAPI app mounted by the api-server at /pitstop (``/pitstop/catalog``
is the page, ``/pitstop/api/catalog`` the same data as JSON; both need a logged-in user) and an external
view that puts "Feature catalog" in the UI's navigation, embedding the page.

Every Airflow component imports this file (the scheduler and the DAG processor too), so it imports nothing
heavy: FastAPI and pitstop's catalog modules are imported by the first request to the app, in the api-server
only. This file wires them: the web app (pitstop.orchestration.catalog_app) serves the document that
pitstop.runtime.catalog_page gathers, with the DAG runs read from Airflow's database
(pitstop.orchestration.airflow_db). The feature repository is this folder's parent, or $PITSTOP_REPO.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

_REPO = Path(os.environ.get("PITSTOP_REPO") or Path(__file__).resolve().parent.parent)


class LazyCatalogApp:
    """An ASGI app that builds the catalog's FastAPI app on its first request."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._app: Any = None
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = _catalog_app(self.repo)
        await self._app(scope, receive, send)


def _catalog_app(repo: Path) -> Any:
    from pitstop.orchestration.airflow_db import airflow_runs
    from pitstop.orchestration.catalog_app import create_app
    from pitstop.runtime.catalog_page import gather, render_html

    return create_app(repo, lambda base_url: gather(repo, runs=airflow_runs, base_url=base_url), render_html)


class PitstopCatalogPlugin(AirflowPlugin):
    name = "pitstop_catalog"
    fastapi_apps: ClassVar[list[Any]] = [
        {"app": LazyCatalogApp(_REPO), "url_prefix": "/pitstop", "name": "pitstop feature catalog"}]
    external_views: ClassVar[list[Any]] = [{
        "name": "Feature catalog",
        "href": "/pitstop/catalog",
        "url_route": "feature-catalog",  # shown embedded at /plugin/feature-catalog
        "destination": "nav",
        "category": "browse",
    }]
