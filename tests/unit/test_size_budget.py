"""The size budget (README "Size budget"): one setting, JINGKANG_MAX_EVENT_BYTES, enforced
where data enters. Request bodies over the bound are refused before parsing (413); every
command's input is bounded so its event stays under the budget; the store refuses, naming
the field, an event that would still be over it, and stores nothing. The producer, the
broker and the consumers allow what the budget allows."""
from __future__ import annotations

import re
from pathlib import Path
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.funding.api import create_app as funding_api
from services.funding.application import create_application as funding_app
from services.funding.contracts import to_public as funding_public
from services.intake.api import create_app as intake_api
from services.intake.application import create_application as intake_app
from services.intake.contracts import to_public as intake_public
from services.notification.api import create_app as notification_api
from services.notification.application import create_application as notification_app
from services.notification.contracts import to_public as notification_public
from services.notification.domain import SECRET_MAX, URL_MAX
from services.referral.api import MAX_STREETS
from services.referral.api import create_app as referral_api
from services.referral.application import create_application as referral_app
from services.referral.contracts import to_public as referral_public
from services.referral.domain import SERVICES
from shared.envelope import encode, event_id, to_cloudevent
from shared.errors import EventTooLarge
from shared.settings import DEFAULT_MAX_EVENT_BYTES, KAFKA_OVERHEAD_BYTES, load_settings
from shared.store import ENVELOPE_RESERVE_BYTES, event_meta
from tests.conftest import ROOT
from tests.support import applicant, guardian


def service(name, create_application, create_app, **env):
    settings = load_settings(name, {f"JINGKANG_{name.upper()}_STORE": "memory://", **env})
    app = create_application(settings)
    return app, TestClient(create_app(settings, app))


def stored(app) -> int:
    return app.recorder.max_notification_id() or 0


def largest(app, to_public) -> tuple[int, int]:
    """(largest stored event state, largest public CloudEvent) in bytes, over the whole log."""
    state_max = public_max = 0
    for n in app.recorder.select_notifications(start=1, limit=100_000):
        domain_event = app.mapper.to_domain_event(n)
        state = {k: v for k, v in vars(domain_event).items() if k not in ("originator_id", "originator_version")}
        state_max = max(state_max, len(app.mapper.transcoder.encode(state)))
        for public in to_public(domain_event):
            ce = to_cloudevent(public, id=event_id("x", n.originator_id, n.originator_version, public),
                               time=domain_event.timestamp, sequence=n.id,
                               meta={**event_meta(domain_event), "chainhash": "f" * 64,
                                     "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"})
            public_max = max(public_max, len(encode(ce)))
    return state_max, public_max


def assert_under_budget(app, to_public) -> None:
    state_bytes, public_bytes = largest(app, to_public)
    assert state_bytes <= DEFAULT_MAX_EVENT_BYTES - ENVELOPE_RESERVE_BYTES
    assert public_bytes <= DEFAULT_MAX_EVENT_BYTES
    assert public_bytes - state_bytes < ENVELOPE_RESERVE_BYTES  # the reserve covers the envelope


def contract(**overrides):
    body = {"station_id": str(uuid4()), "district_code": "110105", "period_start": "2026-01-01",
            "period_end": "2026-12-31", "budget": "100000.00",
            "funding_sources": [{"source": "district_finance", "amount": "80000.00"},
                                {"source": "welfare_lottery", "amount": "20000.00"}],
            "unit_prices": {"medication_training": "80.00"}}
    return {**body, **overrides}


# -- the request that stopped funding's relay ------------------------------------------------

def test_a_contract_with_100000_unit_prices_is_refused_and_stores_nothing():
    funding, http = service("funding", funding_app, funding_api, JINGKANG_MAX_REQUEST_BYTES=str(8 * 1024 * 1024))
    prices = {f"service_{i}": "1.00" for i in range(100_000)}
    response = http.post("/v1/contracts", json=contract(unit_prices=prices))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].startswith("unit_prices")
    assert stored(funding) == 0


def test_a_body_over_the_bound_is_refused_with_413_before_parsing():
    funding, http = service("funding", funding_app, funding_api)
    prices = {f"service_{i}": "1.00" for i in range(100_000)}  # ~2 MB of JSON
    response = http.post("/v1/contracts", json=contract(unit_prices=prices))
    assert response.status_code == 413
    assert response.json() == {"error": "too_large", "errors": [
        {"field": "body", "reason": "the request body is over 65536 bytes"}]}
    assert stored(funding) == 0


def test_a_chunked_body_without_length_is_cut_off_at_the_bound():
    funding, http = service("funding", funding_app, funding_api, JINGKANG_MAX_REQUEST_BYTES="1000")

    def chunks():
        for _ in range(100):
            yield b"x" * 100

    response = http.post("/v1/contracts", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    ok = http.post("/v1/contracts", json=contract())  # a body under the bound passes
    assert ok.status_code == 201, ok.text


def test_the_store_refuses_an_event_over_the_budget_naming_the_field():
    """The backstop: a command whose input bounds were missed still cannot store it."""
    funding = funding_app(load_settings("funding", {"JINGKANG_FUNDING_STORE": "memory://",
                                                    "JINGKANG_MAX_EVENT_BYTES": str(64 * 1024)}))
    body = contract(unit_prices={f"service_{i}": "1.00" for i in range(5000)})
    body.pop("station_id")
    with pytest.raises(EventTooLarge) as refused:
        funding.sign_contract(station_id=uuid4(), **body)
    assert refused.value.field == "unit_prices"
    assert stored(funding) == 0


def test_the_store_refusal_is_a_422_through_the_api():
    funding, http = service("funding", funding_app, funding_api, JINGKANG_MAX_EVENT_BYTES=str(9 * 1024))
    response = http.post("/v1/contracts", json=contract(unit_prices={f"s{i:03d}": "1.00" for i in range(64)}))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "unit_prices"
    assert "budget" in response.json()["errors"][0]["reason"]
    assert stored(funding) == 0


# -- maximal accepted commands stay under the budget -----------------------------------------

def test_a_maximal_contract_is_accepted_and_its_event_is_under_the_budget():
    funding, http = service("funding", funding_app, funding_api)
    prices = {("p" + str(i)).ljust(64, "x"): "9999999999999.99" for i in range(64)}
    shares = [{"source": "city_finance", "amount": "3333333333333.33"},
              {"source": "district_finance", "amount": "3333333333333.33"},
              {"source": "welfare_lottery", "amount": "3333333333333.33"}]
    response = http.post("/v1/contracts", json=contract(unit_prices=prices, funding_sources=shares,
                                                         budget="9999999999999.99"))
    assert response.status_code == 201, response.text
    assert http.post("/v1/contracts", json=contract(unit_prices={**prices, "one_more": "1.00"})).status_code == 422
    assert_under_budget(funding, funding_public)


def test_a_maximal_station_is_accepted_and_its_event_is_under_the_budget():
    referral, http = service("referral", referral_app, referral_api)
    body = {"name": "站" * 100, "operator": "运" * 100, "tier": "ningkang_home", "district_code": "110105",
            "streets": [f"110105{i:03d}" for i in range(MAX_STREETS)], "capacity": 10000, "services": list(SERVICES)}
    response = http.post("/v1/stations", json=body)
    assert response.status_code == 201, response.text
    too_many = {**body, "streets": body["streets"] + ["110105999"]}
    assert http.post("/v1/stations", json=too_many).status_code == 422
    assert_under_budget(referral, referral_public)


def test_a_maximal_subscription_is_accepted_and_its_event_is_under_the_budget():
    notifications, http = service("notification", notification_app, notification_api)
    types = sorted(notifications.event_types)
    url = "https://district-110105.example/" + "a" * (URL_MAX - len("https://district-110105.example/"))
    body = {"district_code": "110105", "event_types": types, "url": url, "secret": "s" * SECRET_MAX,
            "purpose": "district_supervision"}
    response = http.post("/v1/subscriptions", json=body)
    assert response.status_code == 201, response.text
    assert http.post("/v1/subscriptions", json={**body, "event_types": types * 3}).status_code == 422
    assert_under_budget(notifications, notification_public)


def test_a_maximal_application_is_accepted_and_its_event_is_under_the_budget():
    settings = load_settings("intake", {"JINGKANG_INTAKE_STORE": "memory://"})
    intake = intake_app(settings)
    http = TestClient(intake_api(settings, intake))
    person = {**applicant(), "name": "名" * 50, "address": "址" * 200, "phone": "1" * 20}
    body = {"source": "guardian", "applicant": person, "guardian": {**guardian(), "name": "监" * 50, "phone": "1" * 20},
            "district_code": "110105", "street_code": "110105001",
            "hardship_categories": ["disability_subsidy", "extreme_poverty", "minimum_living_allowance", "marginal",
                                    "expenditure_hardship"]}
    response = http.post("/v1/applications", json=body)
    assert response.status_code == 201, response.text
    assert_under_budget(intake, intake_public)


# -- the limits agree ------------------------------------------------------------------------

def test_producer_broker_and_consumer_limits_agree_with_the_budget():
    producer_max = DEFAULT_MAX_EVENT_BYTES + KAFKA_OVERHEAD_BYTES
    properties = (ROOT / "deploy/kafka/server.properties").read_text()
    broker = int(re.search(r"^message\.max\.bytes=(\d+)$", properties, re.M).group(1))
    compose = int(re.search(r"KAFKA_MESSAGE_MAX_BYTES: (\d+)", (ROOT / "docker-compose.yml").read_text()).group(1))
    assert broker >= producer_max and compose >= producer_max
    settings = load_settings("funding", {"JINGKANG_MAX_EVENT_BYTES": "100000"})
    from services.funding.consumers import create_consumer
    assert create_consumer(settings, funding_app(load_settings("funding", {"JINGKANG_FUNDING_STORE": "memory://"}))
                           ).max_message_bytes == 100000



def test_a_consumed_event_whose_effect_would_be_over_the_budget_is_dead_lettered_at_once():
    """The store's refusal is a refused command: the message goes to the dead-letter topic
    with the reason, and the partition moves on (no retries: it can never succeed)."""
    from datetime import date, datetime, timezone

    from services.notification.consumers import create_consumer
    from shared.contract.funding import FundingShare, PurchaseContractSigned
    from shared.envelope import encode, to_cloudevent

    settings = load_settings("notification", {"JINGKANG_NOTIFICATION_STORE": "memory://",
                                              "JINGKANG_MAX_EVENT_BYTES": str(16 * 1024)})
    notifications = notification_app(settings)
    notifications.register_subscription(district_code="110105", event_types=["jingkang.funding.PurchaseContractSigned.v1"],
                                        url="https://district.example/hook", secret="s" * 16,
                                        purpose="district_supervision")
    signed = PurchaseContractSigned(contract_id=uuid4(), station_id=uuid4(), district_code="110105",
                                    period_start=date(2026, 1, 1), period_end=date(2026, 12, 31), budget="100.00",
                                    funding_sources=[FundingShare(source="welfare_lottery", amount="100.00")],
                                    unit_prices={f"service_{i}": "1.00" for i in range(400)}, purchaser_code="110105")
    raw = encode(to_cloudevent(signed, id=str(uuid4()), time=datetime.now(timezone.utc), sequence=1))
    assert len(raw) < 16 * 1024  # the message itself is accepted; the delivery that keeps it whole is not
    before = stored(notifications)
    outcome = create_consumer(settings, notifications).process("jingkang.funding.v1", 0, 1, raw)
    assert outcome.dead_letter and outcome.reason.startswith("EventTooLarge")
    assert stored(notifications) == before
