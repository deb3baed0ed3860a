"""Closing an application before registration (DESIGN.md §4 intake): the applicant
withdraws (ApplicationWithdrawn) or a worker rejects the identity (IdentityRejected).
Either closes the application — every later command is 409 — and frees the person to
apply again; duplicates of an open application or an active client are 409 naming it."""
from __future__ import annotations

from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.intake.api import create_app
from services.intake.application import Intake, create_application
from services.intake.contracts import to_public
from services.intake.domain import PersonIndex, lookup_hash
from shared.clock import FixedClock
from shared.contract.intake import ApplicationWithdrawn, IdentityRejected
from shared.settings import load_settings
from tests.support import applicant, application_body

SETTINGS = {"JINGKANG_INTAKE_STORE": "memory://"}


@pytest.fixture
def intake() -> Intake:
    return create_application(load_settings("intake", SETTINGS), clock=FixedClock())


@pytest.fixture
def api(intake) -> TestClient:
    return TestClient(create_app(load_settings("intake", SETTINGS), intake))


def stored(intake: Intake) -> int:
    return intake.recorder.max_notification_id() or 0


def public(intake: Intake, kind) -> list:
    return [p for n in intake.recorder.select_notifications(start=1, limit=200)
            for p in to_public(intake.mapper.to_domain_event(n)) if isinstance(p, kind)]


def submit(api, person) -> str:
    response = api.post("/v1/applications", json=application_body(applicant=person))
    assert response.status_code == 201, response.text
    return response.json()["application_id"]


CLOSINGS = {
    "withdrawal": ("withdrawal", None, "withdrawn", ApplicationWithdrawn),
    "identity rejection": ("identity-rejection", {"reason": "registry_conflict"}, "rejected", IdentityRejected),
}


@pytest.mark.parametrize("path, body, status, published", CLOSINGS.values(), ids=CLOSINGS.keys())
def test_a_closed_application_refuses_everything_after_and_frees_the_person(api, intake, path, body, status, published):
    # Given an open, consented application
    person = applicant()
    application_id = submit(api, person)
    api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "self"})
    # When it is closed
    response = api.post(f"/v1/applications/{application_id}/{path}", json=body)
    assert (response.status_code, response.json()["status"]) == (200, status), response.text
    (event,) = public(intake, published)
    assert str(event.application_id) == application_id
    # Then every later command is refused and stores nothing
    before = stored(intake)
    for later, later_body in (("consent", {"signed_by": "self"}), ("register", None), ("withdrawal", None),
                              ("identity-rejection", {"reason": "other"})):
        refused = api.post(f"/v1/applications/{application_id}/{later}", json=later_body)
        assert refused.status_code == 409, later
        assert status in refused.json()["detail"]
    assert stored(intake) == before
    assert api.get(f"/v1/applications/{application_id}").json()["status"] == status
    # And the person may apply again
    assert submit(api, person) != application_id


def test_the_rejection_reason_is_kept_and_published_without_identifiers(api, intake):
    person = applicant()
    application_id = submit(api, person)
    response = api.post(f"/v1/applications/{application_id}/identity-rejection", json={"reason": "not_resident"})
    assert response.json()["rejection_reason"] == "not_resident"
    (event,) = public(intake, IdentityRejected)
    assert event.reason == "not_resident"
    assert not any(secret in event.model_dump_json() for secret in person.values() if isinstance(secret, str) and len(secret) > 3)


def test_a_registered_application_can_be_neither_withdrawn_nor_rejected(api, intake):
    application_id = submit(api, applicant())
    api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "self"})
    api.post(f"/v1/applications/{application_id}/register")
    before = stored(intake)
    assert api.post(f"/v1/applications/{application_id}/withdrawal").status_code == 409
    assert api.post(f"/v1/applications/{application_id}/identity-rejection", json={"reason": "other"}).status_code == 409
    assert stored(intake) == before


def test_bad_rejection_reasons_and_unknown_applications(api, intake):
    application_id = submit(api, applicant())
    before = stored(intake)
    for body, field in (({"reason": "looks_odd"}, "reason"), ({}, "reason"), ({"reason": "other", "note": "x"}, "note")):
        response = api.post(f"/v1/applications/{application_id}/identity-rejection", json=body)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == field
    unknown = uuid4()
    assert api.post(f"/v1/applications/{unknown}/withdrawal").status_code == 404
    assert api.post(f"/v1/applications/{unknown}/identity-rejection", json={"reason": "other"}).status_code == 404
    assert stored(intake) == before


# --- one place per person -------------------------------------------------------------------


def test_a_duplicate_is_refused_naming_the_open_application_then_the_client(api, intake):
    # Given an open application for a person
    person = applicant()
    first = submit(api, person)
    before = stored(intake)
    # When the same person applies again (another name, a lower-case x), then 409 names the open application
    again = application_body(applicant={**person, "name": "别名", "id_number": person["id_number"].lower()})
    response = api.post("/v1/applications", json=again)
    assert response.status_code == 409 and f"application_id={first}" in response.json()["detail"]
    assert person["id_number"] not in response.text and person["id_number"].lower() not in response.text
    assert stored(intake) == before
    # When they are registered, then a new application is refused naming the client
    api.post(f"/v1/applications/{first}/consent", json={"signed_by": "self"})
    client_id = api.post(f"/v1/applications/{first}/register").json()["client_id"]
    response = api.post("/v1/applications", json=application_body(applicant=person))
    assert response.status_code == 409 and f"client_id={client_id}" in response.json()["detail"]
    # When the client exits, then they may apply again
    api.post(f"/v1/clients/{client_id}/exit", json={"reason": "moved_away"})
    assert submit(api, person)


def test_the_index_is_keyed_by_a_secret_so_another_key_finds_another_person(intake):
    # The same resident id hashes differently under another key: the index cannot be
    # recomputed by someone who has the number but not the key.
    number = applicant()["id_number"]
    assert lookup_hash(b"key one is long enough", number) != lookup_hash(b"key two is long enough", number)
    assert PersonIndex.id_for(lookup_hash(intake.lookup_key, number)) == PersonIndex.id_for(
        lookup_hash(intake.lookup_key, f" {number.lower()} "))
