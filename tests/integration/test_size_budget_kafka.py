"""The size budget end to end on a real PostgreSQL store and a real Kafka broker: the
largest contract and the largest station the APIs accept are stored, published by their
relays, and processed by every service that consumes their topic (notification also
forwards them to a subscribed district, storing the whole CloudEvent in a delivery)
without a dead letter."""
from __future__ import annotations

import importlib
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.funding.api import create_app as funding_api
from services.funding.application import create_application as funding_app
from services.notification.domain import SECRET_MAX
from services.referral.api import MAX_STREETS
from services.referral.api import create_app as referral_api
from services.referral.application import create_application as referral_app
from services.referral.domain import SERVICES
from shared.relay import relay_for
from shared.settings import load_settings
from shared.topics import ensure_topics, public_topics
from tests.support import read_topic

pytestmark = pytest.mark.integration

CONSUMING = ("intake", "assessment", "referral", "funding", "notification")


def consumers_of(topic: str):
    """(service, its application, its EventConsumer) for every service whose worker reads topic."""
    for service in CONSUMING:
        module = importlib.import_module(f"services.{service}.consumers")
        if topic not in module.TOPICS:
            continue
        settings = load_settings(service, {f"JINGKANG_{service.upper()}_STORE": "memory://"})
        app = importlib.import_module(f"services.{service}.application").create_application(settings)
        yield service, app, module.create_consumer(settings, app)


def publish_all(settings, app, to_public) -> None:
    relay = relay_for(settings, app, to_public)
    try:
        while relay.publish_batch():
            pass
        assert relay.lag() == 0
    finally:
        relay.producer.close()


def subscribe_everything(notifications) -> None:
    """A district integration of 110105 that wants every forwardable type (so notification
    stores each forwarded CloudEvent whole, in a delivery)."""
    notifications.register_subscription(district_code="110105", event_types=sorted(notifications.event_types),
                                        url="https://district-110105.example/hook", secret="s" * SECRET_MAX,
                                        purpose="district_supervision")


def consume(topic: str, raw: bytes, partition: int, offset: int) -> None:
    seen = []
    for service, app, consumer in consumers_of(topic):
        if service == "notification":
            subscribe_everything(app)
        outcome = consumer.process(topic, partition, offset, raw)
        assert not outcome.dead_letter, f"{service}: {outcome.reason}"
        if service == "notification":  # the whole CloudEvent was stored, for the district's webhook
            bodies = [vars(app.mapper.to_domain_event(n)).get("body") for n in app.notifications()
                      if ":Delivery." in n.topic]
            assert raw.decode() in bodies
        seen.append((service, outcome.status))
    assert seen, f"nobody consumes {topic}"


def test_a_maximal_contract_is_published_and_consumed_without_a_dead_letter(pg_store_url, kafka_bootstrap):
    ensure_topics(kafka_bootstrap, public_topics())
    settings = load_settings("funding", {"JINGKANG_FUNDING_STORE": pg_store_url, "JINGKANG_KAFKA": kafka_bootstrap})
    funding = funding_app(settings)
    prices = {("p" + str(i)).ljust(64, "x"): "9999999999999.99" for i in range(64)}
    shares = [{"source": s, "amount": "3333333333333.33"} for s in ("city_finance", "district_finance", "welfare_lottery")]
    response = TestClient(funding_api(settings, funding)).post("/v1/contracts", json={
        "station_id": str(uuid4()), "district_code": "110105", "period_start": "2026-01-01", "period_end": "2026-12-31",
        "budget": "9999999999999.99", "funding_sources": shares, "unit_prices": prices})
    assert response.status_code == 201, response.text
    contract_id = response.json()["contract_id"]
    from services.funding.contracts import to_public
    publish_all(settings, funding, to_public)

    [(message, ce)] = read_topic(kafka_bootstrap, "jingkang.funding.v1", lambda ce: ce["subject"] == contract_id, 1)
    assert len(ce["data"]["unit_prices"]) == 64
    consume("jingkang.funding.v1", message.value, message.partition, message.offset)


def test_a_maximal_station_is_published_and_consumed_without_a_dead_letter(pg_store_url, kafka_bootstrap):
    ensure_topics(kafka_bootstrap, public_topics())
    settings = load_settings("referral", {"JINGKANG_REFERRAL_STORE": pg_store_url, "JINGKANG_KAFKA": kafka_bootstrap})
    referrals = referral_app(settings)
    response = TestClient(referral_api(settings, referrals)).post("/v1/stations", json={
        "name": "站" * 100, "operator": "运" * 100, "tier": "ningkang_home", "district_code": "110105",
        "streets": [f"110105{i:03d}" for i in range(MAX_STREETS)], "capacity": 10000, "services": list(SERVICES)})
    assert response.status_code == 201, response.text
    station_id = response.json()["station_id"]
    from services.referral.contracts import to_public
    publish_all(settings, referrals, to_public)

    [(message, ce)] = read_topic(kafka_bootstrap, "jingkang.referral.v1", lambda ce: ce["subject"] == station_id, 1)
    assert len(ce["data"]["streets"]) == MAX_STREETS
    consume("jingkang.referral.v1", message.value, message.partition, message.offset)
