"""intake's aggregates as scenarios (DESIGN.md §4, intake): an Application is submitted
with a real-name identity check, consented by the client or their guardian, and only then
registered as a Client under a pseudonymous id. Pure domain: no store, no wall clock."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from services.intake.application import create_application
from services.intake.domain import Application, Client, lookup_hash
from shared.clock import FixedClock
from shared.errors import Conflict, InvalidInput
from shared.settings import load_settings
from tests.support import guardian, resident_id

TODAY = FixedClock().today()
FULL_CONSENT = {"rehabilitation_services": True, "share_with_health": False,
                "share_with_disability_and_employment": False}


KEY_ID = UUID("00000000-0000-4000-8000-000000000001")  # the person's data key (the application's to choose)


def person(born: date = date(1980, 6, 15), sex: str = "female", **overrides: Any) -> dict[str, Any]:
    """An applicant as the API hands it to the domain (birth_date already a date)."""
    return {"name": "张三", "id_number": resident_id(born, sex), "birth_date": born, "sex": sex,
            "phone": "13800000000", "address": "朝阳区某街道1号", **overrides}


def submit(applicant: dict[str, Any] | None = None, **overrides: Any) -> Application:
    applicant = applicant or person()
    args: dict[str, Any] = dict(source="hospital_discharge", applicant=applicant,
                                district_code="110105", street_code="110105001",
                                hardship_categories=["minimum_living_allowance"], today=TODAY,
                                lookup_hash=lookup_hash(b"a test lookup key", applicant["id_number"]),
                                registration_due_on=TODAY + timedelta(days=7),
                                sealed_identity="v1.a-token-the-vault-sealed", identity_key_id=KEY_ID)
    args.update(overrides)
    return Application.submit(**args)


def event_names(*aggregates) -> list[str]:
    return [type(e).__name__ for a in aggregates for e in a.collect_events()]


def with_wrong_check_digit(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


# --- submission: the real-name identity check -------------------------------------------


def test_a_valid_application_is_submitted():
    # When a hospital submits an application for a resident with a valid id
    application = submit()
    # Then it is recorded as submitted and its identity as verified, awaiting consent
    assert event_names(application) == ["Submitted", "IdentityVerified"]
    assert application.status == "submitted"
    assert application.submitted_on == TODAY


def test_an_unknown_source_is_refused():
    # Rule: an application comes from self, guardian, hospital_discharge or community only
    with pytest.raises(InvalidInput) as refused:
        submit(source="police")
    assert refused.value.field == "source"


def test_an_unknown_hardship_category_is_refused():
    # Rule: only the policy's five hardship categories qualify for free service
    with pytest.raises(InvalidInput) as refused:
        submit(hardship_categories=["minimum_living_allowance", "lottery_winner"])
    assert refused.value.field == "hardship_categories"


def test_a_resident_id_with_a_wrong_check_digit_is_refused():
    # Rule: the 18th character is the ISO 7064 MOD 11-2 check of the first 17
    applicant = person()
    applicant["id_number"] = with_wrong_check_digit(applicant["id_number"])
    with pytest.raises(InvalidInput) as refused:
        submit(applicant)
    assert refused.value.field == "applicant.id_number"
    # ...and the reason never echoes the identifier
    assert applicant["id_number"] not in str(refused.value)


def test_a_birth_date_that_disagrees_with_the_resident_id_is_refused():
    # Rule: the birth date given must be the one encoded in the resident id
    applicant = person(born=date(1980, 6, 15))
    applicant["birth_date"] = date(1980, 6, 16)
    with pytest.raises(InvalidInput) as refused:
        submit(applicant)
    assert refused.value.field == "applicant.birth_date"


def test_a_sex_that_disagrees_with_the_resident_id_is_refused():
    # Rule: the 17th digit is odd for men and even for women
    applicant = person(sex="female")
    applicant["sex"] = "male"
    with pytest.raises(InvalidInput) as refused:
        submit(applicant)
    assert refused.value.field == "applicant.sex"


# --- consent, then registration ----------------------------------------------------------


def test_consent_then_registration_registers_a_client_in_the_applications_district():
    # Given a submitted application from a minimum-living-allowance household
    application = submit(district_code="110105", street_code="110105003")
    application.collect_events()
    # When the client consents and is registered
    application.record_consent(signed_by="self", scope=FULL_CONSENT, today=TODAY)
    client = application.register(today=TODAY)
    # Then the application records the consent and the registration, and a Client is born
    assert event_names(application) == ["ConsentRecorded", "Registered"]
    assert event_names(client) == ["Registered"]
    assert isinstance(client, Client)
    assert application.status == "registered" and application.client_id == client.id
    # ...in the application's district and street, registered today, eligible for free service
    assert (client.application_id, client.district_code, client.street_code) == (application.id, "110105", "110105003")
    assert client.registered_on == TODAY
    assert client.consent == FULL_CONSENT
    assert client.free_service_eligible is True


def test_a_client_without_hardship_categories_is_not_eligible_for_free_service():
    # Rule: free service follows from a hardship category, and only from one
    application = submit(hardship_categories=[])
    application.record_consent(signed_by="self", scope=FULL_CONSENT, today=TODAY)
    client = application.register(today=TODAY)
    assert client.free_service_eligible is False


def test_registration_before_consent_is_refused_and_records_nothing():
    # Rule: informed consent is required before registration
    application = submit()
    application.collect_events()
    with pytest.raises(Conflict):
        application.register(today=TODAY)
    assert event_names(application) == [] and application.client_id is None


def test_registering_twice_is_refused():
    # Given a registered client
    application = submit()
    application.record_consent(signed_by="self", scope=FULL_CONSENT, today=TODAY)
    application.register(today=TODAY)
    application.collect_events()
    # When registration is asked again, then it is a conflict and nothing new is recorded
    with pytest.raises(Conflict):
        application.register(today=TODAY)
    assert event_names(application) == []


def test_a_minor_cannot_sign_consent_themself_but_their_guardian_can():
    # Given an applicant born ten years before today
    application = submit(person(born=TODAY.replace(year=TODAY.year - 10)), source="guardian", guardian=guardian())
    application.collect_events()
    # When the child signs consent, then it is refused: a minor's guardian signs
    with pytest.raises(Conflict):
        application.record_consent(signed_by="self", scope=FULL_CONSENT, today=TODAY)
    assert event_names(application) == []
    # When the guardian signs, then consent is recorded and registration may follow
    application.record_consent(signed_by="guardian", scope=FULL_CONSENT, today=TODAY)
    assert event_names(application) == ["ConsentRecorded"]
    assert application.consent["signed_by"] == "guardian"
    application.register(today=TODAY)
    assert application.status == "registered"


def test_an_adult_turning_eighteen_today_may_sign_themself():
    # Boundary of the rule: eighteen years old on the day of signing is an adult
    application = submit(person(born=TODAY.replace(year=TODAY.year - 18)))
    application.record_consent(signed_by="self", scope=FULL_CONSENT, today=TODAY)
    assert application.status == "consented"


def test_a_minor_the_day_before_their_eighteenth_birthday_still_needs_the_guardian():
    born = TODAY.replace(year=TODAY.year - 18) + timedelta(days=1)
    application = submit(person(born=born), guardian=guardian())
    with pytest.raises(Conflict):
        application.record_consent(signed_by="self", scope=FULL_CONSENT, today=TODAY)


def test_consent_that_excludes_rehabilitation_services_does_not_allow_registration():
    # Given consent that shares with health but declines rehabilitation services
    application = submit()
    application.record_consent(signed_by="self", today=TODAY,
                               scope={**FULL_CONSENT, "rehabilitation_services": False, "share_with_health": True})
    application.collect_events()
    # When registration is asked, then it is refused: the programme needs that consent
    with pytest.raises(Conflict):
        application.register(today=TODAY)
    assert event_names(application) == [] and application.status == "consented"


# --- applications stored before guardians and the person index ------------------------------


def stored_before_the_vault(intake, current: Application, version: int) -> StoredEvent:
    """`current`'s Submitted as an earlier intake stored it: v1 `applicant` alone, v2 the plain
    identity dict without a key id."""
    stored = intake.mapper.to_stored_event(current.collect_events()[0])
    state = intake.mapper.transcoder.decode(stored.state)
    plain = {"applicant": person(born=date(1970, 2, 28)), "guardian": None}
    dropped = ["class_version", "identity", "identity_key_id"]
    if version == 1:
        dropped += ["adult_on", "has_guardian", "lacks_capacity", "lookup_hash", "registration_due_on"]
    old = {k: v for k, v in state.items() if k not in dropped}
    if version == 1:
        old["applicant"] = plain["applicant"]
    else:
        old["identity"], old["class_version"] = plain, 2
    return StoredEvent(stored.originator_id, stored.originator_version, stored.topic, intake.mapper.transcoder.encode(old))


def test_an_application_stored_as_version_1_reads_back_with_its_identity_in_one_field():
    # Given an application stored by the earlier version of intake: `applicant` alone
    intake = create_application(load_settings("intake", {"JINGKANG_INTAKE_STORE": "memory://"}), clock=FixedClock())
    current = submit(person(born=date(1970, 2, 28)))
    old = stored_before_the_vault(intake, current, version=1)
    # When it is read
    application = intake.mapper.to_domain_event(old).mutate(None)
    # Then the identity holds the applicant in clear (not sealed), no guardian, and it is outside the person index
    assert application.identity["guardian"] is None and application.identity["applicant"]["birth_date"] == date(1970, 2, 28)
    assert (application.sealed, application.identity_key_id) == (False, None)
    assert (application.adult_on, application.has_guardian, application.lookup_hash) == (date(1988, 2, 28), False, None)
    assert application.registration_due_on is None and application.report_registration_overdue(TODAY) is False
    assert intake.identity_of(application) == application.identity


def test_an_application_stored_as_version_2_reads_back_with_its_plain_identity_and_no_key():
    intake = create_application(load_settings("intake", {"JINGKANG_INTAKE_STORE": "memory://"}), clock=FixedClock())
    current = submit(person(born=date(1970, 2, 28)))
    application = intake.mapper.to_domain_event(stored_before_the_vault(intake, current, version=2)).mutate(None)
    assert (application.sealed, application.identity_key_id) == (False, None)
    assert application.lookup_hash == current.lookup_hash and application.adult_on == current.adult_on
    assert intake.identity_of(application)["applicant"]["name"] == "张三"


def test_the_domain_checks_the_identifiers_in_clear_but_stores_only_the_sealed_token():
    someone = person()
    application = submit(someone)
    (submitted, _) = application.collect_events()
    assert (submitted.identity, submitted.identity_key_id) == ("v1.a-token-the-vault-sealed", KEY_ID)
    assert not any(str(someone[k]) in str(vars(submitted)) for k in ("name", "id_number", "phone", "address"))
    with pytest.raises(ValueError):
        submit(sealed_identity={"applicant": someone, "guardian": None})
