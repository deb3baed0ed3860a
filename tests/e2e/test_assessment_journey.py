"""End to end, assessment's half of the client's journey on the running system (deploy/run.py
against the test Kafka broker): a client registered at intake is learned by assessment,
assessed, given a plan, served, reassessed twice (the plan revised) and relapses; the
events are on jingkang.assessment.v1 in order for that client, with no plan goals on the
wire. Then the worker's deadline timer: a client with no plan 31 days later gets
PlanOverdue (the clock of every process is moved ahead)."""
from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.conftest import URL, auth, move_clock
from tests.support import application_body, read_topic, wait_until

pytestmark = pytest.mark.e2e
HEADERS = auth("station_worker", sub="worker-e2e")  # the token's holder is who acts, at intake too
STATION = "5f0c1e8a-7d4b-4b7e-9a51-3d0c2f6e9b11"
GOAL = "重返工作岗位 at the bakery"


def registered_client() -> str:
    """A client registered at intake, and learned by assessment from ClientRegistered."""
    r = httpx.post(URL["intake"] + "/v1/applications", json=application_body(), headers=HEADERS)
    assert r.status_code == 201, r.text
    application_id = r.json()["application_id"]
    r = httpx.post(f"{URL['intake']}/v1/applications/{application_id}/consent", json={"signed_by": "self"}, headers=HEADERS)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{URL['intake']}/v1/applications/{application_id}/register", headers=HEADERS)
    assert r.status_code == 201, r.text
    client_id = r.json()["client_id"]
    wait_until(lambda: httpx.get(f"{URL['assessment']}/v1/clients/{client_id}/record", headers=HEADERS).status_code == 200,
               timeout=60, what="assessment to learn the client")
    return client_id


def post(client_id: str, what: str, body: dict, status: int = 201) -> dict:
    r = httpx.post(f"{URL['assessment']}/v1/clients/{client_id}/{what}", json=body, headers=HEADERS)
    assert r.status_code == status, r.text
    return r.json()


def assessment(kind: str, stability: str, risk_level: int, score: int) -> dict:
    return {"kind": kind, "stability": stability, "risk_level": risk_level, "willing": True,
            "functional_score": score, "assessor": "staff-e2e"}


def test_a_client_from_registration_to_a_plan_two_reassessments_and_a_relapse(system):
    client_id = registered_client()

    assert post(client_id, "assessments", assessment("baseline", "stable", 1, 58))["service_category"] == "community_rehab"
    assert post(client_id, "plan", {"goals": [GOAL], "services": ["social_skills", "vocational_rehabilitation"],
                                    "agreed_by": "client"})["version"] == 1
    post(client_id, "sessions", {"service_type": "social_skills", "station_id": STATION,
                                 "session_date": httpx.get(f"{URL['assessment']}/v1/clients/{client_id}/record", headers=HEADERS)
                                 .json()["registered_on"], "minutes": 90, "mode": "group", "attendance": "attended"})
    post(client_id, "assessments", assessment("process", "basically_stable", 2, 64))
    assert post(client_id, "plan", {"goals": [GOAL], "services": ["vocational_rehabilitation"],
                                    "agreed_by": "guardian"})["version"] == 2
    relapse = post(client_id, "assessments", assessment("process", "unstable", 4, 35))
    assert (relapse["service_category"], relapse["relapse_episode_open"]) == ("dynamic_care", True)
    # A relapse reported while the episode is open changes nothing: 200, already open
    assert post(client_id, "relapses", {"reported_by": "staff-e2e"}, status=200)["already_open"] is True

    record = httpx.get(f"{URL['assessment']}/v1/clients/{client_id}/record", headers=HEADERS).json()
    assert (record["plan"]["version"], len(record["assessments"]), len(record["sessions"])) == (2, 3, 1)
    assert record["due"]["contact_cadence_days"] == 14

    names = ["AssessmentCompleted.v1", "AssessmentCompleted.v2", "ClientClassified.v1", "RehabPlanAgreed.v1",
             "ServiceSessionDelivered.v1", "AssessmentCompleted.v1", "AssessmentCompleted.v2", "RehabPlanAgreed.v1",
             "AssessmentCompleted.v1", "AssessmentCompleted.v2", "ClientClassified.v1", "RelapseDetected.v1"]
    events = read_topic(system["kafka"], "jingkang.assessment.v1", lambda ce: ce["subject"] == client_id, len(names))
    assert [ce["type"] for _, ce in events] == [f"jingkang.assessment.{n}" for n in names]
    assert [ce["sequence"] for _, ce in events] == sorted(ce["sequence"] for _, ce in events)
    assert len({message.partition for message, _ in events}) == 1
    assert not any("bakery" in json.dumps(ce, ensure_ascii=False) for _, ce in events)
    assert [ce["data"]["plan_version"] for _, ce in events if ce["type"].endswith("RehabPlanAgreed.v1")] == [1, 2]


def test_a_client_without_a_plan_31_days_after_registration_gets_plan_overdue(system):
    client_id = registered_client()
    registered_on = httpx.get(f"{URL['assessment']}/v1/clients/{client_id}/record", headers=HEADERS).json()["registered_on"]

    move_clock(system, days=31)  # every process, the worker's deadline timer included

    [(_, overdue)] = read_topic(system["kafka"], "jingkang.assessment.v1",
                                lambda ce: ce["subject"] == client_id and ce["type"].endswith("PlanOverdue.v1"), 1)
    assert overdue["data"]["registered_on"] == registered_on
