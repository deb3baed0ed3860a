"""Event-store wiring shared by every service.

`ServiceApplication` is an `eventsourcing` Application whose every command is
get -> call -> save. Its save() does two things the library leaves to us:

* stamps each new event with its metadata (actor, role, correlation, causation,
  W3C traceparent) so the relay can put them on the wire and an auditor can see who
  did what; the metadata rides in the stored event's state under `_meta`;
* when the command runs inside a consumer (see shared.consumer), records the Kafka
  position being processed as a tracking record *in the same transaction* as the
  new events, so a redelivered message has no second effect.
"""
from __future__ import annotations

import contextlib
from datetime import date
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import JSONTranscoder, ProcessRecorder, Tracking, Transcoding
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.clock import Clock, SystemClock
from shared.errors import NotFound
from shared.metrics import EVENTS_APPENDED

META = "_meta"


@dataclass
class CommandContext:
    """Who is acting, and why: carried into every event the command records."""

    actor: str = "system"
    role: str = "system"
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    tracking: Tracking | None = None
    tracking_used: bool = field(default=False, repr=False)


_current: ContextVar[CommandContext | None] = ContextVar("jingkang_command_context", default=None)


@contextlib.contextmanager
def command_context(**kwargs: Any) -> Iterator[CommandContext]:
    ctx = CommandContext(**kwargs)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def current_context() -> CommandContext | None:
    """The command context of the request or message being handled, if any."""
    return _current.get()


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def event_meta(domain_event: Any) -> Mapping[str, Any]:
    return vars(domain_event).get(META) or {}


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ServiceApplication(Application):
    """Base of each service's Application (Intake, Assessments, Referrals, ...)."""

    def __init__(self, env: Mapping[str, str] | None = None, clock: Clock | None = None):
        self.clock: Clock = clock or SystemClock()
        super().__init__(env=dict(env or {}))

    def construct_recorder(self) -> ProcessRecorder:
        # A process recorder stores tracking records with events, atomically.
        return self.factory.process_recorder()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def save(self, *objs: Any, **kwargs: Any):  # type: ignore[override]
        ctx = _current.get()
        tracking = None
        if ctx is not None and ctx.tracking is not None and not ctx.tracking_used:
            tracking, ctx.tracking_used = ctx.tracking, True
            if getattr(getattr(self.recorder, "datastore", None), "enable_db_functions", False):
                # That insert path ignores tracking records: never lose one silently.
                raise RuntimeError("consumers must not use POSTGRES_ENABLE_DB_FUNCTIONS (tracking would be dropped)")
        processing = ProcessingEvent(tracking=tracking)
        processing.collect_events(*objs, **kwargs)
        meta = self._meta(ctx)
        for domain_event in processing.events:
            vars(domain_event)[META] = meta
        recordings = self._record(processing)
        EVENTS_APPENDED.labels(self.name).inc(len(processing.events))
        self._take_snapshots(processing)
        self._notify(recordings)
        return recordings

    def get_aggregate(self, aggregate_id: Any, cls: type, what: str, shown_id: Any = None) -> Any:
        """The aggregate of that type, or NotFound (also for another aggregate's id in the same store)."""
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(what, shown_id or aggregate_id) from None
        if not isinstance(aggregate, cls):
            raise NotFound(what, shown_id or aggregate_id)
        return aggregate

    def record_position(self, tracking: Tracking) -> None:
        """Mark a consumed message as done when it caused no events."""
        self._record(ProcessingEvent(tracking=tracking))

    def has_processed(self, tracking: Tracking) -> bool:
        return self.recorder.has_tracking_id(tracking.application_name, tracking.notification_id)

    def notifications(self, after: int = 0, page: int = 1000) -> Iterator[Any]:
        """The whole log after a position, in order (replays, projection rebuilds, audits).
        A server-side cursor was measured and was no faster (bench/README.md)."""
        while True:
            batch = self.recorder.select_notifications(start=after, limit=page, inclusive_of_start=False)
            if not batch:
                return
            yield from batch
            after = batch[-1].id

    def ping(self) -> None:
        """Raise if the event store cannot be reached (used by /ready)."""
        self.recorder.max_notification_id()

    @staticmethod
    def _meta(ctx: CommandContext | None) -> dict[str, Any]:
        ctx = ctx or CommandContext()
        meta = {"actor": ctx.actor, "role": ctx.role}
        traceparent = current_traceparent() or ctx.traceparent
        for key, value in (
            ("correlationid", ctx.correlation_id),
            ("causationid", ctx.causation_id),
            ("traceparent", traceparent),
        ):
            if value:
                meta[key] = value
        return meta
