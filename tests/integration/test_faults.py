"""Faults on the real components: a worker killed -9 between processing and committing
its Kafka offsets, two instances of a worker sharing a consumer group through a
rebalance, and concurrent conflicting commands on one aggregate. In every case each
effect happens exactly once and no update is lost."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer

from services.referral.api import create_app
from services.referral.application import create_application
from shared.contract.assessment import RelapseDetected
from shared.envelope import encode, to_cloudevent
from shared.settings import load_settings
from shared.topics import ensure_topics, public_topics
from tests.conftest import ROOT
from tests.support import stop_process, wait_until

pytestmark = pytest.mark.integration
TOPIC = "jingkang.assessment.v1"


def publish_relapses(bootstrap: str, clients: list[uuid.UUID]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for client_id in clients:
        event = RelapseDetected(client_id=client_id, detected_at=datetime.now(timezone.utc), stability="unstable", risk_level=4)
        producer.send(TOPIC, key=str(client_id).encode(),
                      value=encode(to_cloudevent(event, id=str(uuid.uuid4()), time=datetime.now(timezone.utc), sequence=1)))
    producer.flush()
    producer.close()


def worker(env: dict, name: str) -> subprocess.Popen:
    log = open(ROOT / ".cache" / f"worker-{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "services.referral", "worker"], cwd=ROOT,
                            env=dict(os.environ, **env, PYTHONPATH=str(ROOT)), stdout=log, stderr=subprocess.STDOUT)


def referred(referrals, clients) -> list[int]:
    return [len(referrals.referrals_of(c)) for c in clients]


@pytest.fixture
def referral_env(pg_store_url, kafka_bootstrap):
    ensure_topics(kafka_bootstrap, public_topics() + ["jingkang.referral.dlq"])
    return {"JINGKANG_REFERRAL_STORE": pg_store_url, "JINGKANG_KAFKA": kafka_bootstrap,
            "JINGKANG_REFERRAL_GROUP": "fault-referral-" + uuid.uuid4().hex[:8]}


def test_a_worker_killed_before_committing_has_each_effect_exactly_once(referral_env, kafka_bootstrap):
    referrals = create_application(load_settings("referral", referral_env))
    clients = [uuid.uuid4() for _ in range(300)]
    publish_relapses(kafka_bootstrap, clients)

    first = worker(referral_env, "killed")
    try:
        wait_until(lambda: sum(referred(referrals, clients)) >= 20, timeout=90, what="the worker to start processing")
    finally:
        first.send_signal(signal.SIGKILL)  # no goodbye: offsets since the last commit are lost
        first.wait()
    second = worker(referral_env, "restarted")
    try:
        wait_until(lambda: all(referred(referrals, clients)), timeout=120, what="every relapse to be referred")
    finally:
        stop_process(second)
    assert referred(referrals, clients) == [1] * len(clients)


def test_two_instances_share_the_partitions_through_a_rebalance(referral_env, kafka_bootstrap):
    referrals = create_application(load_settings("referral", referral_env))
    early, late = [uuid.uuid4() for _ in range(150)], [uuid.uuid4() for _ in range(150)]
    a = worker(referral_env, "a")
    b = None
    try:
        publish_relapses(kafka_bootstrap, early)
        wait_until(lambda: sum(referred(referrals, early)) >= 10, timeout=90, what="instance a to start")
        b = worker(referral_env, "b")  # joins the group mid-stream: a rebalance
        publish_relapses(kafka_bootstrap, late)
        wait_until(lambda: all(referred(referrals, early + late)), timeout=120, what="both batches referred")
    finally:
        stop_process(a)
        if b:
            stop_process(b)
    assert referred(referrals, early + late) == [1] * 300


def test_concurrent_conflicting_commands_one_wins_the_others_get_409(pg_store_url):
    settings = load_settings("referral", {"JINGKANG_REFERRAL_STORE": pg_store_url})
    # Two API processes over one store: each has its own application and cache.
    apis = [TestClient(create_app(settings, create_application(settings))) for _ in range(2)]
    referral_id = create_application(settings).request_referral(
        client_id=uuid.uuid4(), kind="medical", reason="relapse_detected")
    start = threading.Barrier(8)
    statuses = []

    def answer(i: int) -> None:  # half accept, half decline: opposite answers to one referral
        start.wait()
        if i % 2:
            statuses.append(apis[i % 2].post(f"/v1/referrals/{referral_id}/accept").status_code)
        else:
            statuses.append(apis[i % 2].post(f"/v1/referrals/{referral_id}/decline",
                                             json={"reason": "no_capacity"}).status_code)

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The winner's side answers 200 (a repeat of the state it set records nothing), the other side 409
    assert sorted(statuses) == [200] * 4 + [409] * 4
    referral = create_application(settings).get_referral(referral_id)
    assert referral.status in ("accepted", "declined") and referral.version == 2  # one answer stored, no lost update
