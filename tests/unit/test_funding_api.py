"""funding's HTTP API over an in-memory event store: contracts and direct payments, the
purchaser and its welfare-lottery share, status codes, error bodies, that a refused command
stores nothing, and the mapping to public events."""
from datetime import date, datetime, timezone
from decimal import Decimal
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from fastapi.testclient import TestClient

from services.funding.api import create_app
from services.funding.application import create_application
from services.funding.contracts import to_public
from services.funding.domain import PurchaseContract
from shared.clock import FixedClock
from shared.contract.funding import LotteryShareBelowMinimum, PurchaseContractPaid, PurchaseContractSigned
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
    assert (contract["budget"], contract["paid"], contract["remaining"]) == ("120000.00", "3734.50", "116265.50")
    assert (contract["accrued"], contract["settled"], contract["awaiting_approval"]) == ("0.00", "0.00", "0.00")
    # by default, the district buys
    assert (contract["purchaser_code"], contract["purchaser_level"]) == ("110105", "district")
    assert contract["unit_prices"] == {"medication_training": "80.00", "peer_support": "45.50"}
    assert contract["funding_sources"][1] == {"source": "welfare_lottery", "amount": "24000.00"}
    assert [(p["amount"], p["period"], p["paid_on"], p["settlement_id"]) for p in contract["payments"]] == [
        ("2500.00", "2026-Q1", "2026-03-31", None), ("1234.50", "2026-04", "2026-03-31", None)]


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
    assert client.get(f"/v1/contracts/{contract_id}").json()["paid"] == "100000.00"


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
        "unit_prices": {"medication_training": "80.00", "peer_support": "45.50"}, "purchaser_code": "110105",
    }
    assert paid == {"contract_id": contract_id, "payment_id": payment["payment_id"], "amount": "2500.00",
                    "period": "2026-Q1", "paid_total": "2500.00", "remaining": "117500.00"}


# -- purchasers and the welfare-lottery share ------------------------------------------------------

def sources(lottery: str, other: str) -> list[dict]:
    return [{"source": "city_finance", "amount": other}, {"source": "welfare_lottery", "amount": lottery}]


def test_a_purchaser_whose_lottery_share_falls_below_the_minimum_is_flagged_not_refused(client, funding):
    # given the city (110000) buys for one station with 30% from the welfare lottery
    first = client.post("/v1/contracts", json=contract_body(
        station_id=str(uuid4()), purchaser_code="110000", budget="100000.00",
        funding_sources=sources("30000.00", "70000.00"))).json()["contract_id"]
    assert client.get(f"/v1/contracts/{first}").json()["lottery_share_below_minimum"] is None
    # when it signs for another station, in another district, with 5%
    response = client.post("/v1/contracts", json=contract_body(
        station_id=str(uuid4()), district_code="110106", purchaser_code="110000", budget="100000.00",
        funding_sources=sources("5000.00", "95000.00")))
    # then the contract stands, flagged with the purchaser's figures across both contracts
    assert response.status_code == 201, response.text
    second = response.json()["contract_id"]
    contract = client.get(f"/v1/contracts/{second}").json()
    assert (contract["purchaser_code"], contract["purchaser_level"]) == ("110000", "city")
    assert contract["lottery_share_below_minimum"] == {
        "purchaser_code": "110000", "lottery": "35000.00", "spending": "200000.00", "share": "0.1750",
        "minimum": "0.20"}
    assert client.get("/v1/purchasers/110000").json() == {
        "purchaser_code": "110000", "contracts": 2, "spending": "200000.00",
        "by_source": {"city_finance": "165000.00", "district_finance": "0.00", "welfare_lottery": "35000.00"},
        "lottery_share": "0.1750", "minimum": "0.20", "below_minimum": True}
    # and the flag is published, keyed by the contract
    [flag] = [p for n in funding.recorder.select_notifications(start=1, limit=100)
              for p in to_public(funding.mapper.to_domain_event(n)) if isinstance(p, LotteryShareBelowMinimum)]
    assert flag.model_dump(mode="json") == {
        "contract_id": second, "purchaser_code": "110000", "lottery": "35000.00", "spending": "200000.00",
        "share": "0.1750", "minimum": "0.20"}
    # and the district's own purchases are another plan
    assert client.get("/v1/purchasers/110105").status_code == 404


def test_exactly_the_minimum_share_is_not_flagged(client):
    response = client.post("/v1/contracts", json=contract_body(funding_sources=sources("24000.00", "96000.00")))
    assert client.get(f"/v1/contracts/{response.json()['contract_id']}").json()["lottery_share_below_minimum"] is None
    assert client.get("/v1/purchasers/110105").json()["below_minimum"] is False


def test_the_minimum_is_configurable_per_city():
    settings = load_settings("funding", {"JINGKANG_FUNDING_STORE": "memory://",
                                         "JINGKANG_FUNDING_LOTTERY_MINIMUM": "0.25"})
    client = TestClient(create_app(settings, create_application(settings)))
    contract_id = client.post("/v1/contracts", json=contract_body()).json()["contract_id"]  # 20% lottery
    assert client.get(f"/v1/contracts/{contract_id}").json()["lottery_share_below_minimum"]["minimum"] == "0.25"


@pytest.mark.parametrize("purchaser", ["110106", "320100", "11000"])
def test_a_purchaser_that_is_not_the_district_or_its_city_is_refused(client, funding, purchaser):
    assert_invalid(client.post("/v1/contracts", json=contract_body(purchaser_code=purchaser)), "purchaser_code")
    assert stored(funding) == 0


def test_a_stations_contract_periods_must_not_overlap(client, funding, contract_id):
    before = stored(funding)
    response = client.post("/v1/contracts", json=contract_body(period_start="2026-12-31", period_end="2027-06-30"))
    assert response.status_code == 409 and contract_id in response.json()["detail"]
    assert stored(funding) == before
    following = client.post("/v1/contracts", json=contract_body(period_start="2027-01-01", period_end="2027-12-31"))
    assert following.status_code == 201
    assert [c["contract_id"] for c in client.get(f"/v1/stations/{STATION}").json()["contracts"]] == [
        contract_id, following.json()["contract_id"]]


def test_a_contract_stored_before_purchasers_were_recorded_replays_bought_by_its_district(funding):
    # given a Signed event exactly as version 1 stored it (no purchaser)
    contract_id = uuid4()
    old_state = {"timestamp": datetime(2025, 12, 20, 1, tzinfo=timezone.utc),
                 "originator_topic": get_topic(PurchaseContract), "station_id": uuid4(), "district_code": "110106",
                 "period_start": date(2026, 1, 1), "period_end": date(2026, 12, 31), "budget": Decimal("500.00"),
                 "funding_sources": [{"source": "district_finance", "amount": Decimal("500.00")}],
                 "unit_prices": {"peer_support": Decimal("40.00")}, "signed_on": date(2025, 12, 20)}
    funding.recorder.insert_events([StoredEvent(
        originator_id=contract_id, originator_version=1, topic=get_topic(PurchaseContract.Signed),
        state=funding.mapper.transcoder.encode(old_state))])
    # then it replays, and is published, with its district as the purchaser
    contract = funding.get_contract(contract_id)
    assert (contract.purchaser_code, contract.purchaser_level, contract.remaining) == (
        "110106", "district", Decimal("500.00"))
    [stored_event] = funding.recorder.select_notifications(start=1, limit=10)
    [signed] = to_public(funding.mapper.to_domain_event(stored_event))
    assert signed.purchaser_code == "110106"


def test_a_purchasers_contracts_are_listed_with_their_figures_in_signing_order(client):
    first = client.post("/v1/contracts", json=contract_body()).json()["contract_id"]
    second = client.post("/v1/contracts", json=contract_body(station_id=str(uuid4()), budget="50000.00",
                                                              funding_sources=[{"source": "welfare_lottery",
                                                                                "amount": "50000.00"}])).json()["contract_id"]
    client.post(f"/v1/contracts/{first}/payments", json={"amount": "1000.00", "period": "2026-02"},
                headers={"Idempotency-Key": str(uuid4())})
    answer = client.get("/v1/contracts", params={"purchaser": "110105"})
    assert answer.status_code == 200
    rows = [(c["contract_id"], c["budget"], c["paid"], c["remaining"]) for c in answer.json()["contracts"]]
    assert rows == [(first, "120000.00", "1000.00", "119000.00"), (second, "50000.00", "0.00", "50000.00")]
    assert client.get("/v1/contracts", params={"purchaser": "110108"}).json()["contracts"] == []
    assert client.get("/v1/contracts", params={"purchaser": "11010"}).status_code == 422
