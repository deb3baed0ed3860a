"""OpenTelemetry setup, done once per process by its entry point (never at import).

Trace context crosses Kafka as the W3C `traceparent` header (and CloudEvents
extension), so one trace runs from an HTTP command through the store, the relay
and every consumer. The JSON-lines exporter is for development and end-to-end tests;
production configures an OTLP exporter the usual way."""
from __future__ import annotations

import json
import threading
from typing import Iterable, Mapping, Sequence

from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()


class JsonLinesSpanExporter(SpanExporter):
    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            for span in spans:
                f.write(json.dumps({
                    "name": span.name,
                    "service": span.resource.attributes.get("service.name"),
                    "trace_id": format(span.context.trace_id, "032x"),
                    "span_id": format(span.context.span_id, "016x"),
                    "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
                    "kind": span.kind.name,
                }) + "\n")
        return SpanExportResult.SUCCESS


def setup_tracing(service: str, process: str, trace_file: str | None = None) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": f"jingkang-{service}", "jingkang.process": process}))
    if trace_file:
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(trace_file)))
    trace.set_tracer_provider(provider)
    return provider


def context_from_traceparent(traceparent: str | None) -> context.Context:
    return _propagator.extract({"traceparent": traceparent} if traceparent else {})


def context_from_headers(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> context.Context:
    items = headers.items() if isinstance(headers, Mapping) else (headers or [])
    carrier = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in items if k == "traceparent" and v}
    return _propagator.extract(carrier)


def inject_headers() -> list[tuple[str, bytes]]:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return [(k, v.encode()) for k, v in carrier.items()]
