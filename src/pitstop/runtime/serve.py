"""`pitstop serve`: online features over HTTP (Starlette on uvicorn).

    POST /get-online-features   {"features": ["view:feature", ...],
                                 "entities": {"user_id": [1, 2]}          (columns, like Feast)
                                 or "entity_rows": [{"user_id": 1}, ...],
                                 "full_feature_names": false}
                                -> {"features": {column: [values]}, "metadata": {view: {...}}}
    GET  /health                Redis reachable, and each online view's published ds and staleness
    GET  /metrics               Prometheus text: requests by path and status, latency histogram, Redis errors

Every answer but /metrics is JSON, errors included: {"error": message}. 400 for a request that cannot work
(not UTF-8 JSON, nested or shaped other than above, an unknown field, both ``entities`` and ``entity_rows``,
a join key of the wrong type or outside its type's range), 404 / 405 for another route or method, 409 when
the plan and Redis disagree, 413 for a body over the limit (``serve.max_body_bytes``, checked against
Content-Length before anything is read and again while a chunked body streams in), 503 when Redis is down,
and a generic 500 for anything unexpected (its traceback goes to the server's log, never to the client).
Every answer, whatever its status, is counted in /metrics.
"""

from __future__ import annotations

import difflib
import gc
import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pitstop.errors import ConnectionFailed, PitstopError, PlanError, UsageError
from pitstop.jsontypes import JSONObject
from pitstop.runtime.online import INT64_MAX, INT64_MIN, check_count, short_repr
from pitstop.values import json_default

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from pitstop.runtime.feature_store import FeatureStore

log = logging.getLogger("pitstop.serve")

WARM_UP = 1000  # requests after which the objects built so far are frozen out of the collector's view
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
REQUEST_FIELDS = ("features", "entities", "entity_rows", "full_feature_names")
ROUTES = {"/get-online-features": "POST", "/health": "GET", "/metrics": "GET"}  # other paths count as "other"
ROUTE_LIST = ", ".join(f"{method} {path}" for path, method in ROUTES.items())
EXAMPLE = '{"features": ["view:feature"], "entities": {"user_id": [1]}}'
MAX_ERROR_CHARS = 2000
INTERNAL_ERROR = "internal error: the server logged its cause"


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


class TooLarge(UsageError):
    """The request body is over the server's limit (413)."""


def _clip(message: str) -> str:
    """An error message short enough to answer with, whatever the request echoed into it."""
    return message if len(message) <= MAX_ERROR_CHARS else f"{message[:MAX_ERROR_CHARS]}... (cut)"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (send a number or null)")


def parse_request(raw: bytes, max_entities: int) -> tuple[list[str], list[JSONObject], bool]:
    """A /get-online-features body -> (features, entity rows, full_feature_names); UsageError (400) for
    anything not UTF-8 JSON of the documented shape. Join key values are checked later by the reader."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"the request body is not UTF-8 text (byte {exc.start}: {exc.reason}); send JSON "
                         f"encoded as UTF-8") from None
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise UsageError("the request body nests arrays or objects too deeply to parse; a request is three "
                         "levels deep at most, e.g. {\"entities\": {\"user_id\": [1]}}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"the request body is not JSON: {exc}") from None
    except ValueError as exc:  # NaN / Infinity, or an integer longer than Python converts
        if "integer string conversion" in str(exc):
            raise UsageError(f"the request body has an integer of more than {sys.get_int_max_str_digits():,} "
                             f"digits; int64 join keys lie in [{INT64_MIN}, {INT64_MAX}]") from None
        raise UsageError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise UsageError(f"the request body must be a JSON object like {EXAMPLE}, got a JSON "
                         f"{_json_type(body)}")
    unknown = [k for k in body if k not in REQUEST_FIELDS]
    if unknown:
        hint = difflib.get_close_matches(unknown[0], REQUEST_FIELDS, n=1) if len(unknown[0]) < 100 else []
        named = ", ".join(short_repr(k) for k in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise UsageError(f"unknown field(s) in the request body: {named}"
                         f"{f' (did you mean {hint[0]!r}?)' if hint else ''}; the fields are "
                         f"{', '.join(REQUEST_FIELDS)}")
    features = body.get("features")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise UsageError(f"'features' must be a list of 'view:feature' strings, got "
                         f"{'nothing' if features is None else 'a JSON ' + _json_type(features)}"
                         f"{' holding other values' if isinstance(features, list) else ''}")
    full_names = body.get("full_feature_names", False)
    if not isinstance(full_names, bool):
        raise UsageError(f"'full_feature_names' must be true or false, got a JSON {_json_type(full_names)}")
    return features, _entity_rows(body, max_entities), full_names


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string", int: "number", float: "number"}.get(type(value),
                                                                                           type(value).__name__)


def _entity_rows(body: Mapping[str, Any], max_entities: int) -> list[JSONObject]:
    if "entity_rows" in body and "entities" in body:
        raise UsageError("give either 'entities' (columns: {\"user_id\": [1, 2]}) or 'entity_rows' (rows: "
                         "[{\"user_id\": 1}, {\"user_id\": 2}]), not both")
    if "entity_rows" in body:
        rows = body["entity_rows"]
        if not isinstance(rows, list):
            raise UsageError(f"'entity_rows' must be a list of objects like {{\"user_id\": 1}}, got a JSON "
                             f"{_json_type(rows)}")
        check_count(len(rows), max_entities)
        return rows
    if "entities" not in body:
        raise UsageError("give 'entities' ({\"user_id\": [1, 2]}) or 'entity_rows' ([{\"user_id\": 1}])")
    entities = body["entities"]
    if not isinstance(entities, dict) or not entities:
        got = "an empty object" if isinstance(entities, dict) else f"a JSON {_json_type(entities)}"
        raise UsageError(f"'entities' must be an object of join keys to lists of values, e.g. "
                         f"{{\"user_id\": [1, 2]}}, got {got}")
    columns = list(entities.items())
    wrong = next((k for k, v in columns if not isinstance(v, list)), None)
    if wrong is not None:
        raise UsageError(f"'entities' {short_repr(wrong)} must be a list of values, e.g. {{\"user_id\": [1, 2]}}, "
                         f"got a JSON {_json_type(entities[wrong])}")
    lengths = {len(v) for _, v in columns}
    if len(lengths) != 1:
        raise UsageError(f"the lists in 'entities' have different lengths: "
                         f"{', '.join(f'{short_repr(k)}: {len(v)}' for k, v in columns[:10])}")
    count = lengths.pop()
    check_count(count, max_entities)
    return [{k: v[i] for k, v in columns} for i in range(count)]


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (TooLarge) from its Content-Length before anything is read, or as soon as a body
    without one (chunked) grows past ``limit``: at most ``limit`` bytes are ever held."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the request body is {int(declared):,} bytes; the limit is {limit:,} bytes "
                       f"(serve.max_body_bytes in pitstop.yaml, or pitstop serve --max-body-bytes); split the "
                       f"request")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body is over the limit of {limit:,} bytes (serve.max_body_bytes in "
                           f"pitstop.yaml, or pitstop serve --max-body-bytes); split the request")
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    from starlette.responses import Response

    return Response(json.dumps(payload, default=json_default, separators=(",", ":")), status_code=status,
                    headers=headers, media_type="application/json")


class _Guard:
    """The outermost layer: counts every answer by path and status for /metrics (the latency of
    /get-online-features too), and answers an exception nothing else caught with a generic JSON 500 while
    its traceback goes to the server's log."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 0

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counted)
        except Exception:
            log.exception("unexpected error answering %s %s", scope.get("method"), _clip(str(scope.get("path"))))
            if status == 0:  # nothing answered yet (Starlette's error handler answers first when it can)
                status = 500
                response = _answer(500, {"error": INTERNAL_ERROR})
                await response(scope, receive, send)
        path = scope["path"] if scope["path"] in ROUTES else "other"
        self.metrics.observe(path, status or 500, time.perf_counter() - began)
        if path == "/get-online-features" and self.metrics.latency_count == WARM_UP:
            gc.collect()
            gc.freeze()  # caches filled by the warm-up (parsed requests, pools) are never scanned again


def build_app(store: FeatureStore, max_body_bytes: int | None = None) -> ASGIApp:
    """The server's ASGI app; ``max_body_bytes`` overrides ``serve.max_body_bytes`` from pitstop.yaml."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    metrics = Metrics()
    reader = store.online_reader()
    plan = store.load_plan()
    limit = store.config.max_body_bytes if max_body_bytes is None else max_body_bytes
    max_entities = store.config.max_entities

    async def get_online_features(request: Request) -> Response:
        try:
            raw = await _read_body(request, limit)
            features, rows, full_names = parse_request(raw, max_entities)
            response = reader.read(features, rows, full_feature_names=full_names)
        except TooLarge as exc:
            return _answer(413, {"error": str(exc)}, {"Connection": "close"})
        except ConnectionFailed as exc:
            metrics.redis_errors += 1
            return _answer(503, {"error": _clip(str(exc))})
        except PlanError as exc:
            return _answer(409, {"error": _clip(str(exc))})
        except PitstopError as exc:
            return _answer(400, {"error": _clip(str(exc))})
        except ClientDisconnect:
            return _answer(499, {"error": "the client closed the connection before its request was read"})
        return _answer(200, {"features": response.columns,
                             "metadata": {k: v.to_dict() for k, v in response.metadata.items()}})

    async def health(request: Request) -> Response:
        online = sorted(n for n, v in plan.views.items() if v.online)
        try:
            views = {name: reader.published(name).to_dict() for name in online}
        except ConnectionFailed as exc:
            metrics.redis_errors += 1
            return _answer(503, {"status": "redis unreachable", "error": str(exc)})
        stale = [n for n, v in views.items() if v["stale"]]
        return _answer(200, {"status": "ok", "redis": "reachable", "stale_views": stale, "views": views})

    async def metrics_endpoint(request: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 400
        path = _clip(request.url.path)
        if status == 404:
            message = f"no route {request.method} {path}; routes: {ROUTE_LIST}"
        elif status == 405:
            message = f"{request.method} is not allowed on {path}; use {ROUTES.get(request.url.path, 'GET')}"
        else:
            message = str(getattr(exc, "detail", exc))
        return _answer(status, {"error": message}, getattr(exc, "headers", None))

    async def internal_error(request: Request, exc: Exception) -> Response:
        return _answer(500, {"error": INTERNAL_ERROR})  # the guard logs the traceback

    app = Starlette(routes=[Route("/get-online-features", get_online_features, methods=["POST"]),
                            Route("/health", health, methods=["GET"]),
                            Route("/metrics", metrics_endpoint, methods=["GET"])],
                    exception_handlers={HTTPException: http_error, Exception: internal_error})
    gc.collect()
    gc.freeze()  # the long-lived objects built so far are never scanned again: no full-collection pauses
    return _Guard(app, metrics)


def serve(store: FeatureStore, host: str, port: int, max_body_bytes: int | None = None) -> None:
    import uvicorn

    if not log.handlers:  # unexpected errors' tracebacks go to stderr, with a time
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    app = build_app(store, max_body_bytes)
    store.reporter.out(f"pitstop serve: http://{host}:{port} (POST /get-online-features, GET /health, "
                       f"GET /metrics)")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
