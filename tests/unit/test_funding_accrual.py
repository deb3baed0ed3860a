"""Accrual through the real consumer machinery: assessment's ServiceSessionDelivered
(attended) accrues to the station's contract for the session date at the unit price of its
type, once, however the message comes back (the same offset again, or the same event
republished at another offset); a session no contract pays for is kept as unfunded and
listed by the API; a no-show accrues nothing. Referral's StationRegistered teaches funding
the station's tier."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from services.funding.api import create_app
from services.funding.application import Funding, create_application
from services.funding.consumers import TOPICS, create_consumer
from services.funding.contracts import to_public
from shared.clock import FixedClock
from shared.contract.assessment import ServiceSessionDelivered
from shared.contract.funding import SessionAccrued
from shared.contract.referral import StationRegistered
from shared.envelope import encode, to_cloudevent
from shared.settings import load_settings

ASSESSMENT, REFERRAL = "jingkang.assessment.v1", "jingkang.referral.v1"
NOW = datetime(2026, 3, 31, 2, tzinfo=timezone.utc)
STATION = uuid.uuid4()
from tests.support import with_idempotency_keys


@pytest.fixture
def settings():
    return load_settings("funding", {"JINGKANG_FUNDING_STORE": "memory://"})


@pytest.fixture
def funding(settings) -> Funding:
    return create_application(settings, clock=FixedClock(NOW))


@pytest.fixture
def consumer(settings, funding):
    return create_consumer(settings, funding)


@pytest.fixture
def http(settings, funding):
    return with_idempotency_keys(TestClient(create_app(settings, funding)))


@pytest.fixture
def contract_id(funding) -> uuid.UUID:
    return funding.sign_contract(
        station_id=STATION, district_code="110105", period_start=date(2026, 1, 1), period_end=date(2026, 6, 30),
        budget=Decimal("50000.00"), funding_sources=[{"source": "welfare_lottery", "amount": Decimal("50000.00")}],
        unit_prices={"medication_training": Decimal("80.00"), "peer_support": Decimal("45.50")})


def session(station=STATION, service_type="medication_training", day=date(2026, 3, 10), attendance="attended",
            session_id=None, ce_id=None) -> tuple[ServiceSessionDelivered, bytes]:
    event = ServiceSessionDelivered(client_id=uuid.uuid4(), session_id=session_id or uuid.uuid4(), station_id=station,
                                    service_type=service_type, session_date=day, minutes=60, mode="group",
                                    attendance=attendance)
    return event, encode(to_cloudevent(event, id=ce_id or str(uuid.uuid4()), time=NOW, sequence=3))


def stored(funding: Funding) -> int:
    return funding.recorder.max_notification_id() or 0


def public_events(funding: Funding) -> list:
    return [p for n in funding.recorder.select_notifications(start=1, limit=1000)
            for p in to_public(funding.mapper.to_domain_event(n))]


def test_the_worker_subscribes_to_assessment_and_referral():
    assert TOPICS == [ASSESSMENT, REFERRAL]


def test_an_attended_session_accrues_once_however_often_it_arrives(consumer, funding, contract_id):
    # given an attended peer-support session at the station
    event, raw = session(service_type="peer_support")
    # when it is consumed
    assert consumer.process(ASSESSMENT, 2, 5, raw).status == "processed"
    # then it accrues to the station's contract at 45.50, published as SessionAccrued keyed by the contract
    contract = funding.get_contract(contract_id)
    assert (contract.accrued, len(contract.accruals)) == (Decimal("45.50"), 1)
    accrued = [p for p in public_events(funding) if isinstance(p, SessionAccrued)]
    assert [(p.contract_id, p.session_id, p.service_type, p.session_date, p.amount) for p in accrued] == [
        (contract_id, event.session_id, "peer_support", date(2026, 3, 10), Decimal("45.50"))]
    assert accrued[0].subject == str(contract_id)
    before = stored(funding)
    # when Kafka redelivers the same offset: the tracking record stops it
    assert consumer.process(ASSESSMENT, 2, 5, raw).status == "duplicate"
    # when the same event is republished at other offsets (a relay repeat): the session id stops it
    assert consumer.process(ASSESSMENT, 2, 9, raw).status == "processed"
    assert consumer.process(ASSESSMENT, 4, 1, raw).status == "processed"
    # then nothing more was accrued or stored
    assert stored(funding) == before
    assert funding.get_contract(contract_id).accrued == Decimal("45.50")


def test_each_session_accrues_at_the_price_of_its_type(consumer, funding, contract_id):
    for offset, service_type in enumerate(["medication_training", "medication_training", "peer_support"]):
        assert consumer.process(ASSESSMENT, 0, offset, session(service_type=service_type)[1]).status == "processed"
    assert funding.get_contract(contract_id).accrued == Decimal("205.50")


def test_a_no_show_accrues_nothing_and_is_not_unfunded(consumer, funding, contract_id):
    before = stored(funding)
    assert consumer.process(ASSESSMENT, 0, 7, session(attendance="no_show")[1]).status == "processed"
    assert stored(funding) == before
    assert funding.get_contract(contract_id).accrued == Decimal("0.00")
    assert funding.unfunded_sessions(STATION) == []


def test_sessions_no_contract_pays_for_are_kept_as_unfunded(consumer, funding, http, contract_id):
    # given a session at a station without any contract, one after the contract's period, and one
    # of a type the contract has no price for
    elsewhere = uuid.uuid4()
    no_station_contract, raw1 = session(station=elsewhere, day=date(2026, 3, 1))
    after_period, raw2 = session(day=date(2026, 7, 1))
    unpriced, raw3 = session(service_type="home_service", day=date(2026, 3, 2))
    for offset, raw in enumerate((raw1, raw2, raw3)):
        assert consumer.process(ASSESSMENT, 0, offset, raw).status == "processed"
    # then nothing accrued, and each station lists its unfunded sessions with the reason
    assert funding.get_contract(contract_id).accrued == Decimal("0.00")
    response = http.get(f"/v1/stations/{STATION}/unfunded-sessions")
    assert response.status_code == 200, response.text
    assert response.json() == {"station_id": str(STATION), "sessions": [
        {"session_id": str(unpriced.session_id), "service_type": "home_service", "session_date": "2026-03-02",
         "reason": "no_unit_price", "contract_id": str(contract_id)},
        {"session_id": str(after_period.session_id), "service_type": "medication_training",
         "session_date": "2026-07-01", "reason": "no_contract", "contract_id": None},
    ]}
    assert [s["reason"] for s in http.get(f"/v1/stations/{elsewhere}/unfunded-sessions").json()["sessions"]] == [
        "no_contract"]
    # and a republished copy records nothing again
    before = stored(funding)
    assert consumer.process(ASSESSMENT, 1, 40, raw1).status == "processed"
    assert stored(funding) == before


def test_an_unfunded_session_stays_unfunded_when_a_contract_for_its_day_is_signed_later(consumer, funding):
    # given a session recorded as unfunded (no contract yet)
    station = uuid.uuid4()
    _, raw = session(station=station, day=date(2026, 2, 2))
    consumer.process(ASSESSMENT, 0, 1, raw)
    # when a contract covering that day is signed, and the session's event is republished
    contract_id = funding.sign_contract(
        station_id=station, district_code="110105", period_start=date(2026, 1, 1), period_end=date(2026, 12, 31),
        budget=Decimal("1000.00"), funding_sources=[{"source": "welfare_lottery", "amount": Decimal("1000.00")}],
        unit_prices={"medication_training": Decimal("80.00")})
    consumer.process(ASSESSMENT, 0, 2, raw)
    # then it is still counted once, as unfunded (a repeat must not turn into money)
    assert funding.get_contract(contract_id).accrued == Decimal("0.00")
    assert len(funding.unfunded_sessions(station)) == 1


def test_a_station_unknown_to_funding_is_404(http):
    assert http.get(f"/v1/stations/{uuid.uuid4()}/unfunded-sessions").status_code == 404
    assert http.get(f"/v1/stations/{uuid.uuid4()}").status_code == 404


def test_station_registered_teaches_funding_the_tier_once(consumer, funding, http):
    station = uuid.uuid4()
    event = StationRegistered(station_id=station, tier="provincial_demo", district_code="110105",
                              streets=["110105001"], capacity=30)
    raw = encode(to_cloudevent(event, id=str(uuid.uuid4()), time=NOW, sequence=8))
    assert consumer.process(REFERRAL, 3, 11, raw).status == "processed"
    before = stored(funding)
    assert consumer.process(REFERRAL, 3, 12, raw).status == "processed"  # republished: nothing new
    assert stored(funding) == before
    body = http.get(f"/v1/stations/{station}").json()
    assert (body["tier"], body["district_code"], body["contracts"], body["subsidies"]) == (
        "provincial_demo", "110105", [], [])


def test_other_events_on_the_topics_are_ignored(consumer, funding):
    from shared.contract.assessment import PlanOverdue

    event = PlanOverdue(client_id=uuid.uuid4(), registered_on=date(2026, 3, 1), due_on=date(2026, 3, 31))
    raw = encode(to_cloudevent(event, id=str(uuid.uuid4()), time=NOW, sequence=2))
    assert consumer.process(ASSESSMENT, 0, 3, raw).status == "ignored"
    assert stored(funding) == 0
