"""`pitstop serve`: online features over HTTP (Starlette on uvicorn).

    POST /get-online-features   {"features": ["view:feature", ...],
                                 "entities": {"user_id": [1, 2]}          (columns, like Feast)
                                 or "entity_rows": [{"user_id": 1}, ...],
                                 "full_feature_names": false}
                                -> {"features": {column: [values]}, "metadata": {view: {...}}}
    GET  /health                Redis reachable, and each online view's published ds and staleness
    GET  /metrics               Prometheus text: requests by status, latency histogram, Redis errors

Bad requests get 400 (409 when the plan and Redis disagree) with {"error": message}; Redis down is 503.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pitstop.errors import ConnectionFailed, PitstopError, PlanError, UsageError

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from pitstop.runtime.feature_store import FeatureStore

WARM_UP = 1000  # requests after which the objects built so far are frozen out of the collector's view
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """Counters for /metrics; a few integer additions per request."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.redis_errors = 0

    def observe(self, path: str, status: int, seconds: float) -> None:
        self.requests[(path, status)] = self.requests.get((path, status), 0) + 1
        if path == "/get-online-features":
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[i] += 1
                    break
            else:
                self.buckets[-1] += 1
            self.latency_sum += seconds
            self.latency_count += 1

    def render(self) -> str:
        lines = ["# HELP pitstop_requests_total HTTP requests by path and status.",
                 "# TYPE pitstop_requests_total counter"]
        for (path, status), n in sorted(self.requests.items()):
            lines.append(f'pitstop_requests_total{{path="{path}",status="{status}"}} {n}')
        lines += ["# HELP pitstop_request_seconds Latency of /get-online-features.",
                  "# TYPE pitstop_request_seconds histogram"]
        running = 0
        for bound, n in zip([*BUCKETS, float("inf")], self.buckets, strict=True):
            running += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'pitstop_request_seconds_bucket{{le="{le}"}} {running}')
        lines.append(f"pitstop_request_seconds_sum {self.latency_sum}")
        lines.append(f"pitstop_request_seconds_count {self.latency_count}")
        lines += ["# HELP pitstop_redis_errors_total Requests that failed because Redis did not answer.",
                  "# TYPE pitstop_redis_errors_total counter", f"pitstop_redis_errors_total {self.redis_errors}",
                  "# HELP pitstop_gc_collections_total Python garbage collections by generation (2 = full).",
                  "# TYPE pitstop_gc_collections_total counter"]
        for generation, stats in enumerate(gc.get_stats()):
            lines.append(f'pitstop_gc_collections_total{{generation="{generation}"}} {stats["collections"]}')
        return "\n".join(lines) + "\n"


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _entity_rows(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    if "entity_rows" in body:
        rows = body["entity_rows"]
        if not isinstance(rows, list):
            raise UsageError("'entity_rows' must be a list of objects like {\"user_id\": 1}")
        return rows
    entities = body.get("entities")
    if not isinstance(entities, Mapping) or not entities:
        raise UsageError("give 'entities' ({\"user_id\": [1, 2]}) or 'entity_rows' ([{\"user_id\": 1}])")
    columns = list(entities.items())
    if any(not isinstance(v, list) for _, v in columns):
        raise UsageError("each entry of 'entities' must be a list of values, e.g. {\"user_id\": [1, 2]}")
    lengths = {len(v) for _, v in columns}
    if len(lengths) != 1:
        raise UsageError(f"the lists in 'entities' have different lengths: "
                         f"{ {k: len(v) for k, v in columns} }")
    return [{k: v[i] for k, v in columns} for i in range(lengths.pop())]


def build_app(store: FeatureStore) -> Starlette:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    metrics = Metrics()
    reader = store.online_reader()
    plan = store.load_plan()

    def respond(path: str, began: float, status: int, payload: Any) -> Response:
        metrics.observe(path, status, time.perf_counter() - began)
        if metrics.latency_count == WARM_UP and path == "/get-online-features":
            gc.collect()
            gc.freeze()  # caches filled by the warm-up (parsed requests, pools) are never scanned again
        return Response(json.dumps(payload, default=_json, separators=(",", ":")), status_code=status,
                        media_type="application/json")

    async def get_online_features(request: Request) -> Response:
        began = time.perf_counter()
        path = "/get-online-features"
        try:
            body = json.loads(await request.body())
            if not isinstance(body, Mapping):
                raise UsageError("the request body must be a JSON object")
            features = body.get("features")
            if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
                raise UsageError("'features' must be a list of 'view:feature' strings")
            response = reader.read(features, _entity_rows(body),
                                   full_feature_names=bool(body.get("full_feature_names", False)))
        except json.JSONDecodeError as exc:
            return respond(path, began, 400, {"error": f"the request body is not JSON: {exc}"})
        except ConnectionFailed as exc:
            metrics.redis_errors += 1
            return respond(path, began, 503, {"error": str(exc)})
        except PlanError as exc:
            return respond(path, began, 409, {"error": str(exc)})
        except PitstopError as exc:
            return respond(path, began, 400, {"error": str(exc)})
        return respond(path, began, 200, {"features": response.columns,
                                          "metadata": {k: v.to_dict() for k, v in response.metadata.items()}})

    async def health(request: Request) -> Response:
        began = time.perf_counter()
        online = sorted(n for n, v in plan["views"].items() if v["online"])
        try:
            views = {name: reader.published(name).to_dict() for name in online}
        except ConnectionFailed as exc:
            metrics.redis_errors += 1
            return respond("/health", began, 503, {"status": "redis unreachable", "error": str(exc)})
        stale = [n for n, v in views.items() if v["stale"]]
        return respond("/health", began, 200, {"status": "ok", "redis": "reachable", "stale_views": stale,
                                               "views": views})

    async def metrics_endpoint(request: Request) -> Response:
        metrics.observe("/metrics", 200, 0.0)
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": f"no route {request.method} {request.url.path}; routes: "
                                      f"POST /get-online-features, GET /health, GET /metrics"}, status_code=404)

    app = Starlette(routes=[Route("/get-online-features", get_online_features, methods=["POST"]),
                            Route("/health", health, methods=["GET"]),
                            Route("/metrics", metrics_endpoint, methods=["GET"])],
                    exception_handlers={404: not_found})
    gc.collect()
    gc.freeze()  # the long-lived objects built so far are never scanned again: no full-collection pauses
    return app


def serve(store: FeatureStore, host: str, port: int) -> None:
    import uvicorn

    app = build_app(store)
    print(f"pitstop serve: http://{host}:{port} (POST /get-online-features, GET /health, GET /metrics)",
          flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
