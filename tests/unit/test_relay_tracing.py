"""The relay's producer span per message: the traceparent header it puts on the message names
that span, in the trace of the command that stored the event (so the consumer continues it)."""
from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared.telemetry import context_from_headers, context_from_traceparent, span_headers

STORED = "00-" + "a1" * 16 + "-" + "b2" * 8 + "-01"


def test_the_header_names_the_producer_span_in_the_commands_trace():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("test").start_span("t publish", context=context_from_traceparent(STORED), kind=SpanKind.PRODUCER)
    headers = span_headers(span)
    span.end()
    (finished,) = exporter.get_finished_spans()
    assert finished.parent.span_id == int("b2" * 8, 16) and finished.context.trace_id == int("a1" * 16, 16)
    # What a consumer reads from the header is that span, as inject_headers() would have said.
    continued = context_from_headers(headers)
    from opentelemetry import trace
    parent = trace.get_current_span(continued).get_span_context()
    assert (parent.trace_id, parent.span_id, parent.trace_flags) == (
        finished.context.trace_id, finished.context.span_id, finished.context.trace_flags)


def test_no_header_without_a_trace():
    from opentelemetry.trace import INVALID_SPAN

    assert span_headers(INVALID_SPAN) == []
