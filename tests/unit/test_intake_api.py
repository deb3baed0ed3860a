"""intake's HTTP API over an in-memory event store, as scenarios (DESIGN.md §4 intake, §6
errors): a client's path from application to registration, every bad input answered with
422 naming the field, unknown ids with 404, conflicts with 409 — and a refused command
stores nothing. Public events never carry the applicant's personal identifiers."""
from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.intake.api import create_app
from services.intake.application import Intake, create_application
from services.intake.contracts import to_public
from shared.clock import FixedClock
from shared.contract.intake import ApplicationSubmitted, ClientRegistered, ConsentRecorded
from shared.settings import load_settings
from shared.contract.intake import IdentityVerified, RegistryChecked
from tests.support import applicant, application_body, guardian

SETTINGS = {"JINGKANG_INTAKE_STORE": "memory://"}
CLOCK_TODAY = FixedClock().today()


@pytest.fixture
def intake() -> Intake:
    return create_application(load_settings("intake", SETTINGS), clock=FixedClock())


@pytest.fixture
def api(intake) -> TestClient:
    return TestClient(create_app(load_settings("intake", SETTINGS), intake))


def stored(intake: Intake) -> int:
    """How far the store's notification log reaches: unchanged means nothing was stored."""
    return intake.recorder.max_notification_id() or 0


def public_events(intake: Intake) -> list:
    return [p for n in intake.recorder.select_notifications(start=1, limit=100)
            for p in to_public(intake.mapper.to_domain_event(n))]


def assert_invalid(response, field: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_input", body
    assert all(set(e) == {"field", "reason"} and e["reason"] for e in body["errors"]), body
    assert field in [e["field"] for e in body["errors"]], body


def submitted(api: TestClient, **overrides) -> str:
    response = api.post("/v1/applications", json=application_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()["application_id"]


def registered(api: TestClient, **overrides) -> tuple[str, str]:
    application_id = submitted(api, **overrides)
    assert api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "self"}).status_code == 201
    response = api.post(f"/v1/applications/{application_id}/register")
    assert response.status_code == 201, response.text
    return application_id, response.json()["client_id"]


# --- the happy path ----------------------------------------------------------------------


def test_a_client_is_registered_from_application_through_consent(api, intake):
    # When a hospital submits an application for a minimum-living-allowance household
    response = api.post("/v1/applications", json=application_body(street_code="110105004"))
    assert response.status_code == 201, response.text
    application_id = response.json()["application_id"]
    assert api.get(f"/v1/applications/{application_id}").json()["status"] == "submitted"

    # And the client signs consent
    response = api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "self"})
    assert response.status_code == 201, response.text
    assert api.get(f"/v1/applications/{application_id}").json()["status"] == "consented"

    # And staff register the client
    response = api.post(f"/v1/applications/{application_id}/register")
    assert response.status_code == 201, response.text
    client_id = response.json()["client_id"]

    # Then the application points at the new pseudonymous client
    application = api.get(f"/v1/applications/{application_id}").json()
    assert (application["status"], application["client_id"]) == ("registered", client_id)
    # And the client's summary carries district, street and eligibility, and no identifiers
    client = api.get(f"/v1/clients/{client_id}").json()
    assert client == {
        "client_id": client_id, "district_code": "110105", "street_code": "110105004",
        "registered_on": CLOCK_TODAY.isoformat(), "free_service_eligible": True,
        "hardship_categories": ["minimum_living_allowance"],
        "consent": {"rehabilitation_services": True, "share_with_health": False,
                    "share_with_disability_and_employment": False},
        "exited": False, "duplicate_attempts": [],
    }
    # And the public events tell the story in order
    assert [type(e) for e in public_events(intake)] == [
        ApplicationSubmitted, IdentityVerified, RegistryChecked, ConsentRecorded, ClientRegistered]


# --- bad input: 422 naming the field, nothing stored -----------------------------------------


def _without_name():
    body = application_body()
    del body["applicant"]["name"]
    return body


def _wrong_check_digit():
    body = application_body()
    number = body["applicant"]["id_number"]
    body["applicant"]["id_number"] = number[:17] + ("0" if number[17] != "0" else "1")
    return body


def _birth_date_mismatch():
    body = application_body()
    born = date.fromisoformat(body["applicant"]["birth_date"])
    body["applicant"]["birth_date"] = (born + timedelta(days=1)).isoformat()
    return body


def _sex_mismatch():
    person = applicant(sex="female")
    person["sex"] = "male"
    return application_body(applicant=person)


BAD_APPLICATIONS = {
    # case: (body, field the 422 must name)
    "missing applicant name": (_without_name, "applicant.name"),
    "wrong check digit": (_wrong_check_digit, "applicant.id_number"),
    "birth date not the one in the id": (_birth_date_mismatch, "applicant.birth_date"),
    "sex not the one in the id": (_sex_mismatch, "applicant.sex"),
    "five-digit district code": (lambda: application_body(district_code="11010"), "district_code"),
    "unknown source": (lambda: application_body(source="police"), "source"),
    "unknown hardship category": (lambda: application_body(hardship_categories=["lottery_winner"]),
                                  "hardship_categories.0"),
    "unknown extra field": (lambda: application_body(diagnosis="F20"), "diagnosis"),
}


@pytest.mark.parametrize("make_body, field", BAD_APPLICATIONS.values(), ids=BAD_APPLICATIONS.keys())
def test_a_bad_application_is_refused_naming_the_field(api, intake, make_body, field):
    before = stored(intake)
    assert_invalid(api.post("/v1/applications", json=make_body()), field)
    assert stored(intake) == before


def test_a_malformed_json_body_is_refused_as_the_body(api, intake):
    before = stored(intake)
    response = api.post("/v1/applications", content=b'{"source": "self", ',
                        headers={"content-type": "application/json"})
    assert_invalid(response, "body")
    assert stored(intake) == before


def test_a_rejected_resident_id_is_not_echoed_back(api):
    body = _wrong_check_digit()
    response = api.post("/v1/applications", json=body)
    assert response.status_code == 422
    assert body["applicant"]["id_number"] not in response.text


def test_a_consent_signed_by_someone_else_is_refused(api, intake):
    application_id = submitted(api)
    before = stored(intake)
    assert_invalid(api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "neighbour"}), "signed_by")
    assert stored(intake) == before


# --- unknown ids: 404, nothing stored --------------------------------------------------------


def test_an_unknown_application_id_is_not_found(api, intake):
    unknown = uuid4()
    before = stored(intake)
    assert api.get(f"/v1/applications/{unknown}").status_code == 404
    assert api.post(f"/v1/applications/{unknown}/consent", json={"signed_by": "self"}).status_code == 404
    assert api.post(f"/v1/applications/{unknown}/register").status_code == 404
    assert api.get(f"/v1/clients/{unknown}").status_code == 404
    assert stored(intake) == before


def test_a_client_id_is_not_an_application_id_nor_the_other_way_round(api, intake):
    # Given a registered client
    application_id, client_id = registered(api)
    before = stored(intake)
    # Then its client id does not name an application
    response = api.get(f"/v1/applications/{client_id}")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert api.post(f"/v1/applications/{client_id}/consent", json={"signed_by": "self"}).status_code == 404
    assert api.post(f"/v1/applications/{client_id}/register").status_code == 404
    # And the application id does not name a client
    assert api.get(f"/v1/clients/{application_id}").status_code == 404
    assert stored(intake) == before


# --- conflicts: 409, nothing stored ----------------------------------------------------------


def test_registration_before_consent_is_a_conflict(api, intake):
    application_id = submitted(api)
    before = stored(intake)
    response = api.post(f"/v1/applications/{application_id}/register")
    assert response.status_code == 409, response.text
    assert response.json()["error"] == "conflict"
    assert stored(intake) == before
    assert api.get(f"/v1/applications/{application_id}").json()["status"] == "submitted"


def test_registering_twice_and_consenting_after_registration_are_conflicts(api, intake):
    application_id, _ = registered(api)
    before = stored(intake)
    assert api.post(f"/v1/applications/{application_id}/register").status_code == 409
    assert api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "self"}).status_code == 409
    assert stored(intake) == before


def test_a_minor_signing_their_own_consent_is_a_conflict(api, intake):
    born = CLOCK_TODAY.replace(year=CLOCK_TODAY.year - 10)
    application_id = submitted(api, source="guardian", applicant=applicant(born=born), guardian=guardian())
    before = stored(intake)
    assert api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "self"}).status_code == 409
    assert stored(intake) == before
    assert api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "guardian"}).status_code == 201


def test_consent_declining_rehabilitation_services_blocks_registration(api, intake):
    application_id = submitted(api)
    scope = {"rehabilitation_services": False, "share_with_health": True}
    assert api.post(f"/v1/applications/{application_id}/consent",
                    json={"signed_by": "self", "scope": scope}).status_code == 201
    before = stored(intake)
    assert api.post(f"/v1/applications/{application_id}/register").status_code == 409
    assert stored(intake) == before


# --- no personal identifiers on public events ------------------------------------------------


def test_public_events_carry_no_personal_identifiers(api, intake):
    # Given two clients registered through the API
    people = [applicant(), applicant(born=date(1975, 3, 9), sex="male")]
    for person in people:
        registered(api, applicant=person)
    # When the stored events are mapped to what the relay publishes
    published = [e.model_dump_json() for e in public_events(intake)]
    assert len(published) == 10
    # Then no name, resident id, phone or address appears anywhere in them
    for person in people:
        for secret in (person["name"], person["id_number"], person["phone"], person["address"]):
            assert not any(secret in text for text in published), f"{secret!r} leaked to a public event"

