"""referral end to end in memory: assessment's RelapseDetected arriving through the real
consumer machinery opens one medical referral (green channel), however often it is
delivered; the referral is then answered through the HTTP API, and the stored events
map to the public TransferRequested / ReferralAccepted / ReferralCompleted. Refused
commands (422/404/409) store nothing."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from services.referral.application import Referrals
from services.referral.consumers import TOPICS, create_consumer
from services.referral.contracts import to_public
from shared.contract.assessment import AssessmentCompleted, ClientClassified, RelapseDetected
from shared.contract.intake import ClientRegistered, ConsentScope
from shared.contract.referral import ReferralAccepted, ReferralCompleted, ReferralDeclined, TransferRequested
from shared.envelope import encode, to_cloudevent
from tests.unit.conftest import NOW

TOPIC = "jingkang.assessment.v1"


@pytest.fixture
def consumer(settings, app):
    return create_consumer(settings, app)


def relapse_detected(client_id: uuid.UUID, ce_id: str | None = None) -> tuple[str, bytes]:
    event = RelapseDetected(client_id=client_id, detected_at=NOW, stability="unstable", risk_level=4,
                            district_code="110105")
    ce_id = ce_id or str(uuid.uuid4())
    return ce_id, encode(to_cloudevent(event, id=ce_id, time=NOW, sequence=12))


def stored(app: Referrals) -> int:
    return app.recorder.max_notification_id() or 0


def public_events(app: Referrals) -> list:
    return [p for n in app.recorder.select_notifications(start=1, limit=100)
            for p in to_public(app.mapper.to_domain_event(n))]


def open_by_relapse(consumer, app: Referrals, client_id: uuid.UUID, offset: int = 5) -> uuid.UUID:
    _, raw = relapse_detected(client_id)
    assert consumer.process(TOPIC, 0, offset, raw).status == "processed"
    [referral] = app.referrals_of(client_id)
    return referral.id


def assert_invalid(response, field: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_input"
    assert field in [e["field"] for e in body["errors"]], body


def test_the_worker_subscribes_to_intake_and_assessment():
    assert TOPICS == ["jingkang.intake.v1", TOPIC]


def test_a_relapse_opens_exactly_one_medical_referral_however_often_it_arrives(consumer, app):
    client = uuid.uuid4()
    ce_id, raw = relapse_detected(client)

    # When assessment's RelapseDetected arrives
    outcome = consumer.process(TOPIC, 0, 5, raw)

    # Then one medical referral is open, due within a day, caused by that event
    assert outcome.status == "processed", outcome.reason
    [referral] = app.referrals_of(client)
    assert (referral.kind, referral.status, referral.reason, referral.note, referral.cause_event_id) == (
        "medical", "requested", "relapse_detected", None, ce_id)
    assert (referral.requested_at, referral.due_by) == (NOW, NOW + timedelta(days=1))
    after_first = stored(app)

    # When Kafka redelivers the same message (same offset), the tracking record skips it
    assert consumer.process(TOPIC, 0, 5, raw).status == "duplicate"
    # When the relay republishes the same event (same CloudEvent id) at a later offset,
    # the message is processed but the cause guard opens no second referral
    assert consumer.process(TOPIC, 0, 9, raw).status == "processed"
    assert [r.id for r in app.referrals_of(client)] == [referral.id]
    # and no new events were stored, only the Kafka position
    assert stored(app) == after_first
    assert [type(p) for p in public_events(app)] == [TransferRequested]


def test_a_new_relapse_event_for_the_same_client_opens_another_referral(consumer, app):
    client = uuid.uuid4()
    first = open_by_relapse(consumer, app, client)
    _, raw = relapse_detected(client)  # a different CloudEvent id: a new episode
    assert consumer.process(TOPIC, 0, 6, raw).status == "processed"
    assert [r.id for r in app.referrals_of(client)][0] == first
    assert len(app.referrals_of(client)) == 2


def test_other_assessment_events_are_ignored(consumer, app):
    client = uuid.uuid4()
    event = AssessmentCompleted(client_id=client, assessment_id=uuid.uuid4(), kind="baseline", stability="stable",
                                risk_level=1, willing=True, service_category="community_rehab",
                                medical_referral_needed=False, assessed_on=date(2026, 1, 5))
    raw = encode(to_cloudevent(event, id=str(uuid.uuid4()), time=NOW, sequence=3))
    assert consumer.process(TOPIC, 1, 3, raw).status == "ignored"
    assert app.referrals_of(client) == [] and stored(app) == 0


def test_a_malformed_message_is_dead_lettered_and_opens_nothing(consumer, app):
    outcome = consumer.process(TOPIC, 0, 1, b"{}")
    assert outcome.status == "dead_letter" and "missing" in outcome.reason
    assert stored(app) == 0


def test_the_closed_loop_through_the_api_maps_to_public_events(consumer, app, http, clock):
    # Given a medical referral opened by a relapse
    client = uuid.uuid4()
    referral_id = open_by_relapse(consumer, app, client)

    # Then the client's referrals list it as requested
    listed = http.get("/v1/referrals", params={"client_id": str(client)})
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["referrals"]
    assert (item["referral_id"], item["client_id"], item["kind"], item["status"]) == (
        str(referral_id), str(client), "medical", "requested")

    # When the hospital accepts, then completes
    accepted_at = clock.advance(hours=2)
    accepted = http.post(f"/v1/referrals/{referral_id}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    completed_at = clock.advance(days=3)
    completed = http.post(f"/v1/referrals/{referral_id}/complete")
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "completed"
    assert http.get(f"/v1/referrals/{referral_id}").json()["status"] == "completed"

    # Then the relay would publish the whole loop, same client and referral throughout
    assert public_events(app) == [
        TransferRequested(client_id=client, referral_id=referral_id, kind="medical", reason="relapse_detected",
                          requested_at=NOW, due_by=NOW + timedelta(days=1)),
        ReferralAccepted(client_id=client, referral_id=referral_id, kind="medical", at=accepted_at),
        ReferralCompleted(client_id=client, referral_id=referral_id, kind="medical", at=completed_at),
    ]

    # When someone tries to accept the completed referral: 409, nothing stored
    before = stored(app)
    refused = http.post(f"/v1/referrals/{referral_id}/accept")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "conflict"
    assert stored(app) == before


def test_listing_without_a_client_id_names_the_field(http):
    assert_invalid(http.get("/v1/referrals"), "client_id")
    assert_invalid(http.get("/v1/referrals", params={"client_id": "not-a-uuid"}), "client_id")


def test_listing_an_unknown_client_is_empty(http):
    response = http.get("/v1/referrals", params={"client_id": str(uuid.uuid4())})
    assert response.status_code == 200 and response.json() == {"referrals": []}


@pytest.mark.parametrize("reason", ["", "   ", "no bed available"])
def test_declining_without_a_reason_code_is_422_and_stores_nothing(consumer, app, http, reason):
    referral_id = open_by_relapse(consumer, app, uuid.uuid4())
    before = stored(app)
    assert_invalid(http.post(f"/v1/referrals/{referral_id}/decline", json={"reason": reason}), "reason")
    assert stored(app) == before
    assert app.get_referral(referral_id).status == "requested"


def test_declining_with_a_reason_code_is_200_and_the_note_stays_inside(consumer, app, http):
    referral_id = open_by_relapse(consumer, app, uuid.uuid4())
    response = http.post(f"/v1/referrals/{referral_id}/decline", json={"reason": "no_capacity", "note": "床位已满"})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["outcome_reason"], response.json()["outcome_note"]) == (
        "declined", "no_capacity", "床位已满")
    # the public event carries the code only
    declined = public_events(app)[-1]
    assert isinstance(declined, ReferralDeclined) and declined.reason == "no_capacity"
    assert "床位已满" not in declined.model_dump_json()


@pytest.mark.parametrize("method, path, body", [
    ("get", "/v1/referrals/{id}", None),
    ("post", "/v1/referrals/{id}/accept", None),
    ("post", "/v1/referrals/{id}/complete", None),
    ("post", "/v1/referrals/{id}/decline", {"reason": "no_capacity"}),
    ("post", "/v1/referrals/{id}/cancel", {"reason": "client_withdrew"}),
])
def test_an_unknown_referral_is_404_and_stores_nothing(app, http, method, path, body):
    before = stored(app)
    kwargs = {"json": body} if body is not None else {}
    response = getattr(http, method)(path.format(id=uuid.uuid4()), **kwargs)
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "not_found"
    assert stored(app) == before


def test_a_client_index_id_is_not_a_referral(consumer, app, http):
    # The per-client index lives in the same store; its id must not answer as a referral.
    from services.referral.domain import ClientReferrals
    client = uuid.uuid4()
    open_by_relapse(consumer, app, client)
    before = stored(app)
    response = http.post(f"/v1/referrals/{ClientReferrals.id_for(client)}/accept")
    assert response.status_code == 404, response.text
    assert stored(app) == before


def test_requesting_a_referral_over_http(consumer, app, http):
    # Given a client registered with consent to share with employment services and
    # classified community_rehab (stable, low risk, willing)
    client = uuid.uuid4()
    registered = ClientRegistered(
        client_id=client, application_id=uuid.uuid4(), source="community", district_code="110105",
        street_code="110105001", registered_on=date(2026, 1, 5), free_service_eligible=True, hardship_categories=[],
        consent=ConsentScope(rehabilitation_services=True, share_with_health=True,
                             share_with_disability_and_employment=True))
    classified = ClientClassified(client_id=client, service_category="community_rehab", medical_referral_needed=False,
                                  previous_category=None)
    for offset, event in enumerate((registered, classified)):
        raw = encode(to_cloudevent(event, id=str(uuid.uuid4()), time=NOW, sequence=offset + 1))
        assert consumer.process(f"jingkang.{type(event).SERVICE}.v1", 0, offset, raw).status == "processed"
    # When an employment referral is requested for them, then it is open, due in 10 days
    created = http.post("/v1/referrals", json={"client_id": str(client), "kind": "employment",
                                                "reason": "employment_ready", "wants_work": True})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["status"], body["kind"], body["due_by"]) == ("requested", "employment", "2026-01-15T09:00:00Z")
    before = stored(app)
    assert_invalid(http.post("/v1/referrals", json={"client_id": str(client), "kind": "housing", "reason": "other"}), "kind")
    assert_invalid(http.post("/v1/referrals", json={"client_id": str(client), "kind": "medical",
                                                     "reason": "relapse detected"}), "reason")
    assert stored(app) == before


# --- a district's open referrals (GET /v1/referrals?district=): the hospital's incoming list ---------


def registered(app: Referrals, client_id: uuid.UUID, district: str = "110105") -> uuid.UUID:
    app.register_client(client_id=client_id, district_code=district, street_code=district + "001",
                        registered_on=date(2026, 1, 5), consent={"rehabilitation_services": True,
                                                                 "share_with_health": True})
    return client_id


def test_a_district_lists_its_open_referrals_until_each_is_answered_for_good(consumer, app, http):
    # Given two clients of 110105 with a relapse each, and one of 110108
    first, second = registered(app, uuid.uuid4()), registered(app, uuid.uuid4())
    elsewhere = registered(app, uuid.uuid4(), "110108")
    a = open_by_relapse(consumer, app, first, offset=5)
    b = open_by_relapse(consumer, app, second, offset=6)
    open_by_relapse(consumer, app, elsewhere, offset=7)
    listed = lambda: [r["referral_id"] for r in http.get("/v1/referrals", params={"district": "110105"}).json()["referrals"]]
    # Then 110105 lists its two, oldest first
    assert listed() == [str(a), str(b)]
    # When one is accepted it stays on the list (under way); declined, it leaves it
    assert http.post(f"/v1/referrals/{a}/accept").status_code == 200
    assert http.post(f"/v1/referrals/{b}/decline", json={"reason": "no_capacity"}).status_code == 200
    assert listed() == [str(a)]
    # When the accepted one completes, the list is empty
    assert http.post(f"/v1/referrals/{a}/complete").status_code == 200
    assert listed() == []


def test_listing_by_district_and_client_at_once_or_by_a_bad_code_is_refused(http):
    assert_invalid(http.get("/v1/referrals", params={"district": "110105", "client_id": str(uuid.uuid4())}), "client_id")
    assert_invalid(http.get("/v1/referrals", params={"district": "chaoyang"}), "district")
    assert http.get("/v1/referrals", params={"district": "650102"}).json() == {"referrals": []}
