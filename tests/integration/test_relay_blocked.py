"""A relay facing an event it cannot publish, on a real PostgreSQL store and a real Kafka
broker: it publishes what came before, then reports itself blocked (jingkang_relay_blocked,
a lag that grows, /ready 503 naming the position) and says so in the log once; an
operator's `relayctl withhold` makes it publish the EventWithheld marker in the event's
place and then everything after it.

The unpublishable event is the one of issue 10: a purchase contract with 100,000 unit
prices (1.6 MB), stored before the size budget existed. Today's API and store refuse it,
so the test gives the relay a public mapping that makes it, as the old events would."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from datetime import date
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from services.funding.api import create_app
from services.funding.application import create_application
from services.funding.contracts import to_public
from shared.chain import seals_for, verify
from shared.contract.funding import PurchaseContractSigned
from shared.relay import OutboxRelay, make_producer, waiter_for
from shared.settings import load_settings
from shared.topics import ensure_topics, public_topics
from tests.conftest import ROOT
from tests.support import read_topic, wait_until

pytestmark = pytest.mark.integration


def sign(funding, station) -> str:
    return str(funding.sign_contract(
        station_id=station, district_code="110105", period_start=date(2026, 1, 1), period_end=date(2026, 12, 31),
        budget="1000.00", funding_sources=[{"source": "welfare_lottery", "amount": "1000.00"}],
        unit_prices={"peer_support": "10.00"}))


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"service": "funding"})


def test_a_blocked_relay_says_so_and_an_operator_withholds_the_event(pg_store_url, kafka_bootstrap, caplog):
    env = {"JINGKANG_FUNDING_STORE": pg_store_url, "JINGKANG_KAFKA": kafka_bootstrap}
    settings = load_settings("funding", env)
    ensure_topics(kafka_bootstrap, public_topics())
    funding = create_application(settings)
    before, oversized, after = sign(funding, uuid4()), sign(funding, uuid4()), sign(funding, uuid4())
    oversized_position = next(n.id for n in funding.recorder.select_notifications(start=1, limit=1000)
                              if str(n.originator_id) == oversized)

    def legacy_public(domain_event):  # the event as it was stored before the size budget
        for public in to_public(domain_event):
            if isinstance(public, PurchaseContractSigned) and public.subject == oversized:
                public = public.model_copy(update={"unit_prices": {f"service_{i}": public.budget for i in range(100_000)}})
            yield public

    relay = OutboxRelay(funding, "funding", legacy_public, make_producer(kafka_bootstrap), seals=seals_for(pg_store_url),
                        max_backoff_seconds=0.5)
    api = TestClient(create_app(settings, funding))
    stop = threading.Event()
    runner = threading.Thread(target=relay.run, args=(stop, waiter_for(pg_store_url, funding, 0.2, stop)), daemon=True)
    caplog.set_level(logging.ERROR, logger="jingkang.relay")
    runner.start()
    try:
        wait_until(lambda: gauge("jingkang_relay_blocked") == 1, timeout=60, what="the relay to report itself blocked")
        assert relay.published_position() == oversized_position - 1  # everything before it went out
        wait_until(lambda: (gauge("jingkang_relay_lag_events") or 0) > 0, timeout=30, what="the lag to show")
        ready = api.get("/ready")
        assert ready.status_code == 503
        assert f"blocked at position {oversized_position}" in ready.json()["checks"]["relay"]
        assert "MessageSizeTooLargeError" in ready.json()["checks"]["relay"]
        status = relayctl(env, "status", "funding")
        assert status["blocked"]["position"] == oversized_position and status["lag"] > 0
        stop.wait(2.0)  # a few retries at the capped backoff
        blocked_lines = [r for r in caplog.records if "blocked at position" in r.getMessage()]
        assert len(blocked_lines) == 1  # said once, not at every retry

        refused = relayctl(env, "withhold", "funding", str(oversized_position + 1), "--reason", "too_large",
                           "--note", "issue 10: 100,000 unit prices", "--by", "ops-001", check=False)
        assert refused == 2  # only the position it is blocked at
        relayctl(env, "withhold", "funding", str(oversized_position), "--reason", "too_large",
                 "--note", "issue 10: 100,000 unit prices, re-signed as a new contract", "--by", "ops-001")

        wait_until(lambda: relay.lag() == 0, timeout=60, what="the relay to move past the withheld event")
        wait_until(lambda: gauge("jingkang_relay_blocked") == 0, timeout=10, what="the blocked gauge to clear")
        assert api.get("/ready").json()["checks"]["relay"] == "ok"
    finally:
        stop.set()
        runner.join(timeout=30)
        relay.producer.close()

    received = read_topic(kafka_bootstrap, "jingkang.funding.v1", lambda ce: ce["subject"] in {before, oversized, after}, 3)
    by_subject = {ce["subject"]: ce for _, ce in received}
    assert by_subject[before]["type"] == "jingkang.funding.PurchaseContractSigned.v1"
    marker = by_subject[oversized]
    assert marker["type"] == "jingkang.funding.EventWithheld.v1"
    assert marker["sequence"] == oversized_position
    assert marker["data"] == {"subject_id": oversized, "withheld_type": "jingkang.funding.PurchaseContractSigned.v1",
                              "reason": "too_large"}
    assert by_subject[after]["type"] == "jingkang.funding.PurchaseContractSigned.v1"
    # The decision is a recorded fact, attributed to the operator.
    withheld = [funding.mapper.to_domain_event(n) for n in funding.recorder.select_notifications(start=1, limit=1000)
                if n.topic.endswith("RelayOutbox.Withheld")]
    assert [vars(e)["_meta"]["actor"] for e in withheld] == ["ops-001"]
    # The hash chain sealed everything published, the withheld event too, without a gap.
    checked, finding = verify(funding.notifications(), seals_for(pg_store_url).all())
    assert finding is None
    assert checked == len([n for n in funding.notifications() if n.id <= relay.published_position()])


def relayctl(env: dict, *args: str, check: bool = True):
    done = subprocess.run([sys.executable, "-m", "shared.relayctl", *args], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, **env, PYTHONPATH=str(ROOT)), timeout=60)
    if not check:
        return done.returncode
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
