"""A service's faust worker on real Kafka and PostgreSQL: it reacts to another
service's events, a poison message goes to the dead-letter topic with its reason and
the next message is still processed, and a redelivered message changes nothing."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import date

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services.assessment.application import create_application
from shared.consumer import tracking_for
from shared.contract.intake import ClientRegistered, ConsentScope
from shared.envelope import encode, to_cloudevent
from shared.settings import load_settings
from shared.topics import ensure_topics, public_topics
from tests.conftest import ROOT
from tests.support import dead_letters, stop_process, wait_until

pytestmark = pytest.mark.integration
TOPIC = "jingkang.intake.v1"


def client_registered(client_id: uuid.UUID) -> bytes:
    event = ClientRegistered(
        client_id=client_id, application_id=uuid.uuid4(), source="community", district_code="110105",
        street_code="110105003", registered_on=date(2026, 3, 1), free_service_eligible=False, hardship_categories=[],
        consent=ConsentScope(rehabilitation_services=True, share_with_health=True, share_with_disability_and_employment=False),
    )
    return encode(to_cloudevent(event, id=str(uuid.uuid4()), time=__import__("datetime").datetime.now().astimezone(), sequence=1))


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "services.assessment", "worker"], cwd=ROOT,
                            env=dict(os.environ, **env, PYTHONPATH=str(ROOT)),
                            stdout=open(f"/tmp/worker-{env['JINGKANG_ASSESSMENT_GROUP']}.log", "w"), stderr=subprocess.STDOUT)


def caught_up(app, bootstrap: str) -> bool:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(TOPIC, p) for p in consumer.partitions_for_topic(TOPIC)]
        ends = consumer.end_offsets(partitions)
    finally:
        consumer.close()
    return all(app.has_processed(tracking_for(TOPIC, tp.partition, end - 1)) for tp, end in ends.items() if end)


def group_at_end(bootstrap: str, group: str) -> bool:
    """The consumer group has committed the end of every non-empty partition."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(TOPIC, p) for p in consumer.partitions_for_topic(TOPIC)]
        ends = consumer.end_offsets(partitions)
        return all((consumer.committed(tp) or 0) >= end for tp, end in ends.items() if end)
    finally:
        consumer.close()


def test_worker_reacts_dead_letters_poison_and_ignores_redelivery(pg_store_url, kafka_bootstrap):
    ensure_topics(kafka_bootstrap, public_topics() + ["jingkang.assessment.dlq"])
    env = {"JINGKANG_ASSESSMENT_STORE": pg_store_url, "JINGKANG_KAFKA": kafka_bootstrap,
           "JINGKANG_ASSESSMENT_GROUP": "test-assessment-" + uuid.uuid4().hex[:8], "JINGKANG_CONSUMER_ATTEMPTS": "2"}
    assessments = create_application(load_settings("assessment", env))
    client_id = uuid.uuid4()
    key = str(client_id).encode()

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    producer.send(TOPIC, key=key, value=b"\x00 this is not a CloudEvent")  # same key: same partition, just before
    producer.send(TOPIC, key=key, value=client_registered(client_id))
    producer.flush()
    producer.close()

    worker = start_worker(env)
    try:
        wait_until(lambda: client_id in assessments.repository, timeout=90, what="assessment to learn the client")
        wait_until(lambda: caught_up(assessments, kafka_bootstrap), timeout=180, what="worker to catch up")
    finally:
        stop_process(worker)
    poison = dead_letters(kafka_bootstrap, "jingkang.assessment.dlq", key)
    # Dead letters are at least once (sent before the position is recorded, so a crash in
    # between repeats the send, never loses it): every copy names the same source message.
    assert {dict(m.headers)["dlq_offset"] for m in poison} == {dict(poison[0].headers)["dlq_offset"]}
    headers = dict(poison[0].headers)
    assert headers["dlq_reason"].startswith(b"InvalidMessage: not JSON")
    assert headers["dlq_topic"] == TOPIC.encode()
    assert assessments.get_record(client_id).district_code == "110105"

    # Redelivery: the same store consumed again from the start by a new consumer group.
    stored_before = assessments.recorder.max_notification_id()
    second_group = "test-assessment-" + uuid.uuid4().hex[:8]
    worker = start_worker(dict(env, JINGKANG_ASSESSMENT_GROUP=second_group))
    try:
        wait_until(lambda: group_at_end(kafka_bootstrap, second_group), timeout=90, what="second worker to re-read the topic")
    finally:
        stop_process(worker)
    assert assessments.recorder.max_notification_id() == stored_before
    assert len(dead_letters(kafka_bootstrap, "jingkang.assessment.dlq", key)) == len(poison)  # the redelivery dead-lettered nothing again


def test_a_consumer_never_silently_drops_its_tracking_record(pg_store_url):
    """eventsourcing's database-function insert path ignores tracking records: API
    processes may use it, consumers must not, and a mix is refused rather than lossy."""
    import dataclasses

    from eventsourcing.domain import Aggregate
    from eventsourcing.persistence import Tracking

    from shared.settings import store_env
    from shared.store import ServiceApplication, command_context

    # The API process creates the tables (relays and workers never do: shared.settings.store_env).
    api = ServiceApplication(env=store_env(dataclasses.replace(load_settings("x", {"JINGKANG_X_STORE": pg_store_url}),
                                                               process="api")))
    worker = ServiceApplication(env=store_env(dataclasses.replace(load_settings("x", {"JINGKANG_X_STORE": pg_store_url}),
                                                                  process="worker")))
    with command_context(tracking=Tracking("kafka:t:0", 5)):
        worker.save(Aggregate())
    assert worker.recorder.max_tracking_id("kafka:t:0") == 5

    with pytest.raises(RuntimeError), command_context(tracking=Tracking("kafka:t:0", 6)):
        api.save(Aggregate())
    assert api.recorder.max_tracking_id("kafka:t:0") == 5
