"""Prometheus metrics, one registry per process. The API serves them at /metrics; the
relay and worker processes serve them on JINGKANG_<SVC>_METRICS_PORT when it is set.
Labels are service, route templates and outcomes: never ids or personal data."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

REQUESTS = Counter("jingkang_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
COMMAND_SECONDS = Histogram("jingkang_http_request_seconds", "HTTP request latency", ["service", "method", "route"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
EVENTS_APPENDED = Counter("jingkang_events_appended_total", "Domain events stored", ["service"])
RELAY_LAG = Gauge("jingkang_relay_lag_events", "Stored position minus published position", ["service"])
RELAY_BLOCKED = Gauge("jingkang_relay_blocked", "1 while the relay cannot publish the event at its position", ["service"])
RELAY_PUBLISHED = Counter("jingkang_relay_published_total", "Log entries the relay has published", ["service"])
DEADLINE_FAILURES = Counter("jingkang_deadline_failures_total", "Deadline entries that raised (isolated, recorded)",
                            ["service", "kind"])
CONSUMED = Counter("jingkang_consumer_messages_total", "Messages handled by a worker", ["service", "topic", "outcome"])
DEAD_LETTERS = Counter("jingkang_dead_letters_total", "Messages sent to the dead-letter topic", ["service", "topic"])
CONSUMER_LAG = Gauge("jingkang_consumer_lag_messages", "Partition high-water mark minus the message handled",
                     ["service", "topic", "partition"])


def serve(port: int | None) -> None:
    if port:
        start_http_server(port, addr="127.0.0.1")
