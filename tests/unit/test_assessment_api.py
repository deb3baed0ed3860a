"""assessment's HTTP API over an in-memory event store, as scenarios: a client becomes known
only from intake's ClientRegistered (fed through the real consumer machinery), is then
assessed and classified over HTTP; bad input is 422 naming the field, an unknown client 404,
an out-of-order assessment 409 — and a refused command or a repeated event stores nothing."""
from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from services.assessment.api import create_app
from services.assessment.application import Assessments, create_application
from services.assessment.consumers import create_consumer
from services.assessment.contracts import to_public
from shared.clock import FixedClock
from shared.consumer import EventConsumer
from shared.contract.assessment import (
    AssessmentCompleted, AssessmentCompletedV2, ClientClassified, RehabPlanAgreed, RelapseDetected, ServiceSessionDelivered,
)
from shared.contract.intake import ClientExited, ClientRegistered, ClientRelocated, ConsentScope
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
    return {"kind": "baseline", "stability": "stable", "risk_level": 1, "willing": True, "functional_score": 61,
            "assessor": "staff-17", **overrides}


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
    # And the public events say the same (each assessment in v1 and v2 while v1 is still published)
    assert [type(e) for e in public_events(assessments)] == [
        AssessmentCompleted, AssessmentCompletedV2, ClientClassified,
        AssessmentCompleted, AssessmentCompletedV2, ClientClassified, RelapseDetected]


@pytest.mark.parametrize("overrides, field", [
    ({"risk_level": 7}, "risk_level"),
    ({"risk_level": -1}, "risk_level"),
    ({"stability": "fine"}, "stability"),
    ({"kind": "annual"}, "kind"),
    ({"diagnosis": "F20"}, "diagnosis"),
    ({"functional_score": 101}, "functional_score"),
    ({"functional_score": "60"}, "functional_score"),
    ({"functional_score": None}, "functional_score"),
    ({"assessor": "张三"}, "assessor"),
    ({"assessor": None}, "assessor"),
], ids=["risk 7", "risk -1", "unknown stability", "unknown kind", "extra field", "score 101", "score as text",
        "no score", "assessor by name", "no assessor"])
def test_bad_assessment_input_is_refused_naming_the_field(api, assessments, known_client, overrides, field):
    before = stored(assessments)
    body = {k: v for k, v in assessment(**overrides).items() if v is not None}
    response = api.post(f"/v1/clients/{known_client}/assessments", json=body)
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


# --- helpers for the journey after the baseline -----------------------------------------------------

STATION = str(uuid4())


def plan(**overrides) -> dict:
    return {"goals": ["薪水工作 at the bakery on Fuxing Road", "G-SOC-2"], "services": ["social_skills", "peer_support"],
            "agreed_by": "client", **overrides}


def session(clock: FixedClock, **overrides) -> dict:
    return {"service_type": "social_skills", "station_id": STATION, "session_date": clock.today().isoformat(),
            "minutes": 90, "mode": "group", "attendance": "attended", **overrides}


def from_intake(consumer: EventConsumer, clock: FixedClock, event, offset: int) -> None:
    raw = encode(to_cloudevent(event, id=str(uuid4()), time=clock.now(), sequence=offset))
    outcome = consumer.process(INTAKE_TOPIC, 0, offset, raw)
    assert outcome.status == "processed", outcome.reason


@pytest.fixture
def assessed_client(api, known_client) -> UUID:
    """Given the client's baseline assessment: stable, risk 1, willing."""
    assert api.post(f"/v1/clients/{known_client}/assessments", json=assessment()).status_code == 201
    return known_client


def refused(api, assessments, method_path: str, body: dict, status: int) -> dict:
    """POST `body`; assert the status and that nothing was stored."""
    before = stored(assessments)
    response = api.post(method_path, json=body)
    assert response.status_code == status, response.text
    assert stored(assessments) == before
    return response.json()


# --- the rehabilitation plan -------------------------------------------------------------------------


def test_a_plan_is_agreed_after_the_baseline_and_its_goals_stay_inside(api, assessments, assessed_client, clock):
    # When the worker records the plan agreed with the client
    response = api.post(f"/v1/clients/{assessed_client}/plan", json=plan())
    # Then it is version 1, with its services
    assert response.status_code == 201, response.text
    assert response.json() | {"goals": None} == {
        "client_id": str(assessed_client), "version": 1, "goals": None, "services": ["social_skills", "peer_support"],
        "agreed_by": "client", "agreed_on": clock.today().isoformat()}
    # And RehabPlanAgreed is published without the goals, which could name a person or a place
    [agreed] = [e for e in public_events(assessments) if isinstance(e, RehabPlanAgreed)]
    assert (agreed.plan_version, agreed.services, agreed.agreed_by) == (1, ["social_skills", "peer_support"], "client")
    assert not any("bakery" in e.model_dump_json() or "G-SOC-2" in e.model_dump_json()
                   for e in public_events(assessments))
    # And the record shows the plan (goals included: this API is for staff)
    record = api.get(f"/v1/clients/{assessed_client}/record").json()
    assert (record["plan"]["version"], record["plan"]["goals"], record["due"]["plan_due_on"]) == (
        1, plan()["goals"], None)


def test_the_plan_is_revised_after_a_process_assessment_only(api, assessments, assessed_client, clock):
    assert api.post(f"/v1/clients/{assessed_client}/plan", json=plan()).status_code == 201
    # When it is revised before any process assessment, then it is a conflict and nothing is stored
    body = refused(api, assessments, f"/v1/clients/{assessed_client}/plan", plan(services=["family_support"]), 409)
    assert "process assessment" in body["detail"]
    # When a process assessment is recorded, then the guardian can agree version 2
    clock.advance(days=60)
    assert api.post(f"/v1/clients/{assessed_client}/assessments", json=assessment(kind="process")).status_code == 201
    response = api.post(f"/v1/clients/{assessed_client}/plan", json=plan(agreed_by="guardian", services=["family_support"]))
    assert response.status_code == 201, response.text
    assert (response.json()["version"], response.json()["agreed_by"]) == (2, "guardian")
    assert [e.plan_version for e in public_events(assessments) if isinstance(e, RehabPlanAgreed)] == [1, 2]


def test_a_plan_before_the_baseline_is_a_conflict(api, assessments, known_client):
    body = refused(api, assessments, f"/v1/clients/{known_client}/plan", plan(), 409)
    assert body["error"] == "conflict" and "baseline" in body["detail"]


@pytest.mark.parametrize("overrides, field", [
    ({"goals": []}, "goals"),
    ({"goals": ["x" * 201]}, "goals"),
    ({"services": []}, "services"),
    ({"services": ["karaoke"]}, "services.0"),
    ({"services": ["peer_support", "peer_support"]}, "services"),
    ({"agreed_by": "doctor"}, "agreed_by"),
    ({"agreed_on": "2099-01-01"}, "agreed_on"),
    ({"diagnosis": "F20"}, "diagnosis"),
], ids=["no goals", "long goal", "no services", "unknown service", "service twice", "agreed by doctor",
        "agreed in the future", "extra field"])
def test_a_malformed_plan_is_refused_naming_the_field(api, assessments, assessed_client, overrides, field):
    body = refused(api, assessments, f"/v1/clients/{assessed_client}/plan", plan(**overrides), 422)
    assert field in [e["field"] for e in body["errors"]], body


def test_a_plan_for_an_unknown_client_is_not_found(api, assessments):
    refused(api, assessments, f"/v1/clients/{uuid4()}/plan", plan(), 404)


# --- service sessions -------------------------------------------------------------------------------


def test_a_delivered_session_is_recorded_and_published(api, assessments, assessed_client, clock):
    response = api.post(f"/v1/clients/{assessed_client}/sessions", json=session(clock, attendance="no_show"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body | {"session_id": None} == {
        "client_id": str(assessed_client), "session_id": None, "service_type": "social_skills", "station_id": STATION,
        "session_date": clock.today().isoformat(), "minutes": 90, "mode": "group", "attendance": "no_show"}
    [delivered] = [e for e in public_events(assessments) if isinstance(e, ServiceSessionDelivered)]
    assert (str(delivered.session_id), str(delivered.station_id), delivered.attendance) == (
        body["session_id"], STATION, "no_show")
    assert api.get(f"/v1/clients/{assessed_client}/record").json()["sessions"] == [
        {k: v for k, v in body.items() if k != "client_id"}]


@pytest.mark.parametrize("overrides, field", [
    ({"session_date": "2099-01-01"}, "session_date"),
    ({"session_date": "2020-01-01"}, "session_date"),
    ({"minutes": 0}, "minutes"),
    ({"minutes": 601}, "minutes"),
    ({"service_type": "karaoke"}, "service_type"),
    ({"station_id": "station 5"}, "station_id"),
    ({"mode": "online"}, "mode"),
    ({"attendance": "late"}, "attendance"),
], ids=["future", "before registration", "0 minutes", "601 minutes", "unknown service", "bad station id",
        "unknown mode", "unknown attendance"])
def test_a_malformed_session_is_refused_naming_the_field(api, assessments, assessed_client, clock, overrides, field):
    body = refused(api, assessments, f"/v1/clients/{assessed_client}/sessions", session(clock, **overrides), 422)
    assert field in [e["field"] for e in body["errors"]], body


def test_a_session_for_a_client_who_exited_is_a_conflict(api, assessments, consumer, assessed_client, clock):
    # Given intake says the client moved away
    from_intake(consumer, clock, ClientExited(client_id=assessed_client, reason="moved_away", exited_on=clock.today()), 50)
    # Then sessions, plans, relapse reports and process assessments are conflicts, storing nothing
    client = f"/v1/clients/{assessed_client}"
    refused(api, assessments, client + "/sessions", session(clock), 409)
    refused(api, assessments, client + "/plan", plan(), 409)
    refused(api, assessments, client + "/relapses", {"reported_by": "staff-3"}, 409)
    refused(api, assessments, client + "/assessments", assessment(kind="process"), 409)
    # But the discharge assessment closes the record, after which even that is refused
    response = api.post(client + "/assessments", json=assessment(kind="discharge"))
    assert response.status_code == 201 and response.json()["status"] == "closed"
    refused(api, assessments, client + "/assessments", assessment(kind="discharge"), 409)
    record = api.get(client + "/record").json()
    assert (record["status"], record["exited_on"], record["exit_reason"]) == (
        "closed", clock.today().isoformat(), "moved_away")
    assert set(record["due"].values()) == {None}


def test_a_session_after_the_discharge_assessment_is_a_conflict(api, assessments, assessed_client, clock):
    assert api.post(f"/v1/clients/{assessed_client}/assessments", json=assessment(kind="discharge")).status_code == 201
    refused(api, assessments, f"/v1/clients/{assessed_client}/sessions", session(clock), 409)


def test_a_session_for_an_unknown_client_is_not_found(api, assessments, clock):
    refused(api, assessments, f"/v1/clients/{uuid4()}/sessions", session(clock), 404)


# --- relapse reported directly ------------------------------------------------------------------------


def test_a_reported_relapse_is_detected_once_per_episode(api, assessments, assessed_client, clock):
    # When a worker reports a relapse
    response = api.post(f"/v1/clients/{assessed_client}/relapses", json={"reported_by": "staff-3", "risk_level": 4})
    # Then it is detected (201) and published for the medical green channel
    assert response.status_code == 201, response.text
    assert response.json() == {"client_id": str(assessed_client), "already_open": False,
                               "relapse_episode_open": True, "detected_at": clock.now().isoformat().replace("+00:00", "Z")}
    [relapse] = [e for e in public_events(assessments) if isinstance(e, RelapseDetected)]
    assert (relapse.stability, relapse.risk_level, relapse.district_code) == ("stable", 4, "110105")
    # When it is reported again, then it is the same episode: 200, already open, nothing stored
    before = stored(assessments)
    clock.advance(hours=2)
    again = api.post(f"/v1/clients/{assessed_client}/relapses", json={"reported_by": "staff-4"})
    assert again.status_code == 200, again.text
    assert (again.json()["already_open"], again.json()["detected_at"]) == (True, response.json()["detected_at"])
    assert stored(assessments) == before


@pytest.mark.parametrize("body, field", [
    ({"reported_by": "staff-3", "stability": "stable", "risk_level": 1}, "stability"),
    ({"reported_by": "staff-3", "risk_level": 9}, "risk_level"),
    ({"reported_by": "王五"}, "reported_by"),
    ({}, "reported_by"),
], ids=["not a relapse", "risk 9", "reporter by name", "no reporter"])
def test_a_malformed_relapse_report_is_refused(api, assessments, assessed_client, body, field):
    response = refused(api, assessments, f"/v1/clients/{assessed_client}/relapses", body, 422)
    assert field in [e["field"] for e in response["errors"]], response


def test_a_relapse_report_for_an_unknown_client_is_not_found(api, assessments):
    refused(api, assessments, f"/v1/clients/{uuid4()}/relapses", {"reported_by": "staff-3"}, 404)


# --- the record -------------------------------------------------------------------------------------


def test_the_record_shows_classification_plan_due_dates_assessments_and_sessions(api, consumer, known_client, clock):
    registered = clock.today()
    client = f"/v1/clients/{known_client}"
    # Given a baseline (basically stable, unwilling: dynamic care, monthly contact), a plan and a session
    assert api.post(client + "/assessments", json=assessment(stability="basically_stable", willing=False,
                                                             functional_score=48)).status_code == 201
    assert api.post(client + "/plan", json=plan()).status_code == 201
    assert api.post(client + "/sessions", json=session(clock)).status_code == 201
    # And intake says the client moved within the district
    from_intake(consumer, clock, ClientRelocated(client_id=known_client, district_code="110105",
                                                 street_code="110105007", relocated_on=registered), 60)
    record = api.get(client + "/record").json()
    assert {k: record[k] for k in ("district_code", "street_code", "status", "service_category",
                                   "medical_referral_needed", "relapse_episode_open")} == {
        "district_code": "110105", "street_code": "110105007", "status": "active", "service_category": "dynamic_care",
        "medical_referral_needed": False, "relapse_episode_open": False}
    assert (record["plan"]["version"], record["plan"]["services"]) == (1, ["social_skills", "peer_support"])
    assert record["due"] == {
        "plan_due_on": None,
        "reassessment_due_on": (registered + timedelta(days=90)).isoformat(),
        "reassessment_overdue_on": (registered + timedelta(days=105)).isoformat(),
        "contact_due_on": (registered + timedelta(days=30)).isoformat(), "contact_cadence_days": 30}
    [baseline] = record["assessments"]
    assert (baseline["functional_score"], baseline["assessor"], baseline["willing"]) == (48, "staff-17", False)
    assert [s["service_type"] for s in record["sessions"]] == ["social_skills"]


def test_a_new_record_shows_the_plan_due_date(api, known_client, clock):
    record = api.get(f"/v1/clients/{known_client}/record").json()
    assert record["plan"] is None and record["status"] == "active"
    assert record["due"]["plan_due_on"] == (clock.today() + timedelta(days=30)).isoformat()
    assert date.fromisoformat(record["registered_on"]) == clock.today()


# --- dynamic-care follow-up contacts -----------------------------------------------------------------


def contact(**overrides) -> dict:
    return {"method": "phone", "outcome": "reached", "staff": "staff-17", **overrides}


def test_a_follow_up_contact_of_a_dynamic_care_client_is_recorded_and_moves_the_next_one(api, assessments,
                                                                                         known_client, clock):
    # Given a baseline that puts the client in dynamic care (unwilling, basically stable): monthly contacts
    assert api.post(f"/v1/clients/{known_client}/assessments",
                    json=assessment(stability="basically_stable", willing=False)).status_code == 201
    clock.advance(days=12)
    # When the worker records a home visit that reached the client
    response = api.post(f"/v1/clients/{known_client}/contacts", json=contact(method="home_visit"))
    assert response.status_code == 201, response.text
    body = response.json()
    # Then the next contact is due 30 days after the visit, and the record lists the visit
    assert body["due"]["contact_due_on"] == (clock.today() + timedelta(days=30)).isoformat()
    assert (body["method"], body["outcome"], body["contacted_on"]) == ("home_visit", "reached", clock.today().isoformat())
    record = api.get(f"/v1/clients/{known_client}/record").json()
    assert record["contacts"] == [{k: v for k, v in body.items() if k not in ("client_id", "due")}]
    assert record["due"]["contact_due_on"] == body["due"]["contact_due_on"]


def test_a_contact_for_a_community_rehab_client_is_a_conflict(api, assessments, assessed_client):
    body = refused(api, assessments, f"/v1/clients/{assessed_client}/contacts", contact(), 409)
    assert "dynamic care" in body["detail"]


@pytest.mark.parametrize("overrides, field", [
    ({"method": "carrier_pigeon"}, "method"),
    ({"outcome": "maybe"}, "outcome"),
    ({"staff": "王医生"}, "staff"),
    ({"contacted_on": "2099-01-01"}, "contacted_on"),
    ({"contacted_on": "2020-01-01"}, "contacted_on"),
], ids=["unknown method", "unknown outcome", "a name, not a staff id", "future", "before registration"])
def test_a_malformed_contact_is_refused_naming_the_field(api, assessments, known_client, overrides, field):
    assert api.post(f"/v1/clients/{known_client}/assessments", json=assessment(stability="unstable")).status_code == 201
    body = refused(api, assessments, f"/v1/clients/{known_client}/contacts", contact(**overrides), 422)
    assert field in [e["field"] for e in body["errors"]], body


# --- a hospital reads the record only with the client's consent to share with health -------------


def test_a_hospital_reads_the_record_only_while_the_client_consents_to_sharing_with_health(clock):
    from shared.auth import Authority
    from shared.contract.intake import ConsentWithdrawn

    key = "test-key-hospital-read-0123456789abcdef"
    settings = load_settings("assessment", {"JINGKANG_ASSESSMENT_STORE": "memory://", "JINGKANG_JWT_KEY": key})
    app = create_application(settings, clock=clock)
    api, consumer = TestClient(create_app(settings, app)), create_consumer(settings, app)
    hospital = {"Authorization": "Bearer " + Authority(key).issue(sub="h-1", role="hospital", districts=["110105"])}
    # Given a client registered with consent to share with health (client_registered), and one without
    sharing, private = uuid4(), uuid4()
    assert consumer.process(INTAKE_TOPIC, 0, 1, client_registered(sharing, clock)).status == "processed"
    app.open_record(client_id=private, district_code="110105", street_code="110105001", registered_on=clock.today(),
                    consent={"rehabilitation_services": True, "share_with_health": False,
                             "share_with_disability_and_employment": False})
    # Then the hospital reads the first and is refused the second
    assert api.get(f"/v1/clients/{sharing}/record", headers=hospital).status_code == 200
    refused = api.get(f"/v1/clients/{private}/record", headers=hospital)
    assert refused.status_code == 403 and "consented" in refused.json()["detail"]
    # When the first client withdraws that consent in intake, then the hospital is refused from now on
    withdrawn = ConsentWithdrawn(client_id=sharing, withdrawn_on=clock.today(),
                                 consent=ConsentScope(rehabilitation_services=True, share_with_health=False,
                                                      share_with_disability_and_employment=False))
    from_intake(consumer, clock, withdrawn, 2)
    assert api.get(f"/v1/clients/{sharing}/record", headers=hospital).status_code == 403
    # and the same withdrawal arriving again changes nothing
    before = stored(app)
    from_intake(consumer, clock, withdrawn, 3)
    assert stored(app) == before


# --- the district's working list (GET /v1/records) -------------------------------------------------


def test_the_working_list_follows_clients_arriving_moving_and_leaving(api, assessments, consumer, clock):
    # Given two clients registered in 110105 (one assessed, one waiting for the baseline)
    first, second = uuid4(), uuid4()
    for offset, client in ((70, first), (71, second)):
        assert consumer.process(INTAKE_TOPIC, 0, offset, client_registered(client, clock)).status == "processed"
    assert api.post(f"/v1/clients/{first}/assessments", json=assessment()).status_code == 201
    # Then the district's list has both, in order, each with what is due next
    listed = api.get("/v1/records", params={"district": "110105"}).json()
    assert [r["client_id"] for r in listed["records"]] == [str(first), str(second)]
    by_id = {r["client_id"]: r for r in listed["records"]}
    assert by_id[str(first)]["service_category"] == "community_rehab" and by_id[str(first)]["assessments"] == 1
    assert by_id[str(second)]["due"]["plan_due_on"] == (clock.today() + timedelta(days=30)).isoformat()
    assert by_id[str(second)]["plan_version"] == 0 and by_id[str(second)]["last_session_on"] is None

    # When the first moves to 110108 and the second leaves the programme
    from_intake(consumer, clock, ClientRelocated(client_id=first, district_code="110108", street_code="110108003",
                                                 relocated_on=clock.today()), 72)
    from_intake(consumer, clock, ClientExited(client_id=second, reason="recovered", exited_on=clock.today()), 73)
    # Then 110105's list is empty and 110108's has the first, with its new street
    assert api.get("/v1/records", params={"district": "110105"}).json()["records"] == []
    moved = api.get("/v1/records", params={"district": "110108"}).json()["records"]
    assert [(r["client_id"], r["street_code"]) for r in moved] == [(str(first), "110108003")]
    # And a repeated relocation changes nothing
    before = stored(assessments)
    from_intake(consumer, clock, ClientRelocated(client_id=first, district_code="110108", street_code="110108003",
                                                 relocated_on=clock.today()), 74)
    assert stored(assessments) == before


def test_a_district_with_no_clients_has_an_empty_list_and_a_bad_code_is_refused(api):
    assert api.get("/v1/records", params={"district": "650102"}).json() == {"district_code": "650102", "records": []}
    response = api.get("/v1/records", params={"district": "chaoyang"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "district"
    assert api.get("/v1/records").status_code == 422
