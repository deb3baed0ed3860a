"""supervision's worker: `python -m services.supervision worker`.

It consumes the five public topics as the consumer group JINGKANG_SUPERVISION_GROUP
(default jingkang-supervision) with kafka-python, a poll at a time: each poll's messages
become read-model rows stored in one transaction with the next offset of every partition
read (the tracking records), so a redelivered message is a no-op and a crash repeats at
most the poll. On (re)assignment each partition is moved to the offset the model stored,
not the group's committed one: the model is the truth, and after a rebuild the worker
starts again from the beginning. A message that can never be used (not a CloudEvent, or
data that does not match the schema of a type the indicators read) goes to
jingkang.supervision.dlq with the reason, and the partition keeps moving.

Why not faust like the other workers: supervision only reads, and a per-message
transaction (faust's agent calls one handler per event) cannot keep up with a backlog of
millions; a batch per poll can (bench/supervision.py measures it against a raw
kafka-python loop on the same topics).

The worker also reviews closed months every JINGKANG_TICK_SECONDS (IndicatorBelowTarget)."""
from __future__ import annotations

import logging
import threading
import time
from datetime import date
from typing import Any, Callable, Iterable

from services.supervision.application import Message, Supervision
from services.supervision.indicators import compute, without_evidence
from services.supervision.settings import batch_size, create_supervision
from shared import metrics
from shared.clock import SystemClock
from shared.settings import ServiceSettings
from shared.topics import public_topics

log = logging.getLogger("jingkang.supervision")
TOPICS = public_topics()


class ReadModelWorker:
    def __init__(self, supervision: Supervision, consumer, producer, dead_letter_topic: str, *,
                 max_records: int = 5000, review: Callable[[], Any] | None = None, review_every: float = 30.0,
                 topics: Iterable[str] = TOPICS):
        self.supervision = supervision
        self.topics = list(topics)
        self.consumer = consumer
        self.producer = producer
        self.dead_letter_topic = dead_letter_topic
        self.max_records = max_records
        self.review = review
        self.review_every = review_every
        self.positions: dict[tuple[str, int], int] = {}
        self.stored = self.dead = 0
        self.unsure = False

    def rewind(self, assigned: Iterable) -> None:
        """Each assigned partition to the next offset the model stored (from the beginning if none)."""
        from kafka import TopicPartition  # noqa: F401  (the type of `assigned`)

        self.positions = self.supervision.model.positions()
        fresh = []
        for tp in assigned:
            stored = self.positions.get((tp.topic, tp.partition))
            if stored is None:
                fresh.append(tp)
            else:
                self.consumer.seek(tp, stored)
        if fresh:
            self.consumer.seek_to_beginning(*fresh)

    def handle(self, messages: list[Message]) -> int:
        """One poll: dead letters sent first, then the rows and positions in one transaction
        (a crash in between repeats a dead letter, never loses one)."""
        batch = self.supervision.prepare(messages, self.positions)
        for m, reason in batch.dead:
            log.error("dead-lettering %s[%d]@%d: %s", m.topic, m.partition, m.offset, reason)
            self.producer.send(self.dead_letter_topic, key=m.key, value=m.value, headers=[
                ("dlq_reason", reason[:2000].encode()), ("dlq_topic", m.topic.encode()),
                ("dlq_partition", str(m.partition).encode()), ("dlq_offset", str(m.offset).encode())])
            metrics.DEAD_LETTERS.labels("supervision", m.topic).inc()
        if batch.dead:
            self.producer.flush()
        self.supervision.store(batch)
        self.positions.update(batch.positions)
        for (topic, partition), next_offset in batch.positions.items():
            highwater = self.consumer.highwater(_partition(topic, partition)) if hasattr(self.consumer, "highwater") else None
            if highwater is not None:
                metrics.CONSUMER_LAG.labels("supervision", topic, str(partition)).set(max(0, highwater - next_offset))
        for topic in {m.topic for m in messages}:
            metrics.CONSUMED.labels("supervision", topic, "handled").inc(sum(1 for m in messages if m.topic == topic))
        self.stored += len(batch.rows)
        self.dead += len(batch.dead)
        return len(messages)

    def poll_once(self, timeout_ms: int = 500) -> int:
        if self.unsure:  # after a failure: back to what the model stored before reading on
            self.rewind(self.consumer.assignment())
            self.unsure = False
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.max_records)
        messages = [Message(r.topic, r.partition, r.offset, r.value, r.key) for records in polled.values() for r in records]
        return self.handle(messages) if messages else 0

    def run(self, stop: threading.Event) -> None:
        from kafka import ConsumerRebalanceListener

        worker = self

        class Rewind(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                pass

            def on_partitions_assigned(self, assigned):
                worker.rewind(assigned)

        # Know every topic's partitions before joining the group: a member that joins first
        # can be assigned nothing ("no partition metadata") and, seen with kafka-python 3.0,
        # not rejoin when the metadata arrives.
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline and \
                not all(self.consumer.partitions_for_topic(topic) for topic in self.topics):
            stop.wait(0.5)  # a topic just created: its partitions are not in the metadata yet
        self.consumer.subscribe(self.topics, listener=Rewind())
        next_review = time.monotonic()
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the store is unreachable, say: nothing of the poll was stored
                log.exception("storing a poll failed; retrying from the stored positions")
                self.unsure = True  # the consumer moved past what was not stored
                stop.wait(1.0)
                continue
            if self.review is not None and time.monotonic() >= next_review:
                try:
                    self.review()
                except Exception:  # retried at the next tick
                    log.exception("reviewing closed periods failed")
                next_review = time.monotonic() + self.review_every


def _partition(topic: str, partition: int):
    from kafka import TopicPartition

    return TopicPartition(topic, partition)


def kafka_consumer(settings: ServiceSettings, group: str | None, max_records: int):
    from kafka import KafkaConsumer

    return KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False,
                         auto_offset_reset="earliest", client_id="jingkang-supervision", max_poll_records=max_records,
                         fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024,
                         # A member assigned nothing for want of metadata rejoins at the next
                         # refresh: seconds, not the default five minutes.
                         metadata_max_age_ms=10_000)


def create_worker(settings: ServiceSettings, supervision: Supervision | None = None) -> ReadModelWorker:
    from shared.relay import make_producer

    supervision = supervision or create_supervision(settings)
    size = batch_size(settings)
    clock = SystemClock(settings.clock_file)
    return ReadModelWorker(supervision, kafka_consumer(settings, settings.consumer_group, size),
                           make_producer(settings.kafka_bootstrap), settings.dead_letter_topic, max_records=size,
                           review=lambda: supervision.review_closed_periods(clock.today()),
                           review_every=settings.tick_seconds)


def run_worker(settings: ServiceSettings, create: Callable = create_worker) -> None:
    """The worker process: until SIGTERM/SIGINT, then stop after the poll in hand."""
    import signal

    from shared.topics import ensure_topics

    ensure_topics(settings.kafka_bootstrap, TOPICS + [settings.dead_letter_topic, settings.topic])
    metrics.serve(settings.metrics_port + 1 if settings.metrics_port else None)
    worker = create(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        worker.run(stop)
    finally:
        worker.consumer.close()
        worker.producer.flush()
        worker.producer.close()


def rebuild(settings: ServiceSettings, supervision: Supervision | None = None,
            progress: Callable[[int, int], None] | None = None) -> dict:
    """Empty the read model and consume the topics again from the beginning to their end as
    of now, with a consumer of no group (stop the worker first; started again, it goes on
    from where the rebuild stopped). Returns what was read and stored."""
    from shared.relay import make_producer

    supervision = supervision or create_supervision(settings)
    size = batch_size(settings)
    consumer = kafka_consumer(settings, None, size)
    producer = make_producer(settings.kafka_bootstrap)
    worker = ReadModelWorker(supervision, consumer, producer, settings.dead_letter_topic, max_records=size)
    try:
        supervision.model.clear()
        read = catch_up(worker, progress)
    finally:
        consumer.close()
        producer.flush()
        producer.close()
    return {"read": read, "stored": worker.stored, "dead_letters": worker.dead}


def catch_up(worker: ReadModelWorker, progress: Callable[[int, int], None] | None = None) -> int:
    """Assign every partition of the topics, rewind to the model's positions, and consume
    up to the end offsets of now."""
    from kafka import TopicPartition

    consumer = worker.consumer
    partitions = [TopicPartition(t, p) for t in worker.topics for p in sorted(consumer.partitions_for_topic(t) or ())]
    consumer.assign(partitions)
    worker.rewind(partitions)
    end = consumer.end_offsets(partitions)
    total = sum(end.values()) - sum(consumer.position(tp) for tp in partitions)
    read = 0
    while any(consumer.position(tp) < end[tp] for tp in partitions):
        read += worker.poll_once()
        if progress:
            progress(min(read, total), total)
    return read


def indicators_from_topics(bootstrap: str, *, district: str, start: date, end: date,
                           main_districts: Iterable[str] = (), evidence: bool = False) -> dict:
    """What `jingkang indicators` prints: the five topics read from the beginning by a
    consumer of no group, and the definitions applied to them in memory, without the
    service: the figures the service's read model must also give."""
    from shared.audit import PublicEventReader

    reader = PublicEventReader(bootstrap)
    try:
        reader.read_to_end()
        result = compute(reader.events, district=district, start=start, end=end, main_districts=main_districts)
    finally:
        reader.close()
    result["events"]["unreadable"] = reader.unreadable
    return result if evidence else without_evidence(result)
