"""The audited identity read (DESIGN.md §3: "an authorised integration looks up identity
through an audited API"): GET /v1/clients/{id}/identity?purpose=... answers the applicant's
and guardian's identity and records who read it (actor and role, from the request) and
why (IdentityRead, internal only). The case summary never carries identity."""
from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.intake.api import create_app
from services.intake.application import Intake, create_application
from services.intake.contracts import to_public
from services.intake.domain import Client
from shared.auth import Authority
from shared.clock import FixedClock
from shared.settings import load_settings
from shared.store import event_meta
from tests.support import applicant, application_body, guardian

KEY = "test-key-intake-identity-read-0123456789"
SETTINGS = {"JINGKANG_INTAKE_STORE": "memory://", "JINGKANG_JWT_KEY": KEY}
TODAY = FixedClock().today()


def bearer(role: str, sub: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + Authority(KEY).issue(sub=sub, role=role, districts=["110105"])}


STAFF = bearer("district_admin", "district-admin-1")  # takes and registers applications
READER = bearer("station_worker", "station-worker-7")


@pytest.fixture
def intake() -> Intake:
    return create_application(load_settings("intake", SETTINGS), clock=FixedClock())


@pytest.fixture
def api(intake) -> TestClient:
    return TestClient(create_app(load_settings("intake", SETTINGS), intake), headers=STAFF)


def stored(intake: Intake) -> int:
    return intake.recorder.max_notification_id() or 0


def reads(intake: Intake) -> list:
    return [e for e in map(intake.mapper.to_domain_event, intake.recorder.select_notifications(start=1, limit=200))
            if isinstance(e, Client.IdentityRead)]


@pytest.fixture
def registered(api):
    person, g = applicant(born=TODAY.replace(year=TODAY.year - 15)), guardian()
    application_id = api.post("/v1/applications", json=application_body(
        source="guardian", applicant=person, guardian=g)).json()["application_id"]
    api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "guardian"})
    client_id = api.post(f"/v1/applications/{application_id}/register").json()["client_id"]
    return client_id, person, g


def test_reading_the_identity_answers_it_and_records_who_and_why(api, intake, registered):
    client_id, person, g = registered
    # When a station worker reads the identity to contact the guardian
    response = api.get(f"/v1/clients/{client_id}/identity", params={"purpose": "guardian_contact"}, headers=READER)
    # Then they get the applicant's and the guardian's identity, not to be cached
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["applicant"]["id_number"] == person["id_number"] and body["applicant"]["birth_date"] == person["birth_date"]
    assert body["guardian"] == g
    assert response.headers["cache-control"] == "no-store"
    # And the read is recorded on the client: purpose, actor and role
    (read,) = reads(intake)
    assert (read.originator_id.hex, read.purpose, read.read_on) == (client_id.replace("-", ""), "guardian_contact", TODAY)
    assert {k: event_meta(read)[k] for k in ("actor", "role")} == {"actor": "station-worker-7", "role": "station_worker"}
    # (a district admin, an auditor or a hospital may not read it at all)
    for role in ("district_admin", "auditor", "hospital"):
        assert api.get(f"/v1/clients/{client_id}/identity", params={"purpose": "guardian_contact"},
                       headers=bearer(role, "someone")).status_code == 403
    # And it is never published
    assert list(to_public(read)) == []


def test_the_case_summary_stays_without_identity(api, registered):
    client_id, person, g = registered
    text = api.get(f"/v1/clients/{client_id}").text
    assert not any(s in text for s in (person["name"], person["id_number"], g["name"], g["id_number"], g["phone"]))


@pytest.mark.parametrize("params", [{}, {"purpose": "curiosity"}, {"purpose": ""}])
def test_a_read_without_a_known_purpose_is_refused_and_records_nothing(api, intake, registered, params):
    client_id, person, _ = registered
    before = stored(intake)
    response = api.get(f"/v1/clients/{client_id}/identity", params=params, headers=READER)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["purpose"]
    assert person["id_number"] not in response.text
    assert stored(intake) == before


def test_an_unknown_client_or_an_application_id_is_not_found(api, intake, registered):
    before = stored(intake)
    assert api.get(f"/v1/clients/{uuid4()}/identity", params={"purpose": "legal_request"},
                   headers=READER).status_code == 404
    assert stored(intake) == before


def test_an_exited_clients_identity_can_still_be_read_for_a_legal_request(api, intake, registered):
    client_id, person, _ = registered
    api.post(f"/v1/clients/{client_id}/exit", json={"reason": "moved_away"})
    response = api.get(f"/v1/clients/{client_id}/identity", params={"purpose": "legal_request"},
                       headers=bearer("integration", "district-integration-1"))
    assert response.status_code == 200 and response.json()["applicant"]["name"] == person["name"]
    assert [r.purpose for r in reads(intake)] == ["legal_request"]


def test_an_adult_without_a_guardian_reads_with_no_guardian(api, intake):
    person = applicant(born=date(1970, 2, 2))
    application_id = api.post("/v1/applications", json=application_body(applicant=person)).json()["application_id"]
    api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "self"})
    client_id = api.post(f"/v1/applications/{application_id}/register").json()["client_id"]
    body = api.get(f"/v1/clients/{client_id}/identity", params={"purpose": "service_delivery"}, headers=READER).json()
    assert body["guardian"] is None and body["applicant"]["address"] == person["address"]
