"""End to end, the two-way medical loop on the running system, through HTTP and events
alone: a station is registered, a client registered at intake and classified
community_rehab at assessment is placed there by referral, a relapse opens a medical
referral, the hospital accepts it (the place is held) and completes it, and the client is
back at their station. The same story is on Kafka, in order for the client."""
from __future__ import annotations

import random

import httpx
import pytest

from tests.e2e.conftest import URL, auth
from tests.support import application_body, read_topic, wait_until

pytestmark = pytest.mark.e2e
HEADERS = auth("station_worker", sub="worker-e2e")
ADMIN = auth("district_admin", sub="admin-e2e")
HOSPITAL = auth("hospital", sub="hospital-e2e")


def register_client(street: str) -> str:
    r = httpx.post(URL["intake"] + "/v1/applications", json=application_body(street_code=street), headers=HEADERS)
    assert r.status_code == 201, r.text
    application_id = r.json()["application_id"]
    r = httpx.post(f"{URL['intake']}/v1/applications/{application_id}/consent", json={"signed_by": "self"},
                   headers=HEADERS)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{URL['intake']}/v1/applications/{application_id}/register", headers=HEADERS)
    assert r.status_code == 201, r.text
    return r.json()["client_id"]


def placement(client_id: str) -> dict:
    r = httpx.get(f"{URL['referral']}/v1/clients/{client_id}/placement", headers=HEADERS)
    return r.json() if r.status_code == 200 else {}


def test_relapse_medical_referral_accepted_completed_and_the_client_is_back_at_their_station(system):
    # Given a station serving a street of its own (other tests use other streets)
    street = f"110105{random.randrange(500, 1000):03d}"
    r = httpx.post(URL["referral"] + "/v1/stations", headers=ADMIN, json={
        "name": "朝阳区宁康驿站（测试）", "operator": "朝阳区精神康复协会", "tier": "ningkang_post", "district_code": "110105",
        "streets": [street], "capacity": 1, "services": ["social_skills", "relapse_prevention"]})
    assert r.status_code == 201, r.text
    station_id = r.json()["station_id"]

    # When a client living there is registered and assessed community_rehab
    client_id = register_client(street)
    wait_until(lambda: httpx.get(f"{URL['assessment']}/v1/clients/{client_id}/record", headers=HEADERS).status_code == 200,
               timeout=60, what="assessment to learn the client")
    r = httpx.post(f"{URL['assessment']}/v1/clients/{client_id}/assessments", headers=HEADERS,
                   json={"kind": "baseline", "stability": "stable", "risk_level": 1, "willing": True,
                         "functional_score": 70, "assessor": "staff-e2e-01"})
    assert r.status_code == 201, r.text

    # Then referral places them at the station (from ClientRegistered and ClientClassified)
    placed = wait_until(lambda: placement(client_id).get("status") == "placed" and placement(client_id),
                        timeout=60, what="the client placed")
    assert (placed["station_id"], placed["in_hospital"]) == (station_id, False)

    # When a relapse is assessed, a medical referral opens (green channel)
    r = httpx.post(f"{URL['assessment']}/v1/clients/{client_id}/assessments", headers=HEADERS,
                   json={"kind": "process", "stability": "unstable", "risk_level": 4, "willing": True,
                         "functional_score": 45, "assessor": "staff-e2e-01"})
    assert r.status_code == 201, r.text
    [referral] = wait_until(
        lambda: httpx.get(URL["referral"] + "/v1/referrals", params={"client_id": client_id},
                          headers=HOSPITAL).json()["referrals"],
        timeout=60, what="a medical referral")
    assert (referral["kind"], referral["status"], referral["reason"]) == ("medical", "requested", "relapse_detected")

    # and the hospital accepts it: the client's place is held for them
    r = httpx.post(f"{URL['referral']}/v1/referrals/{referral['referral_id']}/accept", headers=HOSPITAL)
    assert r.status_code == 200, r.text
    assert (placement(client_id)["in_hospital"], placement(client_id)["station_id"]) == (True, station_id)
    assert httpx.get(f"{URL['referral']}/v1/stations/{station_id}", headers=HEADERS).json()["occupancy"] == 1

    # When the hospital discharges them back (referral completed)
    r = httpx.post(f"{URL['referral']}/v1/referrals/{referral['referral_id']}/complete", headers=HOSPITAL)
    assert r.status_code == 200, r.text

    # Then the client is back at their station
    back = placement(client_id)
    assert (back["status"], back["station_id"], back["in_hospital"]) == ("placed", station_id, False)

    # And Kafka tells the same loop, in order for this client, codes only
    events = read_topic(system["kafka"], "jingkang.referral.v1", lambda ce: ce["subject"] == client_id, 5)
    assert [ce["type"].split(".")[2] for _, ce in events] == [
        "ClientPlaced", "TransferRequested", "ReferralAccepted", "ReferralCompleted", "ClientPlaced"]
    assert events[1][1]["data"]["reason"] == "relapse_detected"
    assert {ce["data"]["station_id"] for _, ce in events if ce["type"].endswith("ClientPlaced.v1")} == {station_id}
