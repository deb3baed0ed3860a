"""Guardians (DESIGN.md §4 intake: consent by the client or guardian): a guardian is
required for a guardian's application, a minor (age from the resident id on the day of
submission) or an applicant who lacks capacity; the guardian passes the same resident-id
check and is an adult; once a guardian is on record only the guardian signs consent. A
guardian's details are identifiers: they stay in intake's internal (encrypted) events."""
from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.intake.api import create_app
from services.intake.application import Intake, create_application
from services.intake.contracts import to_public
from services.intake.domain import Application, lookup_hash
from shared.clock import FixedClock
from shared.errors import InvalidInput
from shared.settings import load_settings
from tests.support import applicant, application_body, guardian, resident_id
from tests.unit.test_resident_id import valid_ids

SETTINGS = {"JINGKANG_INTAKE_STORE": "memory://"}
TODAY = FixedClock().today()


@pytest.fixture
def intake() -> Intake:
    return create_application(load_settings("intake", SETTINGS), clock=FixedClock())


@pytest.fixture
def api(intake) -> TestClient:
    return TestClient(create_app(load_settings("intake", SETTINGS), intake))


def stored(intake: Intake) -> int:
    return intake.recorder.max_notification_id() or 0


def refused_field(response) -> list[str]:
    assert response.status_code == 422, response.text
    return [e["field"] for e in response.json()["errors"]]


def minor() -> dict:
    return applicant(born=TODAY.replace(year=TODAY.year - 12))


# --- when a guardian is required ---------------------------------------------------------------

REQUIRED = {
    "a guardian's application": lambda: application_body(source="guardian"),
    "a minor": lambda: application_body(applicant=minor()),
    "an applicant who lacks capacity": lambda: application_body(lacks_capacity=True),
    "a minor the day before their eighteenth birthday": lambda: application_body(
        applicant=applicant(born=TODAY.replace(year=TODAY.year - 18) + timedelta(days=1))),
}


@pytest.mark.parametrize("make_body", REQUIRED.values(), ids=REQUIRED.keys())
def test_without_a_guardian_the_application_is_refused_and_nothing_stored(api, intake, make_body):
    before = stored(intake)
    response = api.post("/v1/applications", json=make_body())
    assert refused_field(response) == ["guardian"]
    assert response.json()["errors"][0]["reason"]
    assert stored(intake) == before
    # ...and with a guardian the same application is accepted
    body = make_body()
    assert api.post("/v1/applications", json={**body, "guardian": guardian()}).status_code == 201


def test_an_adult_applying_for_themself_needs_no_guardian(api):
    body = application_body(source="self", applicant=applicant(born=TODAY.replace(year=TODAY.year - 18)))
    assert api.post("/v1/applications", json=body).status_code == 201


# --- the guardian's own checks -------------------------------------------------------------------


def _wrong_check_digit():
    g = guardian()
    g["id_number"] = g["id_number"][:17] + ("0" if g["id_number"][17] != "0" else "1")
    return g


def _the_applicant_themself(body):
    return {**guardian(), "id_number": body["applicant"]["id_number"]}


BAD_GUARDIANS = {
    "wrong check digit": (lambda body: _wrong_check_digit(), "guardian.id_number"),
    "a minor as guardian": (lambda body: guardian(born=TODAY.replace(year=TODAY.year - 17)), "guardian.id_number"),
    "the applicant as their own guardian": (_the_applicant_themself, "guardian.id_number"),
    "unknown relationship": (lambda body: guardian(relationship="neighbour"), "guardian.relationship"),
    "missing phone": (lambda body: {k: v for k, v in guardian().items() if k != "phone"}, "guardian.phone"),
    "unknown extra field": (lambda body: {**guardian(), "address": "somewhere"}, "guardian.address"),
}


@pytest.mark.parametrize("make_guardian, field", BAD_GUARDIANS.values(), ids=BAD_GUARDIANS.keys())
def test_a_bad_guardian_is_refused_naming_the_field(api, intake, make_guardian, field):
    body = application_body(source="guardian", applicant=minor())
    body["guardian"] = make_guardian(body)
    before = stored(intake)
    response = api.post("/v1/applications", json=body)
    assert field in refused_field(response)
    # The number is never echoed back
    assert body["guardian"]["id_number"] not in response.text
    assert stored(intake) == before


def test_a_guardian_eighteen_today_is_an_adult(api):
    body = application_body(source="guardian", applicant=minor(),
                            guardian=guardian(born=TODAY.replace(year=TODAY.year - 18)))
    assert api.post("/v1/applications", json=body).status_code == 201


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=valid_ids(), relationship=st.sampled_from(["parent", "spouse", "child", "sibling", "other_relative",
                                                       "appointed_guardian"]))
def test_any_valid_adult_resident_id_is_accepted_for_a_guardian_and_a_changed_one_is_not(case, relationship):
    number, born, _ = case
    person = {**applicant(), "birth_date": date(1990, 1, 1), "sex": "female", "id_number": resident_id(date(1990, 1, 1))}
    today = date(2026, 11, 22)  # the generator's today

    def submit(guardian_number):
        return Application.submit(
            source="guardian", applicant=person, district_code="110105", street_code="110105001",
            hardship_categories=[], today=today, lookup_hash=lookup_hash(b"k" * 16, person["id_number"]),
            registration_due_on=today, sealed_identity="v1.sealed", identity_key_id=uuid4(),
            guardian={"name": "监护人", "id_number": guardian_number,
                                                 "relationship": relationship, "phone": "13700000000"})

    adult = (today.year - born.year - ((today.month, today.day) < (born.month, born.day))) >= 18
    if adult:
        assert submit(number).has_guardian
    else:
        with pytest.raises(InvalidInput) as refused:
            submit(number)
        assert refused.value.field == "guardian.id_number"
    changed = number[:17] + ("0" if number[17] != "0" else "1")
    with pytest.raises(InvalidInput) as refused:
        submit(changed)
    assert refused.value.field == "guardian.id_number" and number not in str(refused.value)


# --- consent when a guardian is on record ----------------------------------------------------


def test_with_a_guardian_on_record_only_the_guardian_signs(api, intake):
    # Given an adult who lacks capacity, with their spouse as guardian
    body = application_body(lacks_capacity=True, guardian=guardian(relationship="spouse"))
    application_id = api.post("/v1/applications", json=body).json()["application_id"]
    before = stored(intake)
    # When the applicant signs, then it is refused and nothing stored
    response = api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "self"})
    assert response.status_code == 409 and "guardian" in response.json()["detail"]
    assert stored(intake) == before
    # When the guardian signs, then consent is recorded and the client can be registered
    assert api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "guardian"}).status_code == 201
    assert api.post(f"/v1/applications/{application_id}/register").status_code == 201


def test_without_a_guardian_on_record_nobody_signs_as_guardian(api, intake):
    application_id = api.post("/v1/applications", json=application_body(source="self")).json()["application_id"]
    before = stored(intake)
    assert api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "guardian"}).status_code == 409
    assert stored(intake) == before


# --- privacy ---------------------------------------------------------------------------------


def test_the_guardian_stays_in_the_internal_identity_field_only(api, intake):
    # Given a minor's application with a guardian, consented and registered
    g = guardian()
    body = application_body(source="guardian", applicant=minor(), guardian=g)
    application_id = api.post("/v1/applications", json=body).json()["application_id"]
    api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "guardian"})
    api.post(f"/v1/applications/{application_id}/register")
    # Then the guardian is sealed with the applicant in the one identity field of Submitted
    application = intake.get_application(application_id)
    identity = intake.identity_of(application)
    assert identity["guardian"] == g and identity["applicant"]["id_number"] == body["applicant"]["id_number"]
    # And no stored event (that field included: it is a token), public event or query answer carries their details
    secrets = [g["name"], g["id_number"], g["phone"]]
    for n in intake.recorder.select_notifications(start=1, limit=100):
        event = intake.mapper.to_domain_event(n)
        assert not any(s in str(vars(event)) for s in secrets), type(event).__qualname__
        assert not any(s in p.model_dump_json() for p in to_public(event) for s in secrets)
    assert not any(s in api.get(f"/v1/applications/{application_id}").text for s in secrets)
