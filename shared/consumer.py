"""Consumer machinery: how a service reacts to other services' public events.

`EventConsumer.process` is the whole decision for one Kafka message, independent of
faust so it can be unit-tested: skip if this (topic, partition, offset) was already
processed (tracking record), decode and validate the CloudEvent, run the handler for
its type inside a command context that makes the handler's save() store the tracking
record in the same transaction, retry transient failures a bounded number of times,
and tell the caller to dead-letter what can never succeed.

`build_worker` wires it into a faust app: one agent over the subscribed topics,
sequential per partition, dead letters to `jingkang.<service>.dlq` with the reason."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from eventsourcing.persistence import IntegrityError, Tracking

from shared import metrics
from shared.envelope import MAX_MESSAGE_BYTES, CloudEvent, InvalidMessage, decode
from shared.errors import DomainError
from shared.store import ServiceApplication, command_context

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
        with command_context(
            actor=f"{self.service}-worker",
            role="system",
            correlation_id=ce.get("correlationid") or ce.id,
            causation_id=ce.id,
            traceparent=ce.get("traceparent"),
            tracking=tracking,
        ) as ctx:
            handler(ce)
            if not ctx.tracking_used:
                self.app.record_position(tracking)
        return Outcome("processed", tracking, event_type=ce.type)

    def dead_lettered(self, outcome: Outcome) -> None:
        """Called once the message is safely in the dead-letter topic."""
        if not self.app.has_processed(outcome.tracking):
            self.app.record_position(outcome.tracking)


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
    from faust.contrib.opentelemetry import setup_opentelemetry

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
    setup_opentelemetry(app)
    for timer in timers:
        app.timer(settings.tick_seconds, on_leader=True, name=f"tick-{getattr(timer, '__name__', 'timer')}")(_ticker(timer))
    if not topics:  # a service that reacts to nothing yet still runs the same processes
        return app
    source = app.topic(*topics, key_type=bytes, value_type=bytes)
    dead_letters = app.topic(settings.dead_letter_topic, key_type=bytes, value_type=bytes)

    async def react_to(msg) -> None:
        """One message, in isolation: processed, ignored, a duplicate, or dead-lettered with its
        reason (EventConsumer.process never raises for a bad message); the next one follows.
        Only the infrastructure failing (the dead-letter topic unreachable) stops the agent,
        and then before the position is committed, so nothing is lost."""
        outcome = await asyncio.to_thread(consumer.process, msg.topic, msg.partition, msg.offset, msg.value)
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

    @app.agent(source, name=f"jingkang-{consumer.service}-events")
    async def react(stream):
        async for event in stream.events():
            await react_to(event.message)

    return app
