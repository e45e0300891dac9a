"""Prometheus metrics of one app (its own registry, so several apps in one process stay apart).

Example:
    >>> metrics = Metrics()
    >>> metrics.observe_request("/v1/classify", "POST", 200, 0.012)
    >>> b'sightkit_requests_total{method="POST",route="/v1/classify",status="200"} 1.0' in metrics.render()
    True
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    """Request counts and latencies per route, batch sizes, queue depth and model load times."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("sightkit_requests", "HTTP requests answered", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("sightkit_request_seconds", "Time to answer a request", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("sightkit_batch_size", "Requests per micro-batch", ["model"],
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("sightkit_queue_depth", "Requests waiting for a batch", ["model"],
                                 registry=self.registry)
        self.load_seconds = Gauge("sightkit_model_load_seconds", "Time to load a model at start-up",
                                  ["task", "model"], registry=self.registry)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
