"""assessment's HTTP API over an in-memory event store, as scenarios: a client becomes known
only from intake's ClientRegistered (fed through the real consumer machinery), is then
assessed and classified over HTTP; bad input is 422 naming the field, an unknown client 404,
an out-of-order assessment 409 — and a refused command or a repeated event stores nothing."""
from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from services.assessment.api import create_app
from services.assessment.application import Assessments, create_application
from services.assessment.consumers import create_consumer
from services.assessment.contracts import to_public
from shared.clock import FixedClock
from shared.consumer import EventConsumer
from shared.contract.assessment import AssessmentCompleted, ClientClassified, RelapseDetected
from shared.contract.intake import ClientRegistered, ConsentScope
from shared.envelope import encode, to_cloudevent
from shared.settings import load_settings

INTAKE_TOPIC = "jingkang.intake.v1"
SETTINGS = load_settings("assessment", {"JINGKANG_ASSESSMENT_STORE": "memory://"})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def assessments(clock) -> Assessments:
    return create_application(SETTINGS, clock=clock)


@pytest.fixture
def api(assessments) -> TestClient:
    return TestClient(create_app(SETTINGS, assessments))


@pytest.fixture
def consumer(assessments) -> EventConsumer:
    return create_consumer(SETTINGS, assessments)


def client_registered(client_id: UUID, clock: FixedClock) -> bytes:
    """intake's ClientRegistered as it arrives on jingkang.intake.v1."""
    event = ClientRegistered(
        client_id=client_id, application_id=uuid4(), source="hospital_discharge", district_code="110105",
        street_code="110105001", registered_on=clock.today(), free_service_eligible=True,
        hardship_categories=["minimum_living_allowance"],
        consent=ConsentScope(rehabilitation_services=True, share_with_health=True,
                             share_with_disability_and_employment=False),
    )
    return encode(to_cloudevent(event, id=str(uuid4()), time=clock.now(), sequence=3))


def stored(assessments: Assessments) -> int:
    return assessments.recorder.max_notification_id() or 0


def public_events(assessments: Assessments) -> list:
    return [p for n in assessments.recorder.select_notifications(start=1, limit=100)
            for p in to_public(assessments.mapper.to_domain_event(n))]


def assessment(**overrides) -> dict:
    return {"kind": "baseline", "stability": "stable", "risk_level": 1, "willing": True, "assessor": "staff-17",
            **overrides}


@pytest.fixture
def known_client(consumer, assessments, clock) -> UUID:
    """Given intake registered a client and assessment consumed the event."""
    client_id = uuid4()
    outcome = consumer.process(INTAKE_TOPIC, 0, 41, client_registered(client_id, clock))
    assert outcome.status == "processed", outcome.reason
    return client_id


def test_an_unknown_client_cannot_be_assessed(api, assessments):
    unknown = uuid4()
    before = stored(assessments)
    response = api.post(f"/v1/clients/{unknown}/assessments", json=assessment())
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert api.get(f"/v1/clients/{unknown}/record").status_code == 404
    assert stored(assessments) == before


def test_a_client_learned_from_intake_is_assessed_and_classified(api, assessments, known_client, clock):
    # Given the record opened from ClientRegistered, with no assessment yet
    record = api.get(f"/v1/clients/{known_client}/record").json()
    assert (record["district_code"], record["registered_on"], record["service_category"], record["assessments"]) == (
        "110105", clock.today().isoformat(), None, [])

    # When the baseline assessment finds the client stable, risk 1, willing
    response = api.post(f"/v1/clients/{known_client}/assessments", json=assessment())
    # Then the client is placed in community rehabilitation without a medical referral
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["client_id"], body["service_category"], body["medical_referral_needed"], body["relapse_episode_open"]) == (
        str(known_client), "community_rehab", False, False)

    # When a process assessment a quarter later finds risk 4
    clock.advance(days=90)
    response = api.post(f"/v1/clients/{known_client}/assessments", json=assessment(kind="process", risk_level=4))
    # Then the client moves to dynamic care with a medical referral, in a relapse episode
    assert response.status_code == 201, response.text
    assert (response.json()["service_category"], response.json()["medical_referral_needed"],
            response.json()["relapse_episode_open"]) == ("dynamic_care", True, True)

    # And the record lists both assessments, in order
    record = api.get(f"/v1/clients/{known_client}/record").json()
    assert [(a["kind"], a["risk_level"], a["assessed_on"]) for a in record["assessments"]] == [
        ("baseline", 1, (clock.today() - timedelta(days=90)).isoformat()),
        ("process", 4, clock.today().isoformat()),
    ]
    assert [a["assessment_id"] for a in record["assessments"]][0] == body["assessment_id"]
    # And the public events say the same
    assert [type(e) for e in public_events(assessments)] == [
        AssessmentCompleted, ClientClassified, AssessmentCompleted, ClientClassified, RelapseDetected]


@pytest.mark.parametrize("overrides, field", [
    ({"risk_level": 7}, "risk_level"),
    ({"risk_level": -1}, "risk_level"),
    ({"stability": "fine"}, "stability"),
    ({"kind": "annual"}, "kind"),
    ({"diagnosis": "F20"}, "diagnosis"),
], ids=["risk 7", "risk -1", "unknown stability", "unknown kind", "extra field"])
def test_bad_assessment_input_is_refused_naming_the_field(api, assessments, known_client, overrides, field):
    before = stored(assessments)
    response = api.post(f"/v1/clients/{known_client}/assessments", json=assessment(**overrides))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert stored(assessments) == before


def test_an_assessment_dated_tomorrow_is_refused(api, assessments, known_client, clock):
    before = stored(assessments)
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    response = api.post(f"/v1/clients/{known_client}/assessments", json=assessment(assessed_on=tomorrow))
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": "assessed_on", "reason": "cannot be in the future"}]
    assert stored(assessments) == before


def test_a_process_assessment_before_the_baseline_is_a_conflict(api, assessments, known_client):
    before = stored(assessments)
    response = api.post(f"/v1/clients/{known_client}/assessments", json=assessment(kind="process"))
    assert response.status_code == 409, response.text
    assert response.json()["error"] == "conflict"
    assert stored(assessments) == before
    assert api.get(f"/v1/clients/{known_client}/record").json()["assessments"] == []


def test_the_same_client_registered_event_arriving_again_changes_nothing(api, assessments, consumer, clock):
    # Given a client learned from ClientRegistered at offset 5, and assessed
    client_id = uuid4()
    raw = client_registered(client_id, clock)
    assert consumer.process(INTAKE_TOPIC, 0, 5, raw).status == "processed"
    assert api.post(f"/v1/clients/{client_id}/assessments", json=assessment()).status_code == 201
    before = stored(assessments)

    # When Kafka redelivers it at the same offset, then the tracking record makes it a duplicate
    assert consumer.process(INTAKE_TOPIC, 0, 5, raw).status == "duplicate"
    # When the relay republishes it at a new offset, then the record already exists: nothing new
    assert consumer.process(INTAKE_TOPIC, 0, 12, raw).status == "processed"
    assert stored(assessments) == before
    record = api.get(f"/v1/clients/{client_id}/record").json()
    assert (record["service_category"], len(record["assessments"])) == ("community_rehab", 1)


def test_a_malformed_message_from_intake_is_dead_lettered(consumer, assessments):
    before = stored(assessments)
    outcome = consumer.process(INTAKE_TOPIC, 0, 6, b"{not a cloud event")
    assert outcome.dead_letter and "not JSON" in outcome.reason
    assert stored(assessments) == before
