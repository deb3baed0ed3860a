"""The outbox relay: follows a service's notification log and publishes each stored
event's public form to Kafka, in log order, keyed by subject.

Publishing never happens inside a request. The relay records the last published log
position as a tracking record in the service's own store *after* Kafka acknowledged
the batch (acks=all, idempotent producer), so a crash loses nothing and at worst
republishes the tail of a batch (same CloudEvent ids; consumers deduplicate).
Exactly one relay runs per service."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterable
from urllib.parse import urlparse

from eventsourcing.persistence import Tracking
from kafka import KafkaProducer
from opentelemetry import trace

from shared.chain import MemorySeals, Seals, Sealer, seals_for
from shared.contract import PublicEvent
from shared.metrics import RELAY_LAG, RELAY_PUBLISHED
from shared.envelope import CONTENT_TYPE, encode, event_id, to_cloudevent
from shared.store import ServiceApplication, event_meta
from shared.telemetry import context_from_traceparent, inject_headers

log = logging.getLogger("jingkang.relay")
POSITION = "kafka-relay"

ToPublic = Callable[[Any], Iterable[PublicEvent]]


def make_producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="jingkang-relay",
        acks="all",
        enable_idempotence=True,  # broker drops retried duplicates; order kept per partition
        linger_ms=5,
        retries=5,
        max_in_flight_requests_per_connection=5,
    )


class OutboxRelay:
    def __init__(self, app: ServiceApplication, service: str, to_public: ToPublic, producer: KafkaProducer, *,
                 batch_size: int = 500, seals: Seals | None = None):
        self.app = app
        self.sealer = Sealer(seals or MemorySeals())
        self.service = service
        self.topic = f"jingkang.{service}.v1"
        self.to_public = to_public
        self.producer = producer
        self.batch_size = batch_size
        self.tracer = trace.get_tracer("jingkang.relay")

    def published_position(self) -> int:
        return self.app.recorder.max_tracking_id(POSITION) or 0

    def lag(self) -> int:
        return (self.app.recorder.max_notification_id() or 0) - self.published_position()

    def publish_batch(self) -> int:
        """Publish the next batch; return how many log entries it covered."""
        start = self.published_position()
        notifications = self.app.recorder.select_notifications(start=start, limit=self.batch_size, inclusive_of_start=False)
        if not notifications:
            return 0
        try:
            futures = self._send(notifications)
            self.producer.flush()
            for future in futures:
                future.get(timeout=30)  # raises if Kafka did not take it: nothing is advanced
        except Exception:
            self.sealer.reset()
            raise
        self.sealer.commit()  # seals first: a crash before the position only repeats them
        self.app.recorder.insert_tracking(Tracking(POSITION, notifications[-1].id))
        RELAY_PUBLISHED.labels(self.service).inc(len(notifications))
        return len(notifications)

    def _send(self, notifications) -> list:
        futures = []
        for notification in notifications:
            chainhash = self.sealer.seal(notification)
            domain_event = self.app.mapper.to_domain_event(notification)
            meta = {**event_meta(domain_event), "chainhash": chainhash.hex()}
            for public in self.to_public(domain_event):
                ce = to_cloudevent(
                    public,
                    id=event_id(self.service, notification.originator_id, notification.originator_version, public),
                    time=domain_event.timestamp,
                    sequence=notification.id,
                    meta=meta,
                )
                with self.tracer.start_as_current_span(
                    f"{self.topic} publish", context=context_from_traceparent(meta.get("traceparent")), kind=trace.SpanKind.PRODUCER
                ):
                    headers = [("content-type", CONTENT_TYPE.encode()), ("ce_type", ce["type"].encode()), *inject_headers()]
                    futures.append(self.producer.send(self.topic, key=public.subject.encode(), value=encode(ce), headers=headers))
        return futures

    def run(self, stop: threading.Event, wait_for_events: Callable[[float], None]) -> None:
        log.info("relay for %s starting at position %d", self.topic, self.published_position())
        while not stop.is_set():
            try:
                published = self.publish_batch()
                RELAY_LAG.labels(self.service).set(self.lag())
                if published == 0:
                    wait_for_events(1.0)
            except Exception:  # broker or store down: back off and retry, never skip
                log.exception("relay batch failed; retrying")
                stop.wait(1.0)


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
    return OutboxRelay(app, settings.service, to_public, producer or make_producer(settings.kafka_bootstrap),
                       batch_size=settings.relay_batch_size, seals=seals_for(settings.store_url, app.store_pool()))
