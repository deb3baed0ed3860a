"""Settlements over HTTP: a period's priced accruals × the purchaser's performance score,
held against the budget, approved by a second person, paid (PurchaseContractPaid). Over the
remaining budget the settlement is refused (422) and the refusal is recorded as
BudgetExceededRejected with the figures, and nothing else. Every figure of
GET /v1/contracts/{id} is reproducible from the events: a fresh application over the same
store answers the same, and the public events add up to it."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from services.funding.api import create_app
from services.funding.application import Funding, create_application
from services.funding.consumers import create_consumer
from services.funding.contracts import to_public
from shared.clock import FixedClock
from shared.contract.assessment import ServiceSessionDelivered
from shared.contract.funding import (
    BudgetExceededRejected, PurchaseContractPaid, SessionAccrued, SettlementApproved,
)
from shared.envelope import encode, to_cloudevent
from shared.settings import load_settings

NOW = datetime(2026, 4, 2, 2, tzinfo=timezone.utc)  # Q1 is over
STATION = str(uuid.uuid4())
A = {"X-Jingkang-Actor": "officer-a", "X-Jingkang-Role": "funding_officer"}
B = {"X-Jingkang-Actor": "officer-b", "X-Jingkang-Role": "funding_officer"}
REASONS = ["服务记录完整", "two outcome indicators below target"]
from tests.support import with_idempotency_keys


def contract_body(budget="100000.00", **overrides):
    return {"station_id": STATION, "district_code": "110105", "period_start": "2026-01-01",
            "period_end": "2026-12-31", "budget": budget,
            "funding_sources": [{"source": "welfare_lottery", "amount": budget}],
            "unit_prices": {"medication_training": "80.00", "peer_support": "45.50"}, **overrides}


def make(store: str = "memory://") -> tuple[Funding, TestClient]:
    settings = load_settings("funding", {"JINGKANG_FUNDING_STORE": store})
    funding = create_application(settings, clock=FixedClock(NOW))
    return funding, with_idempotency_keys(TestClient(create_app(settings, funding)))


@pytest.fixture
def funding_and_http():
    return make()


@pytest.fixture
def funding(funding_and_http) -> Funding:
    return funding_and_http[0]


@pytest.fixture
def http(funding_and_http) -> TestClient:
    return funding_and_http[1]


def sign(http, **overrides) -> str:
    response = http.post("/v1/contracts", json=contract_body(**overrides), headers=A)
    assert response.status_code == 201, response.text
    return response.json()["contract_id"]


def deliver(funding: Funding, sessions: list[tuple[str, date]], station: str = STATION, first_offset: int = 0) -> None:
    """Sessions as assessment publishes them, through the worker's consumer."""
    consumer = create_consumer(load_settings("funding", {"JINGKANG_FUNDING_STORE": "memory://"}), funding)
    for offset, (service_type, day) in enumerate(sessions, start=first_offset):
        event = ServiceSessionDelivered(client_id=uuid.uuid4(), session_id=uuid.uuid4(), station_id=uuid.UUID(station),
                                        service_type=service_type, session_date=day, minutes=60, mode="group",
                                        attendance="attended")
        raw = encode(to_cloudevent(event, id=str(uuid.uuid4()), time=NOW, sequence=offset + 1))
        assert consumer.process("jingkang.assessment.v1", 0, offset, raw).status == "processed"


Q1_SESSIONS = [("medication_training", date(2026, 2, 10))] * 30 + [("peer_support", date(2026, 3, 31))] * 10
Q1_ACCRUED = "2855.00"  # 30 × 80.00 + 10 × 45.50


def settle(http, contract_id, headers=A, **body):
    return http.post(f"/v1/contracts/{contract_id}/settlements", headers=headers,
                     json={"period": "2026-Q1", "performance_score": "0.92", "reasons": REASONS, **body})


def stored(funding: Funding) -> int:
    return funding.recorder.max_notification_id() or 0


def public_events(funding: Funding) -> list:
    return [p for n in funding.recorder.select_notifications(start=1, limit=10000)
            for p in to_public(funding.mapper.to_domain_event(n))]


def assert_refused(funding, response, status, field=None):
    assert response.status_code == status, response.text
    if field:
        assert field in [e["field"] for e in response.json()["errors"]], response.json()


def test_sessions_settled_approved_by_a_second_person_and_paid(funding, http):
    # given a contract and the sessions of Q1 delivered at its station
    contract_id = sign(http)
    deliver(funding, Q1_SESSIONS)
    assert http.get(f"/v1/contracts/{contract_id}").json()["accrued"] == Q1_ACCRUED

    # when officer A settles Q1 with the supervision score 0.92 and its reasons
    response = settle(http, contract_id)
    assert response.status_code == 201, response.text
    settlement = response.json()
    assert {k: settlement[k] for k in ("period", "accrued", "performance_score", "amount", "status", "prepared_by",
                                       "reasons")} == {
        "period": "2026-Q1", "accrued": "2855.00", "performance_score": "0.92", "amount": "2626.60",
        "status": "pending", "prepared_by": "officer-a", "reasons": REASONS}
    # then the amount is held against the budget while it awaits approval
    contract = http.get(f"/v1/contracts/{contract_id}").json()
    assert {k: contract[k] for k in ("budget", "accrued", "awaiting_approval", "settled", "paid", "remaining")} == {
        "budget": "100000.00", "accrued": "2855.00", "awaiting_approval": "2626.60", "settled": "0.00",
        "paid": "0.00", "remaining": "97373.40"}

    # when officer A tries to approve their own settlement: 409, nothing stored
    approval = f"/v1/contracts/{contract_id}/settlements/{settlement['settlement_id']}/approval"
    payment = f"/v1/contracts/{contract_id}/settlements/{settlement['settlement_id']}/payment"
    before = stored(funding)
    response = http.post(approval, headers=A)
    assert response.status_code == 409 and "second person" in response.json()["detail"]
    # and paying it before approval: 409
    assert http.post(payment, headers=B).status_code == 409
    assert stored(funding) == before

    # when officer B approves it, then it is settled
    response = http.post(approval, headers=B)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["approved_by"], response.json()["approved_on"]) == (
        "approved", "officer-b", "2026-04-02")
    assert http.post(approval, headers={"X-Jingkang-Actor": "officer-c"}).status_code == 409  # once

    # when it is paid, then PurchaseContractPaid, and paid never beyond the budget
    response = http.post(payment, headers=B)
    assert response.status_code == 201, response.text
    assert {k: v for k, v in response.json().items() if k != "payment_id"} == {
        "amount": "2626.60", "paid_total": "2626.60", "remaining": "97373.40",
        "settlement_id": settlement["settlement_id"]}
    assert http.post(payment, headers=B).status_code == 409  # paid once
    contract = http.get(f"/v1/contracts/{contract_id}").json()
    assert {k: contract[k] for k in ("accrued", "awaiting_approval", "settled", "paid", "remaining")} == {
        "accrued": "2855.00", "awaiting_approval": "0.00", "settled": "2626.60", "paid": "2626.60",
        "remaining": "97373.40"}
    assert contract["settlements"][0]["status"] == "paid"
    assert contract["payments"][0]["settlement_id"] == settlement["settlement_id"]

    # and the public story: 40 SessionAccrued, SettlementApproved, PurchaseContractPaid, keyed by the contract
    public = [p for p in public_events(funding) if not isinstance(p, SessionAccrued)]
    assert [type(p).NAME for p in public] == ["PurchaseContractSigned", "SettlementApproved", "PurchaseContractPaid"]
    approved, paid = public[1], public[2]
    assert approved.model_dump(mode="json") == {
        "contract_id": contract_id, "settlement_id": settlement["settlement_id"], "period": "2026-Q1",
        "accrued": "2855.00", "performance_score": "0.92", "amount": "2626.60"}
    assert (paid.amount, paid.period, paid.paid_total, paid.remaining) == (
        Decimal("2626.60"), "2026-Q1", Decimal("2626.60"), Decimal("97373.40"))
    assert all(p.subject == contract_id for p in public)
    # the reasons (free text) never leave funding
    assert not any("服务记录完整" in p.model_dump_json() for p in public_events(funding))


def test_a_settlement_over_the_remaining_budget_is_refused_and_the_refusal_recorded(funding, http):
    # given a budget of 2000.00, of which 100.00 already paid directly, and 2855.00 accrued in Q1
    contract_id = sign(http, budget="2000.00")
    http.post(f"/v1/contracts/{contract_id}/payments", json={"amount": "100.00", "period": "2026-01"}, headers=A)
    deliver(funding, Q1_SESSIONS)
    before = stored(funding)
    # when Q1 is settled with the score 0.8 (2284.00)
    response = settle(http, contract_id, performance_score="0.8")
    # then 422 naming the amount and the figures
    assert response.status_code == 422, response.text
    assert response.json() == {"error": "invalid_input", "errors": [
        {"field": "amount", "reason": "the settlement of 2284.00 exceeds the remaining budget of 1900.00"}]}
    # and exactly one domain event was stored: the refusal, published as BudgetExceededRejected with the figures
    assert stored(funding) == before + 2  # the refusal, and the answer kept for the request's Idempotency-Key
    rejected = public_events(funding)[-1]
    assert isinstance(rejected, BudgetExceededRejected)
    assert rejected.model_dump(mode="json") == {
        "contract_id": contract_id, "requested": "2284.00", "remaining": "1900.00", "period": "2026-Q1",
        "accrued": "2855.00", "performance_score": "0.8"}
    # and no settlement exists; the contract shows the refusal
    contract = http.get(f"/v1/contracts/{contract_id}").json()
    assert contract["settlements"] == [] and contract["remaining"] == "1900.00"
    assert contract["budget_rejections"] == [{"period": "2026-Q1", "accrued": "2855.00", "performance_score": "0.8",
                                              "requested": "2284.00", "remaining": "1900.00",
                                              "refused_on": "2026-04-02"}]
    # when settled with a score that fits exactly (2855.00 × 0.6655 = 1900.0025 -> 1900.00)
    response = settle(http, contract_id, performance_score="0.6655")
    assert response.status_code == 201 and response.json()["amount"] == "1900.00"
    assert http.get(f"/v1/contracts/{contract_id}").json()["remaining"] == "0.00"


def test_a_settlement_awaiting_approval_holds_the_budget_against_direct_payments(funding, http):
    contract_id = sign(http, budget="3000.00")
    deliver(funding, Q1_SESSIONS)
    assert settle(http, contract_id, performance_score="1").json()["amount"] == "2855.00"
    response = http.post(f"/v1/contracts/{contract_id}/payments", json={"amount": "145.01", "period": "2026-04"},
                         headers=A)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "amount", "reason": "exceeds the remaining budget of 145.00"}]


def test_a_declined_settlement_frees_the_budget_and_the_period(funding, http):
    contract_id = sign(http)
    deliver(funding, Q1_SESSIONS)
    first = settle(http, contract_id).json()
    assert settle(http, contract_id, period="2026-03").status_code == 409  # overlaps Q1
    response = http.post(f"/v1/contracts/{contract_id}/settlements/{first['settlement_id']}/decline", headers=B)
    assert response.status_code == 200 and response.json()["status"] == "declined"
    again = settle(http, contract_id, performance_score="0.95")
    assert again.status_code == 201 and again.json()["amount"] == "2712.25"
    contract = http.get(f"/v1/contracts/{contract_id}").json()
    assert [s["status"] for s in contract["settlements"]] == ["declined", "pending"]
    assert contract["remaining"] == "97287.75"


@pytest.mark.parametrize("body, headers, status, field", [
    ({}, {}, 422, "X-Jingkang-Actor"),                                # who prepares it must be named
    ({}, {"X-Jingkang-Actor": "  "}, 422, "X-Jingkang-Actor"),
    ({"period": "2026-Q2"}, A, 409, None),                            # not over yet
    ({"period": "2027-Q1"}, A, 422, "period"),                        # outside the contract
    ({"period": "Q1"}, A, 422, "period"),
    ({"performance_score": "1.5"}, A, 422, "performance_score"),
    ({"performance_score": -0.1}, A, 422, "performance_score"),
    ({"performance_score": "0.12345"}, A, 422, "performance_score"),
    ({"performance_score": "high"}, A, 422, "performance_score"),
    ({"reasons": []}, A, 422, "reasons"),
    ({"reasons": ["x" * 501]}, A, 422, "reasons.0"),
    ({"surprise": 1}, A, 422, "surprise"),
])
def test_refused_settlements_store_nothing(funding, http, body, headers, status, field):
    contract_id = sign(http)
    deliver(funding, Q1_SESSIONS)
    before = stored(funding)
    assert_refused(funding, settle(http, contract_id, headers=headers, **body), status, field)
    assert stored(funding) == before
    assert http.get(f"/v1/contracts/{contract_id}").json()["settlements"] == []


def test_settling_a_period_with_nothing_accrued_is_409(funding, http):
    contract_id = sign(http)
    before = stored(funding)
    response = settle(http, contract_id)
    assert response.status_code == 409 and "nothing to settle" in response.json()["detail"]
    assert stored(funding) == before


def test_unknown_contract_or_settlement_is_404_and_stores_nothing(funding, http):
    contract_id = sign(http)
    before = stored(funding)
    assert settle(http, uuid.uuid4()).status_code == 404
    unknown = uuid.uuid4()
    for action in ("approval", "decline", "payment"):
        response = http.post(f"/v1/contracts/{contract_id}/settlements/{unknown}/{action}", headers=B)
        assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert stored(funding) == before


def test_every_figure_is_reproducible_from_the_events(tmp_path):
    # given a history on a file store: sessions, a settlement paid, one awaiting approval,
    # a refusal over budget, a direct payment and unfunded sessions
    store = f"sqlite:///{tmp_path}/funding.sqlite"
    funding, http = make(store)
    contract_id = sign(http, budget="6000.00")
    deliver(funding, Q1_SESSIONS + [("home_service", date(2026, 2, 1)), ("peer_support", date(2026, 4, 1))])
    first = settle(http, contract_id, period="2026-01", performance_score="1").json()  # nothing in January
    assert first.get("detail")
    q1 = settle(http, contract_id).json()
    http.post(f"/v1/contracts/{contract_id}/settlements/{q1['settlement_id']}/approval", headers=B)
    http.post(f"/v1/contracts/{contract_id}/settlements/{q1['settlement_id']}/payment", headers=B)
    http.post(f"/v1/contracts/{contract_id}/payments", json={"amount": "1000.00", "period": "2026-04"}, headers=A)
    assert settle(http, contract_id, period="2026-Q1", performance_score="1").status_code == 409  # settled
    live = {path: http.get(path).json() for path in (f"/v1/contracts/{contract_id}", f"/v1/stations/{STATION}",
                                                      f"/v1/stations/{STATION}/unfunded-sessions",
                                                      "/v1/purchasers/110105")}
    assert live[f"/v1/contracts/{contract_id}"]["paid"] == "3626.60"

    # when a fresh application is built over the same store
    replayed, replayed_http = make(store)
    # then it answers exactly the same
    assert {path: replayed_http.get(path).json() for path in live} == live
    # and the published events add up to the contract's figures
    contract = live[f"/v1/contracts/{contract_id}"]
    public = public_events(replayed)
    total = lambda cls: str(sum((p.amount for p in public if isinstance(p, cls)), Decimal("0.00")))  # noqa: E731
    assert total(SessionAccrued) == contract["accrued"] == "2900.50"
    assert total(SettlementApproved) == contract["settled"] == "2626.60"
    assert total(PurchaseContractPaid) == contract["paid"] == "3626.60"
    last_paid = [p for p in public if isinstance(p, PurchaseContractPaid)][-1]
    assert str(last_paid.remaining) == contract["remaining"] == "2373.40"


def test_a_busy_contract_reads_the_same_from_its_snapshot(tmp_path):
    # given more sessions than the snapshot interval, some of them unfunded
    store = f"sqlite:///{tmp_path}/funding.sqlite"
    funding, http = make(store)
    contract_id = sign(http)
    deliver(funding, [("peer_support", date(2026, 3, 1))] * 230 + [("home_service", date(2026, 3, 2))] * 120)
    assert funding.snapshots is not None and list(funding.snapshots.get(uuid.UUID(contract_id)))
    paths = (f"/v1/contracts/{contract_id}", f"/v1/stations/{STATION}/unfunded-sessions")
    live = [http.get(path).json() for path in paths]
    assert live[0]["accrued"] == "10465.00" and len(live[1]["sessions"]) == 120
    # when read by a fresh application (from the latest snapshot and the events after it)
    _, replayed = make(store)
    assert [replayed.get(path).json() for path in paths] == live
