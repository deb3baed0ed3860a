"""Subsidies over HTTP: a one-time construction subsidy and operating subsidies by year, for
demonstration sites only (funding learns a station's tier from referral's
StationRegistered); SubsidyGranted is published keyed by the station. Refusals store nothing."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from services.funding.api import create_app
from services.funding.application import Funding, create_application
from services.funding.consumers import create_consumer
from services.funding.contracts import to_public
from shared.clock import FixedClock
from shared.contract.funding import SubsidyGranted
from shared.contract.referral import StationRegistered
from shared.envelope import encode, to_cloudevent
from shared.settings import load_settings

NOW = datetime(2026, 2, 1, 2, tzinfo=timezone.utc)
SETTINGS = {"JINGKANG_FUNDING_STORE": "memory://"}
from tests.support import with_idempotency_keys


@pytest.fixture
def funding() -> Funding:
    return create_application(load_settings("funding", SETTINGS), clock=FixedClock(NOW))


@pytest.fixture
def http(funding) -> TestClient:
    return with_idempotency_keys(TestClient(create_app(load_settings("funding", SETTINGS), funding)))


def registered(funding: Funding, tier: str) -> str:
    """A station as referral publishes it, through the worker's consumer."""
    station = uuid.uuid4()
    event = StationRegistered(station_id=station, tier=tier, district_code="110105", streets=["110105001"], capacity=20)
    raw = encode(to_cloudevent(event, id=str(uuid.uuid4()), time=NOW, sequence=1))
    assert create_consumer(load_settings("funding", SETTINGS), funding).process(
        "jingkang.referral.v1", 0, station.int % 1000, raw).status == "processed"
    return str(station)


def grant(http, station, **body):
    return http.post(f"/v1/stations/{station}/subsidies", json={"kind": "construction", "amount": "200000.00", **body})


def stored(funding: Funding) -> int:
    return funding.recorder.max_notification_id() or 0


def test_a_demonstration_site_gets_its_construction_subsidy_once(funding, http):
    station = registered(funding, "provincial_demo")
    response = grant(http, station)
    assert response.status_code == 201, response.text
    body = response.json()
    assert {k: body[k] for k in ("station_id", "kind", "amount", "year", "granted_on")} == {
        "station_id": station, "kind": "construction", "amount": "200000.00", "year": None, "granted_on": "2026-02-01"}
    [published] = [p for n in funding.recorder.select_notifications(start=1, limit=100)
                   for p in to_public(funding.mapper.to_domain_event(n))]
    assert isinstance(published, SubsidyGranted) and published.subject == station
    assert (published.kind, published.amount, published.year) == ("construction", Decimal("200000.00"), None)
    # a second construction subsidy: 409, nothing stored
    before = stored(funding)
    response = grant(http, station, amount="1000.00")
    assert response.status_code == 409 and "one-time" in response.json()["detail"]
    assert stored(funding) == before
    assert [s["kind"] for s in http.get(f"/v1/stations/{station}").json()["subsidies"]] == ["construction"]


def test_operating_subsidies_once_a_year(funding, http):
    station = registered(funding, "provincial_demo")
    assert grant(http, station, kind="operating", amount="50000.00", year=2026).status_code == 201
    assert grant(http, station, kind="operating", amount="50000.00", year=2026).status_code == 409
    assert grant(http, station, kind="operating", amount="60000.00", year=2027).status_code == 201
    assert grant(http, station).status_code == 201  # construction is its own, once
    subsidies = http.get(f"/v1/stations/{station}").json()["subsidies"]
    assert [(s["kind"], s["year"], s["amount"]) for s in subsidies] == [
        ("operating", 2026, "50000.00"), ("operating", 2027, "60000.00"), ("construction", None, "200000.00")]


def test_a_ningkang_home_is_a_demonstration_site_too(funding, http):
    assert grant(http, registered(funding, "ningkang_home")).status_code == 201


@pytest.mark.parametrize("tier, body, status, field", [
    ("ningkang_post", {}, 409, None),                                # not a demonstration site
    (None, {}, 409, None),                                           # tier not learned yet
    ("provincial_demo", {"kind": "operating"}, 422, "year"),
    ("provincial_demo", {"year": 2026}, 422, "year"),
    ("provincial_demo", {"kind": "bonus"}, 422, "kind"),
    ("provincial_demo", {"amount": "0"}, 422, "amount"),
    ("provincial_demo", {"amount": 1.005}, 422, "amount"),
])
def test_refused_subsidies_store_nothing(funding, http, tier, body, status, field):
    if tier:
        station = registered(funding, tier)
    else:  # funding knows the station from a contract only
        station = str(uuid.uuid4())
        funding.sign_contract(station_id=uuid.UUID(station), district_code="110105", period_start=NOW.date(),
                              period_end=NOW.date().replace(year=2027), budget=Decimal("10.00"),
                              funding_sources=[{"source": "welfare_lottery", "amount": Decimal("10.00")}],
                              unit_prices={})
    before = stored(funding)
    response = grant(http, station, **body)
    assert response.status_code == status, response.text
    if field:
        assert field in [e["field"] for e in response.json()["errors"]]
    assert stored(funding) == before


def test_a_station_funding_never_heard_of_is_404(funding, http):
    assert grant(http, uuid.uuid4()).status_code == 404
    assert stored(funding) == 0
