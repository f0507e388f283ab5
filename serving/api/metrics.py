"""Prometheus metrics: GET /metrics.

Under gunicorn every worker is a process of its own; ``gunicorn.conf.py`` sets
PROMETHEUS_MULTIPROC_DIR so /metrics adds up all workers, whichever one answers.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Blueprint, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

blueprint = Blueprint("metrics", __name__)

REQUESTS = Counter("shoplens_requests_total", "HTTP requests answered", ["endpoint", "method", "status"])
LATENCY = Histogram("shoplens_request_seconds", "Time to answer a request", ["endpoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
PICTURES = Counter("shoplens_pictures_total", "Pictures answered, by outcome (hit, miss, rejected)", ["outcome"])


def count_pictures(results: list[Any]) -> None:
    for result in results:
        outcome = "rejected" if not isinstance(result, dict) else "hit" if result.get("cached") else "miss"
        PICTURES.labels(outcome).inc()


@blueprint.before_app_request
def start_timer() -> None:
    g.started = time.perf_counter()


@blueprint.after_app_request
def observe(response: Response) -> Response:
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"  # bounded label values
    REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
    if "started" in g:
        LATENCY.labels(endpoint).observe(time.perf_counter() - g.started)
    return response


@blueprint.get("/metrics")
def metrics():  # noqa: ANN201 (Flask view)
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
