"""A worker taking its messages in batches (shared.consumer, JINGKANG_CONSUMER_BATCH_SIZE) on
real Kafka and PostgreSQL: funding's worker started on a backlog, so its first batches are
full. Every session accrues once and in its partition's order, a poison message in the
middle of a batch is dead-lettered with its reason while its neighbours are processed,
every partition's position reaches its end, and a second consumer group reading it all
again changes nothing and dead-letters nothing again."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services.funding.application import create_application
from services.funding.settings import load_settings
from shared.consumer import tracking_for
from shared.contract.assessment import ServiceSessionDelivered
from shared.envelope import encode, to_cloudevent
from shared.topics import ensure_topics, public_topics
from tests.conftest import ROOT
from tests.support import dead_letters, stop_process, wait_until

pytestmark = pytest.mark.integration
TOPIC = "jingkang.assessment.v1"
DLQ = "jingkang.funding.dlq"
TODAY = date.today()


def session(station: uuid.UUID, client: uuid.UUID) -> tuple[uuid.UUID, bytes]:
    event = ServiceSessionDelivered(client_id=client, session_id=uuid.uuid4(), station_id=station,
                                    service_type="peer_support", session_date=TODAY, minutes=60, mode="group",
                                    attendance="attended")
    return event.session_id, encode(to_cloudevent(event, id=str(uuid.uuid4()), time=datetime.now(timezone.utc), sequence=1))


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "services.funding", "worker"], cwd=ROOT,
                            env=dict(os.environ, **env, PYTHONPATH=str(ROOT)),
                            stdout=open(ROOT / ".cache" / f"worker-{env['JINGKANG_FUNDING_GROUP']}.log", "w"),
                            stderr=subprocess.STDOUT)


def ends(bootstrap: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return {tp.partition: end for tp, end in consumer.end_offsets(
            [TopicPartition(TOPIC, p) for p in consumer.partitions_for_topic(TOPIC)]).items()}
    finally:
        consumer.close()


def group_at(bootstrap: str, group: str, until: dict[int, int]) -> bool:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return all((consumer.committed(TopicPartition(TOPIC, p)) or 0) >= end for p, end in until.items() if end)
    finally:
        consumer.close()


def run_worker_to(env: dict, bootstrap: str, goal: dict[int, int], what: str) -> None:
    """Run the worker until its group has committed `goal` (partition -> end offset), then stop it."""
    worker = start_worker(env)
    try:
        wait_until(lambda: group_at(bootstrap, env["JINGKANG_FUNDING_GROUP"], goal), timeout=180, what=what)
    finally:
        stop_process(worker)


def test_a_batching_worker_keeps_order_positions_dead_letters_and_exactly_once(pg_store_url, kafka_bootstrap):
    ensure_topics(kafka_bootstrap, public_topics() + [DLQ])
    env = {"JINGKANG_FUNDING_STORE": pg_store_url, "JINGKANG_KAFKA": kafka_bootstrap,
           "JINGKANG_FUNDING_GROUP": "test-funding-" + uuid.uuid4().hex[:8], "JINGKANG_CONSUMER_ATTEMPTS": "2",
           "JINGKANG_CONSUMER_BATCH_SIZE": "1000"}
    funding = create_application(dataclasses.replace(load_settings(env), process="api"))
    stations = [uuid.uuid4(), uuid.uuid4()]
    contracts = [funding.sign_contract(
        station_id=s, district_code="110105", period_start=date(TODAY.year - 1, 1, 1), period_end=date(TODAY.year, 12, 31),
        budget=Decimal("100000.00"), funding_sources=[{"source": "welfare_lottery", "amount": Decimal("100000.00")}],
        unit_prices={"peer_support": Decimal("45.50")}) for s in stations]

    # Station 0's sessions on partition 1; station 1's on partition 2 with a poison message
    # in their middle, all of one client (one key): one batch each.
    client = uuid.uuid4()
    key = str(client).encode()
    first = [session(stations[0], client) for _ in range(40)]
    second = [session(stations[1], client) for _ in range(40)]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=50)
    for session_id, value in first:
        producer.send(TOPIC, key=key, value=value, partition=1)
    for i, (session_id, value) in enumerate(second):
        if i == 20:
            producer.send(TOPIC, key=key, value=b"\x00 not a CloudEvent", partition=2)
        producer.send(TOPIC, key=key, value=value, partition=2)
    producer.send(TOPIC, key=key, value=second[5][1], partition=2)  # the same event again, at a new offset
    producer.flush()
    producer.close()
    goal = ends(kafka_bootstrap)

    run_worker_to(env, kafka_bootstrap, goal, what="the worker to commit the end of every partition")

    # Every position recorded up to the end (a lost position would repeat work after a restart).
    assert all(funding.has_processed(tracking_for(TOPIC, p, end - 1)) for p, end in goal.items() if end)
    # Each session accrued once, in its partition's order.
    for contract_id, sessions in zip(contracts, (first, second)):
        contract = funding.get_contract(contract_id)
        assert list(contract.accruals) == [str(s) for s, _ in sessions]
        assert contract.accrued == Decimal("45.50") * len(sessions)
    # The poison is in the dead-letter topic with its reason and its source position.
    poison = dead_letters(kafka_bootstrap, DLQ, key)
    assert {dict(m.headers)["dlq_offset"] for m in poison} == {dict(poison[0].headers)["dlq_offset"]}
    assert dict(poison[0].headers)["dlq_reason"].startswith(b"InvalidMessage: not JSON")
    assert dict(poison[0].headers)["dlq_partition"] == b"2"

    # Redelivery of everything to a new group: nothing stored, nothing dead-lettered again.
    stored = funding.recorder.max_notification_id()
    again = dict(env, JINGKANG_FUNDING_GROUP="test-funding-" + uuid.uuid4().hex[:8])
    run_worker_to(again, kafka_bootstrap, goal, what="the second group to read it all again")
    assert funding.recorder.max_notification_id() == stored
    assert len(dead_letters(kafka_bootstrap, DLQ, key)) == len(poison)
