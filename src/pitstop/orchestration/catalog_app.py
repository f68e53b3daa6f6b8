"""The Feature catalog's web app inside Airflow's api-server (mounted at /pitstop by plugins/pitstop_catalog.py):
``/catalog`` (HTML) and ``/api/catalog`` (JSON), only for users the Airflow auth manager has logged in (the UI's
cookie, or a bearer token). Answers are cached for ``CACHE_SECONDS``.

The app only serves and checks the login: the plugin hands it the function that builds the catalog document
(pitstop.runtime.catalog_page.gather, with the DAG runs from pitstop.orchestration.airflow_db.airflow_runs) and
the one that renders it (pitstop.runtime.catalog_page.render_html).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop.errors import reason_of
from pitstop.jsontypes import JSONObject

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

CACHE_SECONDS = 30.0


@dataclass
class CatalogCache:
    """The newest document, rebuilt at most every ``seconds`` (requests in between share it)."""

    build: Callable[[], JSONObject]
    seconds: float = CACHE_SECONDS
    _doc: JSONObject | None = None
    _at: float = -math.inf

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def get(self) -> JSONObject:
        with self._lock:
            if self._doc is None or time.monotonic() - self._at >= self.seconds:
                self._doc = self.build()
                self._at = time.monotonic()
            return self._doc


def create_app(repo: Path, build: Callable[[str], JSONObject],
               render: Callable[[Mapping[str, Any]], str]) -> FastAPI:
    """The plugin's FastAPI app (mounted at /pitstop): ``/catalog`` (HTML) and ``/api/catalog`` (JSON), for
    users the Airflow auth manager has logged in (the UI's cookie, or a bearer token). ``build(base_url)``
    makes the catalog document of the repository ``repo`` (the UI's base URL gives the DAG links);
    ``render(document)`` makes its page."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import requires_authenticated
    from airflow.configuration import conf
    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

    base_url = conf.get("api", "base_url", fallback="") or ""
    cache = CatalogCache(lambda: build(base_url))
    app = FastAPI(title="pitstop feature catalog", docs_url=None, redoc_url=None, openapi_url=None)
    authenticated = [Depends(requires_authenticated())]

    @app.exception_handler(HTTPException)
    async def login_first(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 401 and request.scope.get("route") is page_route:  # a person: to the login page
            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)))
        return await http_exception_handler(request, exc)

    def document() -> JSONObject:
        try:
            return cache.get()
        except Exception as exc:  # no plan, unreadable pitstop.yaml: say so, with the fix in the message
            log.exception("catalog: building the catalog of %s failed", repo)
            raise HTTPException(status_code=503, detail=f"feature catalog of {repo}: {reason_of(exc)}") from exc

    @app.get("/catalog", response_class=HTMLResponse, dependencies=authenticated)
    def catalog_page() -> HTMLResponse:
        return HTMLResponse(render(document()))

    page_route = next(r for r in app.routes if getattr(r, "endpoint", None) is catalog_page)

    @app.get("/api/catalog", dependencies=authenticated)
    def catalog_json() -> JSONResponse:
        return JSONResponse(document())

    return app
