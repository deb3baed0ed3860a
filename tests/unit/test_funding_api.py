"""funding's HTTP API over an in-memory event store: status codes, error bodies,
that a refused command stores nothing, and the mapping to public events."""
from datetime import datetime, timezone
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.funding.api import create_app
from services.funding.application import create_application
from services.funding.contracts import to_public
from shared.clock import FixedClock
from shared.contract.funding import PurchaseContractPaid, PurchaseContractSigned
from shared.settings import load_settings

STATION = str(uuid4())


def contract_body(**overrides):
    body = {
        "station_id": STATION,
        "district_code": "110105",
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
        "budget": "120000.00",
        "funding_sources": [{"source": "district_finance", "amount": "96000.00"},
                            {"source": "welfare_lottery", "amount": 24000}],
        "unit_prices": {"medication_training": "80.00", "peer_support": 45.5},
    }
    return {**body, **overrides}


@pytest.fixture
def funding():
    settings = load_settings("funding", {"JINGKANG_FUNDING_STORE": "memory://"})
    return create_application(settings, clock=FixedClock(datetime(2026, 3, 31, 9, tzinfo=timezone.utc)))


@pytest.fixture
def client(funding):
    settings = load_settings("funding", {"JINGKANG_FUNDING_STORE": "memory://"})
    return TestClient(create_app(settings, funding))


@pytest.fixture
def contract_id(client):
    response = client.post("/v1/contracts", json=contract_body())
    assert response.status_code == 201, response.text
    return response.json()["contract_id"]


def stored(funding):
    return funding.recorder.max_notification_id() or 0


def assert_invalid(response, field):
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_input"
    assert field in [e["field"] for e in body["errors"]], body
    assert all(e["reason"] for e in body["errors"])


def test_sign_pay_and_read_a_contract(client, contract_id):
    paid = client.post(f"/v1/contracts/{contract_id}/payments", json={"amount": "2500", "period": "2026-Q1"})
    assert paid.status_code == 201, paid.text
    assert {k: v for k, v in paid.json().items() if k != "payment_id"} == {
        "amount": "2500.00", "paid_total": "2500.00", "remaining": "117500.00"}

    paid = client.post(f"/v1/contracts/{contract_id}/payments", json={"amount": 1234.5, "period": "2026-04"})
    assert paid.json()["remaining"] == "116265.50"

    contract = client.get(f"/v1/contracts/{contract_id}").json()
    assert contract["station_id"] == STATION and contract["district_code"] == "110105"
    assert (contract["period_start"], contract["period_end"]) == ("2026-01-01", "2026-12-31")
    assert (contract["budget"], contract["paid_total"], contract["remaining"]) == ("120000.00", "3734.50", "116265.50")
    assert contract["unit_prices"] == {"medication_training": "80.00", "peer_support": "45.50"}
    assert contract["funding_sources"][1] == {"source": "welfare_lottery", "amount": "24000.00"}
    assert [(p["amount"], p["period"], p["paid_on"]) for p in contract["payments"]] == [
        ("2500.00", "2026-Q1", "2026-03-31"), ("1234.50", "2026-04", "2026-03-31")]


def test_paying_the_exact_remaining_budget(client, contract_id):
    paid = client.post(f"/v1/contracts/{contract_id}/payments", json={"amount": "120000.00", "period": "2026-Q4"})
    assert paid.status_code == 201 and paid.json()["remaining"] == "0.00"


@pytest.mark.parametrize("body, field", [
    ({k: v for k, v in contract_body().items() if k != "budget"}, "budget"),
    (contract_body(budget="-1.00"), "budget"),
    (contract_body(budget=120000.001), "budget"),
    (contract_body(budget="lots"), "budget"),
    (contract_body(district_code="11010"), "district_code"),
    (contract_body(station_id="not-a-uuid"), "station_id"),
    (contract_body(period_end="2025-12-31"), "period_end"),
    (contract_body(budget="120000.01"), "funding_sources"),
    (contract_body(funding_sources=[{"source": "bank", "amount": "120000.00"}]), "funding_sources.0.source"),
    (contract_body(funding_sources=[]), "funding_sources"),
    (contract_body(unit_prices={"peer_support": "0"}), "unit_prices.peer_support"),
    (contract_body(surprise=True), "surprise"),
])
def test_bad_contract_is_refused_and_stores_nothing(client, funding, body, field):
    before = stored(funding)
    assert_invalid(client.post("/v1/contracts", json=body), field)
    assert stored(funding) == before


@pytest.mark.parametrize("body, field", [
    ({"period": "2026-Q1"}, "amount"),
    ({"amount": "0", "period": "2026-Q1"}, "amount"),
    ({"amount": "10.00", "period": "2026-Q5"}, "period"),
    ({"amount": "10.00", "period": "2027-01"}, "period"),  # outside the contract period
    ({"amount": "120000.01", "period": "2026-Q1"}, "amount"),  # beyond the remaining budget
])
def test_bad_payment_is_refused_and_stores_nothing(client, funding, contract_id, body, field):
    before = stored(funding)
    assert_invalid(client.post(f"/v1/contracts/{contract_id}/payments", json=body), field)
    assert stored(funding) == before


def test_overpayment_names_the_amount_and_the_remaining_budget(client, funding, contract_id):
    client.post(f"/v1/contracts/{contract_id}/payments", json={"amount": "100000.00", "period": "2026-Q1"})
    before = stored(funding)
    response = client.post(f"/v1/contracts/{contract_id}/payments", json={"amount": "20000.01", "period": "2026-Q2"})
    assert response.json() == {"error": "invalid_input", "errors": [
        {"field": "amount", "reason": "exceeds the remaining budget of 20000.00"}]}
    assert stored(funding) == before
    assert client.get(f"/v1/contracts/{contract_id}").json()["paid_total"] == "100000.00"


def test_unknown_contract_is_404(client, funding):
    unknown = uuid4()
    assert client.get(f"/v1/contracts/{unknown}").status_code == 404
    response = client.post(f"/v1/contracts/{unknown}/payments", json={"amount": "1.00", "period": "2026-Q1"})
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert stored(funding) == 0


def test_stored_events_map_to_the_public_contract(client, funding, contract_id):
    payment = client.post(f"/v1/contracts/{contract_id}/payments", json={"amount": "2500", "period": "2026-Q1"}).json()
    public = [p for n in funding.recorder.select_notifications(start=1, limit=100)
              for p in to_public(funding.mapper.to_domain_event(n))]
    assert [type(p) for p in public] == [PurchaseContractSigned, PurchaseContractPaid]
    signed, paid = (p.model_dump(mode="json") for p in public)
    assert all(p.subject == contract_id for p in public)  # keyed by contract id
    assert signed == {
        "contract_id": contract_id, "station_id": STATION, "district_code": "110105",
        "period_start": "2026-01-01", "period_end": "2026-12-31", "budget": "120000.00",
        "funding_sources": [{"source": "district_finance", "amount": "96000.00"},
                            {"source": "welfare_lottery", "amount": "24000.00"}],
        "unit_prices": {"medication_training": "80.00", "peer_support": "45.50"},
    }
    assert paid == {"contract_id": contract_id, "payment_id": payment["payment_id"], "amount": "2500.00",
                    "period": "2026-Q1", "paid_total": "2500.00", "remaining": "117500.00"}
