"""End to end: the whole system started as `make up` starts it (deploy/run.py: five
services x api, relay, worker, SQLite stores), against the test Kafka broker. One case
goes through all five services by events alone."""
from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.e2e.conftest import URL, auth
from tests.support import application_body, keyed, read_topic, wait_until

pytestmark = pytest.mark.e2e
def register_client(actor: str = "worker-e2e") -> str:
    headers = auth("station_worker", sub=actor)
    r = httpx.post(URL["intake"] + "/v1/applications", json=application_body(), headers=headers)
    assert r.status_code == 201, r.text
    application_id = r.json()["application_id"]
    r = httpx.post(f"{URL['intake']}/v1/applications/{application_id}/consent", json={"signed_by": "self"}, headers=headers)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{URL['intake']}/v1/applications/{application_id}/register", headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["client_id"]


def test_a_relapse_travels_from_assessment_to_a_medical_referral_and_a_notification(system):
    client_id = register_client()
    worker = auth("station_worker")

    # assessment learned the client from ClientRegistered alone.
    wait_until(lambda: httpx.get(f"{URL['assessment']}/v1/clients/{client_id}/record", headers=worker).status_code == 200,
               timeout=60, what="assessment to learn the client")
    r = httpx.post(f"{URL['assessment']}/v1/clients/{client_id}/assessments",
                   json={"kind": "baseline", "stability": "stable", "risk_level": 1, "willing": True,
                         "functional_score": 62, "assessor": "staff-1"}, headers=worker)
    assert r.status_code == 201, r.text
    assert r.json()["service_category"] == "community_rehab"
    r = httpx.post(f"{URL['assessment']}/v1/clients/{client_id}/assessments",
                   json={"kind": "process", "stability": "unstable", "risk_level": 4, "willing": True,
                         "functional_score": 41, "assessor": "staff-1"}, headers=worker)
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in ("client_id", "service_category", "medical_referral_needed", "relapse_episode_open")} == {
        "client_id": client_id, "service_category": "dynamic_care", "medical_referral_needed": True,
        "relapse_episode_open": True}

    referrals = wait_until(lambda: httpx.get(URL["referral"] + "/v1/referrals", params={"client_id": client_id},
                                             headers=worker).json()["referrals"],
                           timeout=60, what="a medical referral")
    assert [(r["kind"], r["status"]) for r in referrals] == [("medical", "requested")]

    def transfer_notices():
        listed = httpx.get(URL["notification"] + "/v1/notifications", params={"client_id": client_id},
                           headers=worker).json()["notifications"]
        return [(n["kind"], n["status"]) for n in listed if n["kind"] == "transfer_requested"]

    assert wait_until(transfer_notices, timeout=60, what="the hospital to be notified") == [("transfer_requested", "sent")]

    # The same story is on Kafka, in order for this client, with no personal identifiers.
    assessment_events = read_topic(system["kafka"], "jingkang.assessment.v1", lambda ce: ce["subject"] == client_id, 7)
    assert [ce["type"].split(".", 2)[2] for _, ce in assessment_events] == [
        "AssessmentCompleted.v1", "AssessmentCompleted.v2", "ClientClassified.v1",
        "AssessmentCompleted.v1", "AssessmentCompleted.v2", "ClientClassified.v1", "RelapseDetected.v1"]
    (registered,) = [ce for _, ce in read_topic(system["kafka"], "jingkang.intake.v1",
                                                 lambda ce: ce["subject"] == client_id, 1)]
    assert registered["type"] == "jingkang.intake.ClientRegistered.v1"
    assert not {"name", "id_number", "phone", "address", "applicant"} & set(json.dumps(registered["data"]).replace('"', " ").split())
    sent = read_topic(system["kafka"], "jingkang.notification.v1", lambda ce: ce["subject"] == client_id, 1)
    assert sent[0][1]["type"] == "jingkang.notification.NotificationSent.v1"

    # One trace: the HTTP request that registered the client, and assessment's handling of it.
    def spans():
        return [json.loads(line) for line in system["trace_file"].read_text().splitlines()]

    trace_id = registered["traceparent"].split("-")[1]  # the trace the registration's event carries
    wait_until(lambda: [s for s in spans() if s["service"] == "jingkang-intake" and s["trace_id"] == trace_id
                        and "/register" in s["name"] and s["kind"] == "SERVER"], what="the register request's span")
    wait_until(lambda: [s for s in spans() if s["service"] == "jingkang-assessment" and s["trace_id"] == trace_id],
               what="assessment's handling in the same trace")


def test_funding_signs_pays_and_refuses_overpayment(system):
    contract = {
        "station_id": str(uuid.uuid4()), "district_code": "110105", "period_start": "2026-01-01", "period_end": "2026-12-31",
        "budget": "100000.00",
        "funding_sources": [{"source": "district_finance", "amount": "70000.00"}, {"source": "welfare_lottery", "amount": "30000.00"}],
        "unit_prices": {"medication_training": "80.00", "social_skills": "120.00"},
    }
    officer = auth("funding_officer")
    r = httpx.post(URL["funding"] + "/v1/contracts", json=contract, headers=officer)
    assert r.status_code == 201, r.text
    contract_id = r.json()["contract_id"]
    r = httpx.post(f"{URL['funding']}/v1/contracts/{contract_id}/payments", json={"amount": "60000.00", "period": "2026-06"},
                   headers=keyed(officer))
    assert r.status_code == 201, r.text
    assert (r.json()["paid_total"], r.json()["remaining"]) == ("60000.00", "40000.00")
    r = httpx.post(f"{URL['funding']}/v1/contracts/{contract_id}/payments", json={"amount": "40000.01", "period": "2026-07"},
                   headers=keyed(officer))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "amount"

    events = read_topic(system["kafka"], "jingkang.funding.v1", lambda ce: ce["subject"] == contract_id, 2)
    assert [ce["type"] for _, ce in events] == ["jingkang.funding.PurchaseContractSigned.v1", "jingkang.funding.PurchaseContractPaid.v1"]
    assert events[1][1]["data"]["amount"] == "60000.00"
