"""Prometheus metrics of the HTTP API: request counts, latency histograms, the served model.

Each app gets its own :class:`Metrics` (its own ``CollectorRegistry``), so several apps in one
process (tests, benchmarks) do not clash. :class:`MetricsMiddleware` is a pure ASGI middleware:
it times every HTTP request and records it under the *route template* that matched
(``/v1/users/{user_id}/recommendations``, not the raw path), so label cardinality is bounded by
the number of routes; requests matching no route are recorded as ``route="unmatched"`` and
unusual methods as ``method="OTHER"``. Every route is measured, ``/metrics`` and ``/healthz``
included (scrapes and probes show up as their own, cheap, series).

Metrics (``/metrics``, Prometheus text format):

* ``recommender_http_requests_total{method, route, status}``: counter of finished requests.
* ``recommender_http_request_duration_seconds{method, route}``: histogram of the time to answer,
  buckets 1 ms .. 1 s (:data:`LATENCY_BUCKETS`, in seconds).
* ``recommender_model_info{model_version}``: 1 for the model being served, read from
  the app state's served model at scrape time (so it follows every reload; no sample while no model is
  loaded).
* ``recommender_model_reloads_total{outcome}``: reloads through ``POST /v1/admin/reload``,
  ``outcome`` is ``success`` or ``failure``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# seconds: 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000 ms (+Inf is added by prometheus_client)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
OTHER_METHOD = "OTHER"

__all__ = ["CONTENT_TYPE_LATEST", "LATENCY_BUCKETS", "Metrics", "MetricsMiddleware"]


class _ModelCollector(Collector):
    """``recommender_model_info``: the version of the model served now, read at scrape time."""

    def __init__(self, served_version: Callable[[], str | None]):
        self._served_version = served_version

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("recommender_model_info", "The model being served (value 1), by version.",
                                   labels=["model_version"])
        version = self._served_version()
        if version is not None:
            family.add_metric([version], 1.0)
        yield family


class Metrics:
    """The metrics of one app, in a registry of their own.

    ``served_version`` is a callable returning the version of the model served now (or None)."""

    def __init__(self, served_version: Callable[[], str | None]):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("recommender_http_requests", "HTTP requests answered, by route template, "
                                "method and status code.", ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("recommender_http_request_duration_seconds", "Time to answer an HTTP request, "
                                 "by route template and method.", ["method", "route"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.reloads = Counter("recommender_model_reloads", "Model reloads through the admin API, by outcome "
                               "(success, failure).", ["outcome"], registry=self.registry)
        self.unknown_item_events = Counter(
            "recommender_unknown_item_events", "Events received (POST /v1/events) of items the catalog lacks, by "
            "what the server does with them (store, refuse).", ["policy"], registry=self.registry)
        self.registry.register(_ModelCollector(served_version))
        # labelled children, looked up once per label set
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in KNOWN_METHODS else OTHER_METHOD
        series = self._series.get((method, route, status))
        if series is None:
            series = self._series[method, route, status] = (self.requests.labels(method, route, str(status)),
                                                             self.latency.labels(method, route))
        series[0].inc()
        series[1].observe(seconds)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (content type :data:`CONTENT_TYPE_LATEST`)."""
        return generate_latest(self.registry)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class MetricsMiddleware:
    """Pure ASGI middleware timing each HTTP request into ``metrics`` (other scopes pass through)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # if the app raises before answering, the error middleware answers 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # the router writes the matched route into the (shared) scope
            self.metrics.observe(scope.get("method", ""), _route_template(scope), status,
                                 time.perf_counter() - start)
