"""The outbox relay: follows a service's notification log and publishes each stored
event's public form to Kafka, in log order, keyed by subject.

Publishing never happens inside a request. The relay records the last published log
position as a tracking record in the service's own store *after* Kafka acknowledged
the batch (acks=all, idempotent producer), so a crash loses nothing and at worst
republishes the tail of a batch (same CloudEvent ids; consumers deduplicate).
Exactly one relay runs per service.

**When an event cannot be published** (the broker refuses it, or its public form cannot be
made), the relay publishes everything before it, then stops there: later events wait,
because an event about a client must not overtake an earlier one. It says so once, loudly:
one error log line naming the position and the reason, `jingkang_relay_blocked` = 1,
`jingkang_relay_lag_events` = stored − published (growing), and a `Blocked` record in the
store (shared/outbox.py) that turns the API's /ready red; it is declared blocked after
BLOCKED_AFTER_FAILURES failures in a row there. It retries with exponential backoff (up
to RELAY_MAX_BACKOFF_SECONDS), so a transient cause (a broker restart) heals by itself
(and records `Resumed` if it had been declared blocked).

An operator resolves a permanent cause without touching the stored event (it is immutable
and hash-chained): `python -m shared.relayctl status <service>` shows the position and the
reason, and `python -m shared.relayctl withhold <service> <position> --reason too_large
--note "..." --by <staff id>` records an attributed `Withheld` decision; the relay then
publishes the public marker `jingkang.<service>.EventWithheld.v1` in its place (same key,
same sequence), and moves on. See README "Operations"."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterable
from urllib.parse import urlparse

from eventsourcing.persistence import Tracking
from kafka import KafkaProducer
from kafka.errors import KafkaError
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from shared.chain import MemorySeals, Seals, Sealer, seals_for
from shared.contract import PublicEvent, event_type
from shared.contract.withheld import WITHHELD
from shared.metrics import RELAY_BLOCKED, RELAY_LAG, RELAY_PUBLISHED
from shared.envelope import CONTENT_TYPE, encode_cloudevent, event_id
from shared.outbox import RelayOutbox, outbox_of
from shared.settings import DEFAULT_MAX_EVENT_BYTES, KAFKA_OVERHEAD_BYTES
from shared.store import ServiceApplication, command_context, event_meta

log = logging.getLogger("jingkang.relay")
POSITION = "kafka-relay"
RELAY_FIRST_BACKOFF_SECONDS = 1.0
RELAY_MAX_BACKOFF_SECONDS = 60.0
# Failures in a row at one position before the relay calls itself blocked: a broker restart
# or a leader election is retried quietly (a warning), not reported as an incident.
BLOCKED_AFTER_FAILURES = 3

ToPublic = Callable[[Any], Iterable[PublicEvent]]


def make_producer(bootstrap: str, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="jingkang-relay",
        acks="all",
        enable_idempotence=True,  # broker drops retried duplicates; order kept per partition
        linger_ms=5,
        retries=5,
        max_in_flight_requests_per_connection=5,
        # The size budget plus room for key, headers and framing; the broker's
        # message.max.bytes is at least this (README "Size budget").
        max_request_size=max_event_bytes + KAFKA_OVERHEAD_BYTES,
    )


class RelayBlocked(Exception):
    """The event at `position` could not be published; nothing after it was."""

    def __init__(self, position: int, reason: str):
        super().__init__(f"blocked at position {position}: {reason}")
        self.position = position
        self.reason = reason


def reason_of(error: BaseException) -> str:
    """What went wrong, without the payload: Kafka's messages name sizes and partitions;
    other errors (a public form that cannot be built) only by their type, since their
    message may quote the event's values."""
    if isinstance(error, KafkaError):
        return f"{type(error).__name__}: {error}"[:300]
    return type(error).__name__


class OutboxRelay:
    def __init__(self, app: ServiceApplication, service: str, to_public: ToPublic, producer: KafkaProducer, *,
                 batch_size: int = 500, seals: Seals | None = None,
                 max_backoff_seconds: float = RELAY_MAX_BACKOFF_SECONDS):
        self.app = app
        self.sealer = Sealer(seals or MemorySeals())
        self.service = service
        self.topic = f"jingkang.{service}.v1"
        self.to_public = to_public
        self.producer = producer
        self.batch_size = batch_size
        self.max_backoff_seconds = max_backoff_seconds
        self.tracer = trace.get_tracer("jingkang.relay")
        self._span_name = f"{self.topic} publish"
        self._content_type = CONTENT_TYPE.encode()
        self.blocked: RelayBlocked | None = None  # as last recorded (logged and stored once)
        self._failing: list = [0, 0]  # [position, failures in a row there]
        self._outbox_read = False

    def published_position(self) -> int:
        return self.app.recorder.max_tracking_id(POSITION) or 0

    def lag(self) -> int:
        return (self.app.recorder.max_notification_id() or 0) - self.published_position()

    def publish_batch(self) -> int:
        """Publish the next batch; return how many log entries it covered. Raises
        RelayBlocked after publishing what came before an event that cannot be."""
        start = self.published_position()
        notifications = self.app.recorder.select_notifications(start=start, limit=self.batch_size, inclusive_of_start=False)
        if not notifications:
            return 0
        outbox = self._outbox()
        try:
            futures, failure = self._send(notifications, outbox)
            self.producer.flush()
            for position, future in futures:
                if failure is not None and position >= failure[0]:
                    break
                try:
                    future.get(timeout=30)  # raises if Kafka did not take it
                except Exception as e:
                    failure = (position, e)
                    break
        except Exception:
            self.sealer.reset()
            raise
        published = [n for n in notifications if failure is None or n.id < failure[0]]
        if published:
            # Seals first: a crash before the position only repeats them. Only a prefix was
            # published when a failure cut the batch: only its seals are kept.
            self.sealer.commit(through=published[-1].id if failure is not None else None)
            self.app.recorder.insert_tracking(Tracking(POSITION, published[-1].id))
            RELAY_PUBLISHED.labels(self.service).inc(len(published))
        else:
            self.sealer.reset()
        if failure is not None:
            reason = reason_of(failure[1])
            self._record_failure(failure[0], reason)
            raise RelayBlocked(failure[0], reason)
        self._failing = [0, 0]
        if self.blocked is not None:
            self._record_resumed()
        return len(published)

    def _outbox(self) -> RelayOutbox | None:
        # Decisions only concern the position the relay is blocked at: read them at start
        # and while blocked, not for every batch of a healthy relay.
        if self._outbox_read and self.blocked is None:
            return None
        self._outbox_read = True
        outbox = outbox_of(self.app)
        if outbox is not None and outbox.blocked_at is not None and self.blocked is None:
            self.blocked = RelayBlocked(outbox.blocked_at, outbox.reason or "")  # blocked before a restart
        return outbox

    def _send(self, notifications, outbox: RelayOutbox | None) -> tuple[list, tuple[int, Exception] | None]:
        """Send in order; stop at the first notification that cannot be sent. The batch's
        messages are all made first and then handed to the producer in one tight loop, as the
        raw producer is: sends interleaved with the making of each message left the producer's
        sender thread draining batches of one or two messages (a request and a wake-up each)."""
        messages, failure = self._messages(notifications, outbox)
        futures = []
        # One producer span per batch (a span per message was a fifth of the relay's CPU per
        # event); each message carries the traceparent of the command that stored it, so the
        # consumer's span continues that command's trace.
        with self.tracer.start_as_current_span(self._span_name, kind=trace.SpanKind.PRODUCER, attributes={
                "messaging.system": "kafka", "messaging.destination.name": self.topic,
                "messaging.batch.message_count": len(messages)}) as span:
            for position, key, value, headers in messages:
                try:
                    futures.append((position, self.producer.send(self.topic, key=key, value=value, headers=headers)))
                except Exception as e:
                    span.record_exception(e)
                    span.set_status(Status(StatusCode.ERROR, type(e).__name__))
                    return futures, (position, e)
        return futures, failure

    def _messages(self, notifications, outbox: RelayOutbox | None) -> tuple[list, tuple[int, Exception] | None]:
        """The Kafka messages of the notifications, in order, up to the first one whose public
        form cannot be made (and that failure)."""
        messages: list = []
        for notification in notifications:
            try:
                chainhash = self.sealer.seal(notification)
                domain_event = self.app.mapper.to_domain_event(notification)
                meta = {**event_meta(domain_event), "chainhash": chainhash.hex()}
                withheld = outbox.withheld_at(notification.id) if outbox is not None else None
                publics = (self._marker(domain_event, withheld) if withheld
                           else list(self.to_public(domain_event)))
                made = [self._message(public, notification, domain_event, meta) for public in publics]
            except Exception as e:
                return messages, (notification.id, e)
            messages += made
        return messages, None

    def _message(self, public: PublicEvent, notification, domain_event, meta) -> tuple:
        value = encode_cloudevent(
            public,
            id=event_id(self.service, notification.originator_id, notification.originator_version, public),
            time=domain_event.timestamp,
            sequence=notification.id,
            meta=meta,
        )
        headers = [("content-type", self._content_type), ("ce_type", event_type(type(public)).encode())]
        if meta.get("traceparent"):
            headers.append(("traceparent", meta["traceparent"].encode()))
        return notification.id, public.subject.encode(), value, headers

    def _marker(self, domain_event, reason: str) -> list[PublicEvent]:
        """The EventWithheld markers that stand for a withheld event: one per public form
        it has (same key, so per-subject order holds), or one keyed by its aggregate when
        even its public form cannot be made."""
        marker = WITHHELD[self.service]
        try:
            publics = list(self.to_public(domain_event))
        except Exception:
            return [marker(subject_id=str(domain_event.originator_id), withheld_type=None, reason=reason)]
        return [marker(subject_id=p.subject, withheld_type=event_type(type(p)), reason=reason) for p in publics]

    def _record_failure(self, position: int, reason: str) -> None:
        if self._failing[0] != position:
            self._failing = [position, 0]
            if self.blocked is None:
                log.warning("relay of %s could not publish position %d: %s; retrying", self.topic, position, reason)
        self._failing[1] += 1
        if self._failing[1] >= BLOCKED_AFTER_FAILURES or self.blocked is not None:
            self._record_blocked(position, reason)

    def _record_blocked(self, position: int, reason: str) -> None:
        RELAY_BLOCKED.labels(self.service).set(1)
        if self.blocked is not None and self.blocked.position == position and self.blocked.reason == reason:
            return  # already said, already stored: not once per retry
        self.blocked = RelayBlocked(position, reason)
        log.error("relay of %s blocked at position %d: %s; later events wait. If this does not heal, see "
                  "`python -m shared.relayctl status %s` (README Operations)", self.topic, position, reason, self.service)
        self._save_outbox(lambda outbox: outbox.blocked(position=position, reason=reason, at=self.app.clock.now()))

    def _record_resumed(self) -> None:
        assert self.blocked is not None
        position = self.blocked.position
        log.warning("relay of %s resumed past position %d", self.topic, position)
        self.blocked = None
        RELAY_BLOCKED.labels(self.service).set(0)
        self._save_outbox(lambda outbox: outbox.resumed(position=position))

    def _save_outbox(self, change: Callable[[RelayOutbox], None]) -> None:
        try:
            with command_context(actor=f"{self.service}-relay", role="system"):
                outbox = outbox_of(self.app) or RelayOutbox()
                change(outbox)
                self.app.save(outbox)
        except Exception:  # the store is down too: the log line and the metric still tell
            log.warning("could not record the relay's state in the store", exc_info=True)

    def run(self, stop: threading.Event, wait_for_events: Callable[[float], None]) -> None:
        log.info("relay for %s starting at position %d", self.topic, self.published_position())
        failures = 0
        while not stop.is_set():
            try:
                published = self.publish_batch()
                failures = 0
                if published == 0:
                    wait_for_events(1.0)
            except RelayBlocked:
                failures += 1  # logged once by _record_blocked
            except Exception:  # broker or store down: back off and retry, never skip
                failures += 1
                log.warning("relay batch failed; retrying", exc_info=failures == 1)
            finally:
                self._report_lag()
            if failures:
                stop.wait(min(RELAY_FIRST_BACKOFF_SECONDS * 2 ** (failures - 1), self.max_backoff_seconds))

    def _report_lag(self) -> None:
        try:
            RELAY_LAG.labels(self.service).set(self.lag())
        except Exception:  # the store is unreachable: the previous value stands
            pass


def waiter_for(store_url: str, app: ServiceApplication, poll_seconds: float, stop: threading.Event) -> Callable[[float], None]:
    """How the relay sleeps until new events are stored: LISTEN/NOTIFY on PostgreSQL
    (the channel `eventsourcing` notifies on insert), a short adaptive poll of SQLite's
    commit counter on SQLite, plain polling elsewhere."""
    url = urlparse(store_url)
    if url.scheme == "sqlite":
        return sqlite_waiter(url.path, poll_seconds, stop)
    if url.scheme not in ("postgresql", "postgres"):
        return lambda timeout: stop.wait(min(timeout, poll_seconds))
    import psycopg
    from psycopg import sql

    state: dict[str, Any] = {}

    def wait(timeout: float) -> None:
        try:
            conn = state.get("conn")
            if conn is None or conn.closed:
                conn = state["conn"] = psycopg.connect(store_url.split("?")[0], autocommit=True, connect_timeout=5)
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(app.recorder.channel_name)))
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                break
        except psycopg.Error:
            state.pop("conn", None)
            stop.wait(poll_seconds)

    return wait


def sqlite_waiter(path: str, poll_seconds: float, stop: threading.Event,
                  shortest: float = 0.005) -> Callable[[float], None]:
    """Wake as soon as another connection committed to the SQLite file: `PRAGMA data_version`
    (a counter in shared memory; no read of the log) checked every `shortest` seconds after
    activity, backing off to poll_seconds while the store is idle. The relay's own position
    commits count too: one needless wake per batch, which finds nothing and waits again."""
    import sqlite3

    state: dict[str, Any] = {"interval": shortest}

    def wait(timeout: float) -> None:
        deadline = time.monotonic() + timeout
        try:
            conn = state.get("conn")
            if conn is None:
                conn = state["conn"] = sqlite3.connect(path, timeout=10, check_same_thread=False)
                state["version"] = conn.execute("PRAGMA data_version").fetchone()[0]
            while not stop.is_set():
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                if version != state["version"]:
                    state["version"], state["interval"] = version, shortest
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                stop.wait(min(state["interval"], left))
                state["interval"] = min(state["interval"] * 2, poll_seconds)
        except sqlite3.Error:
            state.pop("conn", None)
            stop.wait(poll_seconds)

    return wait


def relay_for(settings, app: ServiceApplication, to_public: ToPublic, producer: KafkaProducer | None = None) -> OutboxRelay:
    """The relay of settings.service over `app`'s notification log."""
    return OutboxRelay(app, settings.service, to_public, producer or make_producer(settings.kafka_bootstrap, settings.max_event_bytes),
                       batch_size=settings.relay_batch_size, seals=seals_for(settings.store_url, app.store_pool()),
                       max_backoff_seconds=settings.relay_max_backoff_seconds)
