"""Commands are safe to retry (issue 10, item 4): the Idempotency-Key header (shared/
idempotency.py) and commands that set a state. Scenarios over an in-memory store; the
concurrent ones also run on PostgreSQL (tests/integration/test_idempotency_postgres.py).
A retry is the same request again: same key, same body, same caller."""
from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable

import pytest
from fastapi.testclient import TestClient

from services.funding import api as funding_api
from services.funding.application import create_application as funding_application
from services.intake import api as intake_api
from services.intake.application import create_application as intake_application
from services.intake.contracts import to_public as intake_public
from services.referral import api as referral_api
from services.referral.application import create_application as referral_application
from shared.clock import FixedClock
from shared.contract.intake import ConsentRecorded
from shared.settings import load_settings
from shared.store import ENVELOPE_RESERVE_BYTES
from tests.support import application_body

NOW = datetime(2026, 3, 31, 9, tzinfo=timezone.utc)
STATION = uuid.uuid4()
PAYMENT = {"amount": "1.00", "period": "2026-Q1"}


def api_settings(service: str, store: str):
    """As an API process has them (on PostgreSQL it saves through database functions)."""
    return replace(load_settings(service, {f"JINGKANG_{service.upper()}_STORE": store}), process="api")


def funding_world(store: str = "memory://", clock: FixedClock | None = None):
    settings = api_settings("funding", store)
    app = funding_application(settings, clock=clock or FixedClock(NOW))
    http = TestClient(funding_api.create_app(settings, app))
    signed = http.post("/v1/contracts", json={
        "station_id": str(STATION), "district_code": "110105", "period_start": "2026-01-01",
        "period_end": "2026-12-31", "budget": "1000.00",
        "funding_sources": [{"source": "district_finance", "amount": "800.00"},
                            {"source": "welfare_lottery", "amount": "200.00"}],
        "unit_prices": {"peer_support": "50.00"}})
    assert signed.status_code == 201, signed.text
    return app, http, signed.json()["contract_id"]


def intake_world(store: str = "memory://"):
    settings = api_settings("intake", store)
    app = intake_application(settings, clock=FixedClock())
    http = TestClient(intake_api.create_app(settings, app))
    submitted = http.post("/v1/applications", json=application_body())
    assert submitted.status_code == 201, submitted.text
    return app, http, submitted.json()["application_id"]


def stored(app) -> int:
    return app.recorder.max_notification_id() or 0


def all_at_once(n: int, request: Callable[[], object]) -> list:
    """n threads, released together, each sending the request; their answers."""
    start, answers = threading.Barrier(n), []

    def one() -> None:
        start.wait()
        answers.append(request())

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def concurrent_payments_with_one_key_pay_once(store: str) -> None:
    app, http, contract_id = funding_world(store)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    answers = all_at_once(50, lambda: http.post(f"/v1/contracts/{contract_id}/payments", json=PAYMENT, headers=key))
    # every caller is told about the one payment, with the same answer
    assert {a.status_code for a in answers} == {201}, {a.text for a in answers if a.status_code != 201}
    assert len({a.json()["payment_id"] for a in answers}) == 1
    contract = http.get(f"/v1/contracts/{contract_id}").json()
    assert len(contract["payments"]) == 1 and contract["paid"] == "1.00"


def concurrent_identical_consents_record_one(store: str) -> None:
    app, http, application_id = intake_world(store)
    body = {"signed_by": "self", "scope": {"rehabilitation_services": True, "share_with_health": True}}
    answers = all_at_once(50, lambda: http.post(f"/v1/applications/{application_id}/consent", json=body))
    assert sorted(a.status_code for a in answers) == [200] * 49 + [201], {a.text for a in answers}
    consents = [p for n in app.recorder.select_notifications(start=1, limit=1000)
                for p in intake_public(app.mapper.to_domain_event(n)) if isinstance(p, ConsentRecorded)]
    assert len(consents) == 1


def test_50_concurrent_identical_payments_with_one_key_make_one_payment():
    concurrent_payments_with_one_key_pay_once("memory://")


def test_50_concurrent_identical_consents_record_one_consent():
    concurrent_identical_consents_record_one("memory://")


def test_a_payment_without_a_key_is_refused_naming_the_header():
    app, http, contract_id = funding_world()
    before = stored(app)
    r = http.post(f"/v1/contracts/{contract_id}/payments", json=PAYMENT)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"
    assert "Idempotency-Key required" in r.json()["errors"][0]["reason"]
    assert stored(app) == before


@pytest.mark.parametrize("path", ["/settlements", "/settlements/{s}/payment"])
def test_settlements_and_their_payment_require_a_key(path):
    app, http, contract_id = funding_world()
    r = http.post(f"/v1/contracts/{contract_id}" + path.format(s=uuid.uuid4()),
                  json={"period": "2026-01", "performance_score": "0.9", "reasons": ["visit"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "Idempotency-Key"


def test_a_subsidy_requires_a_key():
    app, http, _ = funding_world()
    r = http.post(f"/v1/stations/{STATION}/subsidies", json={"kind": "construction", "amount": "10.00"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "Idempotency-Key"


def test_a_retry_gets_the_original_answer_and_records_nothing():
    app, http, contract_id = funding_world()
    key = {"Idempotency-Key": '"pay-2026-q1-1"'}  # the draft's form: a quoted string
    first = http.post(f"/v1/contracts/{contract_id}/payments", json=PAYMENT, headers=key)
    assert first.status_code == 201
    before = stored(app)
    # the retry re-serialises the same body
    again = http.post(f"/v1/contracts/{contract_id}/payments", content=b'{"period": "2026-Q1", "amount": "1.00"}',
                      headers={**key, "Content-Type": "application/json"})
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert stored(app) == before


def test_the_same_key_with_another_body_is_refused_and_records_nothing():
    app, http, contract_id = funding_world()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert http.post(f"/v1/contracts/{contract_id}/payments", json=PAYMENT, headers=key).status_code == 201
    before = stored(app)
    r = http.post(f"/v1/contracts/{contract_id}/payments", json={**PAYMENT, "amount": "2.00"}, headers=key)
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "Idempotency-Key", "reason": "this key was used for another request; "
                                                                         "use a new key for a new request"}]
    assert stored(app) == before


def test_keys_are_the_callers_own():
    app, http, contract_id = funding_world()
    key = str(uuid.uuid4())
    for actor in ("officer-a", "officer-b"):
        r = http.post(f"/v1/contracts/{contract_id}/payments", json=PAYMENT,
                      headers={"Idempotency-Key": key, "X-Jingkang-Actor": actor})
        assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert len(http.get(f"/v1/contracts/{contract_id}").json()["payments"]) == 2


def test_a_key_is_honoured_for_the_retention_period_then_starts_a_new_request():
    clock = FixedClock(NOW)
    app, http, contract_id = funding_world(clock=clock)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = http.post(f"/v1/contracts/{contract_id}/payments", json=PAYMENT, headers=key).json()
    clock.advance(hours=23)
    assert http.post(f"/v1/contracts/{contract_id}/payments", json=PAYMENT, headers=key).json() == first
    clock.advance(hours=2)  # 25 h: past the default 24 h
    later = http.post(f"/v1/contracts/{contract_id}/payments", json=PAYMENT, headers=key)
    assert later.status_code == 201 and later.json()["payment_id"] != first["payment_id"]
    assert http.post(f"/v1/contracts/{contract_id}/payments", json=PAYMENT, headers=key).json() == later.json()


@pytest.mark.parametrize("bad", ["", '""', "x" * 256, "caf\u00e9", "a b"])
def test_a_malformed_key_is_refused(bad):
    app, http, contract_id = funding_world()
    before = stored(app)
    r = http.post(f"/v1/contracts/{contract_id}/payments", json=PAYMENT,
                  headers={"Idempotency-Key": bad.encode("utf-8")})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "Idempotency-Key"
    assert stored(app) == before


def test_a_refusal_that_recorded_a_fact_is_replayed_not_recorded_again():
    # A settlement over the remaining budget is refused and the refusal kept (BudgetExceededRejected):
    # its retry answers the same 422 and keeps no second refusal.
    app, http, contract_id = funding_world()
    app.accrue_session(session_id=uuid.uuid4(), station_id=STATION, service_type="peer_support",
                       session_date=datetime(2026, 1, 15).date(), attendance="attended")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert http.post(f"/v1/contracts/{contract_id}/payments", json={"amount": "990.00", "period": "2026-Q1"},
                     headers=key).status_code == 201
    settle = {"period": "2026-01", "performance_score": "1", "reasons": ["visit"]}
    key = {"Idempotency-Key": str(uuid.uuid4()), "X-Jingkang-Actor": "admin-1"}
    first = http.post(f"/v1/contracts/{contract_id}/settlements", json=settle, headers=key)
    assert first.status_code == 422 and first.json()["errors"][0]["field"] == "amount"
    before = stored(app)
    again = http.post(f"/v1/contracts/{contract_id}/settlements", json=settle, headers=key)
    assert (again.status_code, again.json()) == (422, first.json())
    assert stored(app) == before
    assert len(http.get(f"/v1/contracts/{contract_id}").json()["budget_rejections"]) == 1


def test_any_command_takes_a_key():
    app, http, application_id = intake_world()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = application_body()
    first = http.post("/v1/applications", json=body, headers=key)
    assert first.status_code == 201
    before = stored(app)
    assert http.post("/v1/applications", json=body, headers=key).json() == first.json()
    assert stored(app) == before


def test_a_repeated_consent_records_nothing_and_answers_the_current_state():
    app, http, application_id = intake_world()
    body = {"signed_by": "self"}
    assert http.post(f"/v1/applications/{application_id}/consent", json=body).status_code == 201
    before = stored(app)
    again = http.post(f"/v1/applications/{application_id}/consent", json=body)
    assert (again.status_code, again.json()) == (200, {"application_id": application_id, "status": "consented"})
    assert stored(app) == before
    # another scope is a new consent
    wider = http.post(f"/v1/applications/{application_id}/consent",
                      json={**body, "scope": {"rehabilitation_services": True, "share_with_health": True}})
    assert wider.status_code == 201 and stored(app) == before + 1


def test_a_repeated_accept_or_complete_records_nothing():
    settings = load_settings("referral", {"JINGKANG_REFERRAL_STORE": "memory://"})
    app = referral_application(settings, clock=FixedClock(NOW))
    http = TestClient(referral_api.create_app(settings, app))
    referral_id = app.request_referral(client_id=uuid.uuid4(), kind="medical", reason="relapse_detected")
    for step in ("accept", "complete"):
        first = http.post(f"/v1/referrals/{referral_id}/{step}")
        assert first.status_code == 200, first.text
        before = stored(app)
        again = http.post(f"/v1/referrals/{referral_id}/{step}")
        assert (again.status_code, again.json()) == (200, first.json())
        assert stored(app) == before
    # a step back is still a conflict
    assert http.post(f"/v1/referrals/{referral_id}/accept").status_code == 409


def test_a_settlement_approved_again_by_the_same_officer_records_nothing():
    app, http, contract_id = funding_world()
    app.accrue_session(session_id=uuid.uuid4(), station_id=STATION, service_type="peer_support",
                       session_date=datetime(2026, 1, 15).date(), attendance="attended")
    prepared = http.post(f"/v1/contracts/{contract_id}/settlements", headers={
        "Idempotency-Key": str(uuid.uuid4()), "X-Jingkang-Actor": "admin-1"},
        json={"period": "2026-01", "performance_score": "1", "reasons": ["visit"]})
    assert prepared.status_code == 201, prepared.text
    approval = f"/v1/contracts/{contract_id}/settlements/{prepared.json()['settlement_id']}/approval"
    first = http.post(approval, headers={"X-Jingkang-Actor": "officer-b"})
    assert first.status_code == 200
    before = stored(app)
    again = http.post(approval, headers={"X-Jingkang-Actor": "officer-b"})
    assert (again.status_code, again.json()) == (200, first.json()) and stored(app) == before
    assert http.post(approval, headers={"X-Jingkang-Actor": "officer-c"}).status_code == 409


def test_a_command_that_reads_back_what_it_made_answers_with_it_under_a_key():
    # The route saves, then reads the new station and referral back: with a key their events
    # wait for the answer, and the read finds them all the same.
    settings = load_settings("referral", {"JINGKANG_REFERRAL_STORE": "memory://"})
    app = referral_application(settings, clock=FixedClock(NOW))
    http = TestClient(referral_api.create_app(settings, app))
    client = uuid.uuid4()
    app.register_client(client_id=client, district_code="110105", street_code="110105001", registered_on=NOW.date(),
                        consent={"rehabilitation_services": True, "share_with_health": True,
                                 "share_with_disability_and_employment": True})
    station = http.post("/v1/stations", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
        "name": "宁康驿站", "operator": "社工机构", "tier": "ningkang_post", "district_code": "110105",
        "streets": ["110105001"], "capacity": 5, "services": ["peer_support"]})
    assert station.status_code == 201, station.text
    assert http.get(f"/v1/stations/{station.json()['station_id']}").json()["capacity"] == 5
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"client_id": str(client), "kind": "medical", "reason": "relapse_detected"}
    referral = http.post("/v1/referrals", headers=key, json=body)
    assert referral.status_code == 201, referral.text
    assert http.post("/v1/referrals", headers=key, json=body).json() == referral.json()
    assert len(app.referrals_of(client)) == 1


def test_a_keyed_command_over_the_size_budget_is_refused_and_stores_nothing():
    # The budget is checked as the events are stored, which for a keyed request is after its
    # answer: the refusal still reaches the caller as 422, and neither events nor answer are kept.
    settings = replace(load_settings("referral", {"JINGKANG_REFERRAL_STORE": "memory://",
                                                  "JINGKANG_MAX_EVENT_BYTES": str(ENVELOPE_RESERVE_BYTES + 1000)}),
                       process="api")
    app = referral_application(settings, clock=FixedClock(NOW))
    http = TestClient(referral_api.create_app(settings, app))
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"name": "宁康驿站", "operator": "社工机构", "tier": "ningkang_post", "district_code": "110105",
            "streets": [f"110105{i:03d}" for i in range(1, 150)], "capacity": 5, "services": ["peer_support"]}
    first = http.post("/v1/stations", headers=key, json=body)
    assert first.status_code == 422, first.text
    assert first.json()["error"] == "invalid_input"
    assert stored(app) == 0
    assert http.post("/v1/stations", headers=key, json=body).status_code == 422  # not replayed: nothing kept
