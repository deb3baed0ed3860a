"""Consumer machinery: how a service reacts to other services' public events.

`EventConsumer.process` is the whole decision for one Kafka message, independent of
faust so it can be unit-tested: skip if this (topic, partition, offset) was already
processed (tracking record), decode and validate the CloudEvent, run the handler for
its type inside a command context that makes the handler's save() store the tracking
record in the same transaction, retry transient failures a bounded number of times,
and tell the caller to dead-letter what can never succeed.

`EventConsumer.process_batch` does the same for the messages a worker has ready: each
partition's share in one transaction (one position check, the events of every message and
the highest position together), falling back to `process` one message at a time for that
share on any failure, so dead letters, retries and duplicates are decided exactly as above.

`build_worker` wires it into a faust app: one agent over the subscribed topics,
sequential per partition, dead letters to `jingkang.<service>.dlq` with the reason."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError, Tracking

from shared import metrics
from shared.envelope import MAX_MESSAGE_BYTES, CloudEvent, InvalidMessage, decode
from shared.errors import DomainError
from shared.store import META, ServiceApplication, command_context, current_context
from shared.telemetry import context_from_traceparent

log = logging.getLogger("jingkang.consumer")

Handler = Callable[[CloudEvent], None]


@dataclass(frozen=True)
class Outcome:
    status: str  # processed | duplicate | ignored | dead_letter
    tracking: Tracking
    reason: str = ""
    event_type: str | None = None

    @property
    def dead_letter(self) -> bool:
        return self.status == "dead_letter"


def tracking_for(topic: str, partition: int, offset: int) -> Tracking:
    return Tracking(application_name=f"kafka:{topic}:{partition}", notification_id=offset)


class EventConsumer:
    def __init__(
        self,
        app: ServiceApplication,
        service: str,
        handlers: Mapping[str, Handler],
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        conflict_attempts: int = 50,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ):
        self.app = app
        self.service = service
        self.handlers = dict(handlers)
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        # A write conflict (another command saved the aggregate first; nothing was saved) is
        # transient by nature: the next attempt reads the new version. A hot aggregate (a
        # district's placement, also written by API requests) can lose several races in a
        # row, so conflicts have their own, larger bound: dead-lettering one loses its effect.
        self.conflict_attempts = conflict_attempts
        self.max_message_bytes = max_message_bytes  # the size budget: what the relays publish at most

    def process(self, topic: str, partition: int, offset: int, value: bytes | None) -> Outcome:
        tracking = tracking_for(topic, partition, offset)
        last_error: Exception | None = None
        failures = conflicts = 0
        while True:
            try:
                return self._process_once(tracking, value)
            except (InvalidMessage, DomainError) as e:
                # Will never succeed: retrying only delays the partition.
                return Outcome("dead_letter", tracking, reason=f"{type(e).__name__}: {e}")
            except IntegrityError:
                if self.app.has_processed(tracking):  # another instance got there first
                    return Outcome("duplicate", tracking)
                last_error = IntegrityError("conflicting write")
                conflicts += 1
                if conflicts >= self.conflict_attempts:
                    break
                # Short, growing, jittered: the writers that collided do not collide again in step.
                self.sleep(min(0.02 * conflicts, 0.5) * random.uniform(0.5, 1.5))
                continue
            except Exception as e:  # store unavailable, a bug: retry, then dead-letter
                last_error = e
                failures += 1
                log.warning("attempt %d/%d failed for %s@%d: %r", failures, self.attempts, topic, offset, e)
                if failures >= self.attempts:
                    break
                self.sleep(self.backoff_seconds * 2 ** (failures - 1))
        return Outcome("dead_letter", tracking,
                       reason=f"failed after {failures + conflicts} attempts: {last_error!r}")

    def _process_once(self, tracking: Tracking, value: bytes | None) -> Outcome:
        if self.app.has_processed(tracking):
            return Outcome("duplicate", tracking)
        ce = decode(value, self.max_message_bytes)
        handler = self.handlers.get(ce.type)
        if handler is None:
            self.app.record_position(tracking)
            return Outcome("ignored", tracking, event_type=ce.type)
        with command_context(**self._context_of(ce), tracking=tracking) as ctx, handling_span(tracking, ce):
            handler(ce)
            if not ctx.tracking_used:
                self.app.record_position(tracking)
        return Outcome("processed", tracking, event_type=ce.type)

    def process_batch(self, messages: Sequence[tuple[str, int, int, bytes | None]]) -> list[Outcome]:
        """The outcomes of (topic, partition, offset, value) messages, in their order. Each
        partition's messages (in offset order, as Kafka delivers them) are processed together
        in one transaction; a share that fails anywhere is processed again one message at a
        time (`process`), from what the store holds: nothing of the failed attempt was kept."""
        # Aggregates as committed so far in this batch (saved or read by a share that
        # committed), for the next shares to read; emptied when a share fails, since its
        # messages may have changed them and the per-message path saves new versions.
        known: dict[Any, Any] = {}
        shares: dict[tuple[str, int], list[int]] = {}
        for i, (topic, partition, _, _) in enumerate(messages):
            shares.setdefault((topic, partition), []).append(i)
        outcomes: list[Outcome | None] = [None] * len(messages)
        for (topic, partition), indexes in shares.items():
            share = [(messages[i][2], messages[i][3]) for i in indexes]
            together = self._process_together(topic, partition, share, known)
            if together is None:
                known.clear()
                together = [self.process(topic, partition, offset, value) for offset, value in share]
            for i, outcome in zip(indexes, together):
                outcomes[i] = outcome
        return outcomes  # type: ignore[return-value]

    def _process_together(self, topic: str, partition: int, share: list[tuple[int, bytes | None]],
                          known: dict[Any, Any]) -> list[Outcome] | None:
        """One partition's messages in one transaction, or None if any of them failed (the
        caller then takes the per-message path, which knows what to retry and dead-letter).
        Later messages read what earlier ones saved through the command context's held
        events (shared.store: the repository reads held aggregates), as a keyed request does."""
        position = tracking_for(topic, partition, 0).application_name
        try:
            if getattr(getattr(self.app.recorder, "datastore", None), "enable_db_functions", False):
                # As ServiceApplication.save: that insert path drops tracking records (the
                # per-message path then fails the same way, loudly).
                raise RuntimeError("consumers must not use POSTGRES_ENABLE_DB_FUNCTIONS")
            done = self.app.recorder.max_tracking_id(position)  # single-row tracking: one query for the share
            held = _HeldBatch(known)
            outcomes: list[Outcome] = []
            for offset, value in share:
                tracking = tracking_for(topic, partition, offset)
                if done is not None and offset <= done:
                    outcomes.append(Outcome("duplicate", tracking))
                    continue
                ce = decode(value, self.max_message_bytes)
                handler = self.handlers.get(ce.type)
                if handler is None:
                    outcomes.append(Outcome("ignored", tracking, event_type=ce.type))
                else:
                    with command_context(**self._context_of(ce), held=held), handling_span(tracking, ce):
                        handler(ce)
                    outcomes.append(Outcome("processed", tracking, event_type=ce.type))
                held.tracking = tracking  # the highest position: covers every message before it
            if held.tracking is not None:
                self.app.commit(held)
            known.update((k, a) for k, a in held.aggregates.items() if not getattr(a, "pending_events", None))
            return outcomes
        except Exception as e:  # a bad message, a refused command, a conflict, the store: one at a time
            log.info("batch of %d from %s[%d] taken one message at a time: %r", len(share), topic, partition, e)
            return None

    def _context_of(self, ce: CloudEvent) -> dict[str, Any]:
        return dict(actor=f"{self.service}-worker", role="system", correlation_id=ce.get("correlationid") or ce.id,
                    causation_id=ce.id, traceparent=ce.get("traceparent"))

    def dead_lettered(self, outcome: Outcome) -> None:
        """Called once the message is safely in the dead-letter topic."""
        if not self.app.has_processed(outcome.tracking):
            self.app.record_position(outcome.tracking)


@contextlib.contextmanager
def handling_span(tracking: Tracking, ce: CloudEvent) -> Iterator[None]:
    """A message's handling as a CONSUMER span in the trace its event carries (the command's:
    the relay sends the stored traceparent), so what the handler stores joins that trace. Made
    here, around the handling itself: faust's sensor would time the batch reader instead."""
    from opentelemetry import trace

    topic = tracking.application_name.split(":")[1]
    with trace.get_tracer("jingkang.consumer").start_as_current_span(
            f"{topic} process", context=context_from_traceparent(ce.get("traceparent")), kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.system": "kafka", "messaging.destination.name": topic,
                        "messaging.kafka.message.offset": tracking.notification_id, "cloudevents.event_type": ce.type}):
        yield


class _Known(dict):
    """The batch's aggregates by id, as the repository reads them (shared.store._held): one
    with events not saved (changed by a command that then did not save it) is read afresh."""

    def get(self, aggregate_id: Any, default: Any = None) -> Any:
        aggregate = super().get(aggregate_id)
        return default if aggregate is None or getattr(aggregate, "pending_events", None) else aggregate


class _HeldBatch(ProcessingEvent):
    """What the messages of a batch saved, held for its one commit (the command context's
    `held`, as shared.idempotency uses it). Each message's events are stamped with its own
    metadata (correlation, causation) when collected, since the commit runs after all of them.

    It also keeps what the messages read (`remember`, called by the repository), so the
    next messages do not load a station or a contract again: the batch reads as of its
    first load of each aggregate, as one message reads as of its own; a write another
    process made meanwhile to an aggregate the batch saves fails the commit (optimistic
    concurrency) and the share is taken again one message at a time."""

    def __init__(self, known: dict[Any, Any] | None = None) -> None:
        super().__init__()
        self.aggregates = _Known(known or {})

    def remember(self, aggregate: Any) -> None:
        if self.aggregates.get(aggregate.id) is None:
            dict.__setitem__(self.aggregates, aggregate.id, aggregate)

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        first = len(self.events)
        super().collect_events(*objs, **kwargs)
        meta = ServiceApplication._meta(current_context())
        for domain_event in self.events[first:]:
            vars(domain_event)[META] = meta


DEAD_LETTER_MAX_VALUE = 64 * 1024


def dead_letter(outcome: Outcome, topic: str, partition: int, offset: int, value: bytes | None) -> tuple[bytes | None, list]:
    """The dead-letter copy: the original bytes (cut to 64 KiB: a huge message must still
    fit) and headers naming the reason and the source position."""
    headers = [
        ("dlq_reason", outcome.reason[:2000].encode()),
        ("dlq_topic", topic.encode()),
        ("dlq_partition", str(partition).encode()),
        ("dlq_offset", str(offset).encode()),
    ]
    if value is not None and len(value) > DEAD_LETTER_MAX_VALUE:
        headers.append(("dlq_truncated_from", str(len(value)).encode()))
        value = value[:DEAD_LETTER_MAX_VALUE]
    return value, headers


def consumer_for(settings, app: ServiceApplication, handlers: Mapping[str, Handler]) -> EventConsumer:
    return EventConsumer(app, settings.service, handlers, attempts=settings.consumer_attempts,
                         backoff_seconds=settings.consumer_backoff_seconds, max_message_bytes=settings.max_event_bytes)


def _ticker(timer: Callable[[], Any]):
    # A function of no arguments: faust passes the app to timers that take one.
    async def tick() -> None:
        try:
            await asyncio.to_thread(timer)
        except Exception:  # a failed tick is retried at the next one
            log.exception("timer %s failed", getattr(timer, "__name__", timer))

    return tick


def build_worker(consumer: EventConsumer, settings, topics: list[str], timers: Sequence[Callable[[], Any]] = ()):
    """A faust app (consumer group settings.consumer_group) with one agent over `topics`,
    and `timers` run every settings.tick_seconds on the group's leader only (deadlines)."""
    import os

    import faust

    os.makedirs(settings.data_dir, exist_ok=True)

    app = faust.App(
        settings.consumer_group,
        broker=f"kafka://{settings.kafka_bootstrap}",
        datadir=f"{settings.data_dir}/faust-{settings.consumer_group}",
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        topic_partitions=6,
        topic_replication_factor=1,
    )
    # No faust.contrib.opentelemetry sensor: its span runs from the batch reader's taking a message
    # to its taking the next, not around the handling; handling_span() traces the handling.
    for timer in timers:
        app.timer(settings.tick_seconds, on_leader=True, name=f"tick-{getattr(timer, '__name__', 'timer')}")(_ticker(timer))
    if not topics:  # a service that reacts to nothing yet still runs the same processes
        return app
    source = app.topic(*topics, key_type=bytes, value_type=bytes)
    dead_letters = app.topic(settings.dead_letter_topic, key_type=bytes, value_type=bytes)

    batch_size = max(1, getattr(settings, "consumer_batch_size", 1))

    async def react_to(events: list) -> None:
        """Messages in isolation: each processed, ignored, a duplicate, or dead-lettered with
        its reason (EventConsumer never raises for a bad message); the next ones follow. Only
        the infrastructure failing (the dead-letter topic unreachable) stops the agent, and
        then before the positions are acknowledged, so nothing is lost."""
        messages = [(e.message.topic, e.message.partition, e.message.offset, e.message.value) for e in events]
        if len(messages) == 1:
            outcomes = [await asyncio.to_thread(consumer.process, *messages[0])]
        else:
            outcomes = await asyncio.to_thread(consumer.process_batch, messages)
        for event, outcome in zip(events, outcomes):
            msg = event.message
            metrics.CONSUMED.labels(consumer.service, msg.topic, outcome.status).inc()
            highwater = app.consumer.highwater(msg.tp)
            if highwater is not None:
                metrics.CONSUMER_LAG.labels(consumer.service, msg.topic, str(msg.partition)).set(max(0, highwater - msg.offset - 1))
            if outcome.dead_letter:
                metrics.DEAD_LETTERS.labels(consumer.service, msg.topic).inc()
                log.error("dead-lettering %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, outcome.reason)
                value, headers = dead_letter(outcome, msg.topic, msg.partition, msg.offset, msg.value)
                await (await dead_letters.send(key=msg.key, value=value, headers=headers))
                await asyncio.to_thread(consumer.dead_lettered, outcome)
            await stream_of[0].ack(event)

    stream_of: list = []  # the agent's stream (acks go through it)

    @app.agent(source, name=f"jingkang-{consumer.service}-events")
    async def react(stream):
        """Reads on while a batch is processed: what arrived meanwhile (up to batch_size) is
        the next batch, so an idle worker handles a message at once and a busy one takes
        what is ready, with no wait to fill a batch. A message is acknowledged (its offset
        may be committed) only once it is done."""
        stream.enable_acks = False
        stream_of[:] = [stream]
        ready: list = []
        arrived, room = asyncio.Event(), asyncio.Event()
        room.set()

        async def take() -> None:
            async for event in stream.events():
                ready.append(event)
                arrived.set()
                if len(ready) >= batch_size:
                    room.clear()
                    await room.wait()

        async def drain() -> None:
            while True:
                await arrived.wait()
                batch = ready[:]
                ready.clear()
                arrived.clear()
                room.set()
                await react_to(batch)

        tasks = [asyncio.ensure_future(take()), asyncio.ensure_future(drain())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a failure stops the agent, as before
        finally:
            for task in tasks:
                task.cancel()

    return app
