"""Prometheus metrics: the shared registry's /metrics endpoint, HTTP metrics, role liveness."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from time import perf_counter
from typing import Any, Final, cast

from fastapi.routing import RouteContext, iter_route_contexts
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client import make_asgi_app as _make_prometheus_asgi_app
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maily import __version__

# Product metrics are declared in the module that owns them (e.g. `delivery/metrics.py`)
# on the default registry, with the `maily_` prefix; every role serves that registry.

BUILD_INFO: Final = Info("maily_build", "Version of the running Maily code.")
BUILD_INFO.info({"version": __version__})

ROLE_UP: Final = Gauge(
    "maily_role_up",
    "1 while a role's main loop runs in this process, 0 once it has stopped.",
    ["role"],
)

HTTP_REQUESTS: Final = Counter(
    "maily_http_requests",
    "HTTP requests answered, by route template and status code.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION: Final = Histogram(
    "maily_http_request_duration_seconds",
    "Time from receiving an HTTP request to finishing its response.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_REQUESTS_IN_PROGRESS: Final = Gauge(
    "maily_http_requests_in_progress",
    "HTTP requests being handled right now.",
    ["method"],
)

# Anything else collapses into one label value, so a client inventing methods or
# paths cannot create unbounded time series.
_KNOWN_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
UNMATCHED_ROUTE: Final = "unmatched"


class MetricsApp:
    """ASGI app serving a registry in the Prometheus text (or OpenMetrics) format.

    A class rather than a function so Starlette's `Route` treats it as an ASGI app,
    not as a request/response endpoint.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self._app = cast(ASGIApp, _make_prometheus_asgi_app(registry))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def make_metrics_app(registry: CollectorRegistry = REGISTRY) -> MetricsApp:
    """A standalone ASGI app for the registry (gzip and `name[]` filtering included)."""
    return MetricsApp(registry)


async def metrics_endpoint(request: Request) -> Response:
    """The /metrics route of an app: `app.add_route("/metrics", metrics_endpoint,
    include_in_schema=False)`. Answers OpenMetrics when the scraper asks for it."""
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(REGISTRY), headers={"Content-Type": content_type})


class _RouteIndex:
    """The full path template of every route of one app, by route object.

    FastAPI nests included routers, so a matched route only knows its own path
    (`/{campaign_id}`); the template with its prefixes comes from
    `iter_route_contexts`. Building that list costs more than a request, so it is
    built once per app and looked up by the route the router picked.
    """

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.size = len(routes)
        self.contexts = tuple(iter_route_contexts(routes))
        self.by_route: dict[int, list[RouteContext]] = {}
        for context in self.contexts:
            self.by_route.setdefault(id(context.original_route), []).append(context)


_indexes: weakref.WeakKeyDictionary[Any, _RouteIndex] = weakref.WeakKeyDictionary()


def _index_for(app: Any) -> _RouteIndex | None:
    routes = getattr(app, "routes", None)
    if routes is None:
        return None
    index = _indexes.get(app)
    if index is None or index.size != len(routes):  # routes added after the first request
        index = _indexes[app] = _RouteIndex(routes)
    return index


def route_template(unrouted: Scope, route: object | None) -> str | None:
    """The path template (`/api/v1/campaigns/{campaign_id}`) a request was routed to.

    `unrouted` is a copy of the scope taken before routing (routers rewrite
    `root_path`, `path_params` and, in mounted apps, `app` in place); `route` is the
    `scope["route"]` the router left, None when nothing matched.
    """
    if route is None:
        return None
    index = _index_for(unrouted.get("app"))
    if index is None:
        return None
    candidates = index.by_route.get(id(route))
    if candidates is not None and len(candidates) == 1:
        return candidates[0].path_format
    # The same router included twice, or a route inside a mounted app: match the
    # request against the candidates (all routes, for a mount) as the router did.
    partial: str | None = None
    for context in candidates or index.contexts:
        match, _ = context.matches(unrouted)
        if match is Match.FULL:
            return context.path_format
        if match is Match.PARTIAL and partial is None:
            partial = context.path_format  # e.g. 405: right path, wrong method
    return partial


class HTTPMetricsMiddleware:
    """Pure ASGI middleware counting requests and timing them, labelled by route template.

    Add it with `app.add_middleware(HTTPMetricsMiddleware)` so `scope["app"]` is set.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        method = scope["method"] if scope["method"] in _KNOWN_METHODS else "other"
        unrouted: dict[str, Any] = dict(scope)
        status = 500  # what the client gets if the app raises before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_progress = HTTP_REQUESTS_IN_PROGRESS.labels(method)
        in_progress.inc()
        started = perf_counter()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = perf_counter() - started
            in_progress.dec()
            route = route_template(unrouted, scope.get("route")) or UNMATCHED_ROUTE
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_REQUEST_DURATION.labels(method, route).observe(elapsed)
