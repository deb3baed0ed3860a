"""referral's placement loop in memory, through the real consumer machinery and the HTTP
API: stations are registered, intake's ClientRegistered and assessment's
ClientClassified place community_rehab clients or put them on the district's waitlist in
arrival order (however often Kafka delivers them), freed places go to the first in line,
the worker's timer raises WaitlistExceeded after 90 days and ReferralOverdue at a
referral's deadline, and medical / professional referrals move clients out and back.
Refused commands (422/404/409) store nothing. No wall clock: a FixedClock moves."""
from __future__ import annotations

import itertools
import threading
import time
import uuid
from datetime import date, timedelta

import pytest
from eventsourcing.persistence import IntegrityError

from services.referral.application import Referrals
from services.referral.contracts import handlers, to_public
from services.referral.domain import DistrictPlacement, Referral
from shared.clock import FixedClock
from shared.consumer import EventConsumer
from shared.contract.assessment import ClientClassified, RelapseDetected
from shared.contract.intake import ClientExited, ClientRegistered, ConsentScope, ConsentWithdrawn
from shared.contract.referral import (
    ClientPlaced, ClientWaitlisted, ReferralOverdue, StationCapacityChanged, StationRegistered, TransferRequested,
    WaitlistExceeded,
)
from shared.envelope import encode, to_cloudevent
from shared.store import command_context
from tests.unit.conftest import NOW

TODAY = date(2026, 1, 5)
D = "110105"
S1, S2, S3 = "110105001", "110105002", "110105003"
INTAKE, ASSESSMENT = "jingkang.intake.v1", "jingkang.assessment.v1"
FULL_CONSENT = ConsentScope(rehabilitation_services=True, share_with_health=True,
                            share_with_disability_and_employment=True)


@pytest.fixture
def consumer(app) -> EventConsumer:
    return EventConsumer(app, "referral", handlers(app), attempts=5, sleep=lambda _: None)


class Kafka:
    """Hands messages to the consumer as Kafka would: per topic and partition, offsets
    increase; a message can be redelivered (same offset) or republished (same CloudEvent,
    new offset)."""

    def __init__(self, consumer: EventConsumer, clock: FixedClock):
        self.consumer, self.clock = consumer, clock
        self.offsets = itertools.count(1)
        self.sent: list[tuple[str, int, int, bytes]] = []

    def deliver(self, event, partition: int = 0, ce_id: str | None = None) -> tuple[str, int, int, bytes]:
        topic = f"jingkang.{type(event).SERVICE}.v1"
        raw = encode(to_cloudevent(event, id=ce_id or str(uuid.uuid4()), time=self.clock.now(), sequence=1))
        message = (topic, partition, next(self.offsets), raw)
        self.redeliver(message)
        self.sent.append(message)
        return message

    def redeliver(self, message) -> str:
        outcome = self.consumer.process(*message)
        assert not outcome.dead_letter, outcome.reason
        return outcome.status

    def republish(self, message) -> str:
        topic, partition, _, raw = message
        return self.redeliver((topic, partition, next(self.offsets), raw))

    def register(self, client: uuid.UUID | None = None, street: str = S1, consent: ConsentScope = FULL_CONSENT,
                 partition: int = 0):
        client = client or uuid.uuid4()
        return client, self.deliver(ClientRegistered(
            client_id=client, application_id=uuid.uuid4(), source="hospital_discharge", district_code=street[:6],
            street_code=street, registered_on=self.clock.today(), free_service_eligible=True,
            hardship_categories=["minimum_living_allowance"], consent=consent), partition)

    def classify(self, client: uuid.UUID, category: str = "community_rehab", partition: int = 0):
        return self.deliver(ClientClassified(client_id=client, service_category=category,
                                             medical_referral_needed=category != "community_rehab",
                                             previous_category=None), partition)

    def join(self, street: str = S1, partition: int = 0) -> uuid.UUID:
        """A client registered and classified community_rehab: placed or waitlisted."""
        client, _ = self.register(street=street, partition=partition)
        self.classify(client, partition=partition)
        return client

    def relapse(self, client: uuid.UUID):
        return self.deliver(RelapseDetected(client_id=client, detected_at=self.clock.now(), stability="unstable",
                                            risk_level=4, district_code=D))


@pytest.fixture
def kafka(consumer, clock) -> Kafka:
    return Kafka(consumer, clock)


def stored(app: Referrals) -> int:
    return app.recorder.max_notification_id() or 0


def public_events(app: Referrals, start: int = 1) -> list:
    return [p for n in app.recorder.select_notifications(start=start, limit=1000)
            for p in to_public(app.mapper.to_domain_event(n))]


def new_public(app: Referrals, since: int) -> list:
    return public_events(app, start=since + 1)


def station(http, streets=(S1,), capacity=1, **overrides) -> str:
    body = {"name": "朝阳区宁康驿站", "operator": "朝阳区精神康复协会", "tier": "ningkang_post", "district_code": D,
            "streets": list(streets), "capacity": capacity, "services": ["social_skills", "peer_support"], **overrides}
    response = http.post("/v1/stations", json=body)
    assert response.status_code == 201, response.text
    return response.json()["station_id"]


def placement(http, client) -> dict:
    response = http.get(f"/v1/clients/{client}/placement")
    assert response.status_code == 200, response.text
    return response.json()


def waitlist(http, district: str = D) -> list[str]:
    return [w["client_id"] for w in http.get("/v1/waitlist", params={"district": district}).json()["waiting"]]


def assert_error(response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    if field:
        assert field in [e["field"] for e in response.json()["errors"]], response.json()


# --- stations ----------------------------------------------------------------------------

def test_a_station_is_registered_listed_with_occupancy_and_published_without_its_name(app, http):
    # When a station is registered
    response = http.post("/v1/stations", json={
        "name": "朝阳区宁康家园", "operator": "朝阳区精神康复协会", "tier": "ningkang_home", "district_code": D,
        "streets": [S1, S2], "capacity": 30, "services": ["medication_training", "social_skills"]})
    # Then 201 with the station, listed in its district, with no one placed yet
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["tier"], body["capacity"], body["occupancy"], body["free_places"]) == ("ningkang_home", 30, 0, 30)
    listed = http.get("/v1/stations", params={"district": D}).json()["stations"]
    assert [s["station_id"] for s in listed] == [body["station_id"]]
    assert http.get(f"/v1/stations/{body['station_id']}").json() == body
    assert http.get("/v1/stations", params={"district": "110106"}).json() == {"stations": []}
    # And StationRegistered is published: tier, district, streets, capacity, no name
    assert public_events(app) == [StationRegistered(station_id=uuid.UUID(body["station_id"]), tier="ningkang_home",
                                                    district_code=D, streets=[S1, S2], capacity=30)]


@pytest.mark.parametrize("field, value", [
    ("tier", "county_hub"), ("district_code", "1101"), ("streets", []), ("streets", ["110106001"]),
    ("streets", ["1101050"]), ("capacity", 0), ("services", ["massage"]), ("name", ""),
])
def test_a_station_with_bad_details_is_422_naming_the_field_and_stores_nothing(app, http, field, value):
    body = {"name": "驿站", "operator": "协会", "tier": "ningkang_post", "district_code": D, "streets": [S1],
            "capacity": 5, "services": ["peer_support"], field: value}
    response = http.post("/v1/stations", json=body)
    assert response.status_code == 422, response.text
    assert any(e["field"].split(".")[0] == field for e in response.json()["errors"]), response.json()
    assert stored(app) == 0


def test_listing_stations_needs_a_district_code(http):
    assert_error(http.get("/v1/stations"), 422, "district")
    assert_error(http.get("/v1/stations", params={"district": "abc"}), 422, "district")


def test_capacity_changes_are_published_never_go_below_occupancy_and_unknown_stations_are_404(app, http, kafka):
    a = station(http, capacity=3)
    kafka.join(), kafka.join()
    # When capacity rises, then StationCapacityChanged
    before = stored(app)
    response = http.post(f"/v1/stations/{a}/capacity", json={"capacity": 4})
    assert response.status_code == 200, response.text
    assert (response.json()["capacity"], response.json()["occupancy"]) == (4, 2)
    assert new_public(app, before) == [StationCapacityChanged(station_id=uuid.UUID(a), capacity=4)]
    # When it would go below the two clients placed there: 409, nothing stored
    before = stored(app)
    assert_error(http.post(f"/v1/stations/{a}/capacity", json={"capacity": 1}), 409)
    assert_error(http.post(f"/v1/stations/{a}/capacity", json={"capacity": -1}), 422, "capacity")
    assert_error(http.post(f"/v1/stations/{uuid.uuid4()}/capacity", json={"capacity": 5}), 404)
    # the district's placement aggregate is not a station
    assert_error(http.post(f"/v1/stations/{DistrictPlacement.id_for(D)}/capacity", json={"capacity": 5}), 404)
    assert stored(app) == before
    # Setting the same capacity again is a no-op
    assert http.post(f"/v1/stations/{a}/capacity", json={"capacity": 4}).status_code == 200
    assert stored(app) == before


# --- placement from intake's and assessment's events ----------------------------------------

def test_a_registered_community_rehab_client_is_placed_at_a_station_serving_their_street(app, http, kafka):
    other = station(http, streets=[S2], capacity=5)
    mine = station(http, streets=[S1], capacity=5)
    before = stored(app)
    # Given ClientRegistered (not yet classified): no placement
    client, _ = kafka.register(street=S1)
    assert placement(http, client)["status"] == "not_placed"
    # When ClientClassified community_rehab arrives
    kafka.classify(client)
    # Then the client is placed at the station serving their street
    got = placement(http, client)
    assert (got["status"], got["station_id"], got["since"], got["in_hospital"]) == ("placed", mine, "2026-01-05", False)
    assert new_public(app, before) == [ClientPlaced(client_id=client, station_id=uuid.UUID(mine), district_code=D,
                                                    placed_on=TODAY)]
    assert other != mine


def test_classification_may_arrive_before_registration(http, kafka):
    mine = station(http)
    client = uuid.uuid4()
    kafka.classify(client)  # assessment's topic ran ahead of intake's
    assert placement(http, client)["status"] == "not_placed"
    kafka.register(client)
    assert (placement(http, client)["status"], placement(http, client)["station_id"]) == ("placed", mine)


@pytest.mark.parametrize("category, consent", [
    ("dynamic_care", FULL_CONSENT),
    ("community_rehab", ConsentScope(rehabilitation_services=False, share_with_health=True,
                                     share_with_disability_and_employment=False)),
])
def test_placement_is_only_for_community_rehab_with_consent_to_rehabilitation(app, http, kafka, category, consent):
    station(http)
    client, _ = kafka.register(consent=consent)
    kafka.classify(client, category)
    assert placement(http, client)["status"] == "not_placed"
    assert not [e for e in public_events(app) if isinstance(e, (ClientPlaced, ClientWaitlisted))]


def test_an_unknown_client_has_no_placement(http):
    assert_error(http.get(f"/v1/clients/{uuid.uuid4()}/placement"), 404)


def test_interleaved_arrivals_with_redelivery_keep_arrival_order_and_place_each_client_once(app, http, kafka):
    # Given a station with one place for street S1
    station(http, capacity=1)
    # When six clients' registrations and classifications arrive interleaved over two
    # partitions and two topics, with redeliveries and republished copies in between
    clients = [uuid.uuid4() for _ in range(6)]
    registered = {c: kafka.register(c, partition=i % 2)[1] for i, c in enumerate(clients)}
    assert kafka.redeliver(registered[clients[0]]) == "duplicate"  # same offset: skipped by its tracking record
    arrival = []
    for i in (3, 0, 5, 1, 4, 2):  # classifications complete the arrivals in this order
        message = kafka.classify(clients[i], partition=i % 2)
        arrival.append(clients[i])
        assert kafka.redeliver(message) == "duplicate"
        assert kafka.republish(message) == "processed"  # same CloudEvent, new offset: no second effect
        assert kafka.republish(registered[clients[i]]) == "processed"
    # Then the first arrival has the place and the others wait in arrival order
    assert placement(http, arrival[0])["status"] == "placed"
    assert waitlist(http) == [str(c) for c in arrival[1:]]
    assert [placement(http, c)["waitlist_position"] for c in arrival[1:]] == [1, 2, 3, 4, 5]
    # And each client got exactly one placement event, never both
    placed_or_waiting = [(type(e).__name__, e.client_id) for e in public_events(app)
                         if isinstance(e, (ClientPlaced, ClientWaitlisted))]
    assert placed_or_waiting == [("ClientPlaced", arrival[0])] + [("ClientWaitlisted", c) for c in arrival[1:]]


def test_a_concurrent_change_of_the_district_is_retried_and_both_are_kept(app, http, kafka, monkeypatch):
    # Given a full station
    a = station(http, capacity=1)
    kafka.join()
    # When, while the consumer handles a new client's classification, an API request
    # raises the station's capacity and saves first (the consumer's copy is now stale)
    client, _ = kafka.register()
    original, interfered, conflicts = app._district, [], []

    def district_then_concurrent_request(code):
        district = original(code)
        if not interfered:
            interfered.append(True)
            with command_context(actor="district-admin"):  # another request: its own context, no Kafka position
                app.change_capacity(uuid.UUID(a), 2)
        return district

    def save_noting_conflicts(*objs, save=app.save):
        try:
            return save(*objs)
        except IntegrityError:
            conflicts.append(True)
            raise

    monkeypatch.setattr(app, "_district", district_then_concurrent_request)
    monkeypatch.setattr(app, "save", save_noting_conflicts)
    kafka.classify(client)
    # Then the consumer's first save conflicted on the district's version, its retry saw
    # the new capacity, and the client has the new place
    assert interfered == [True] and conflicts == [True]
    assert (placement(http, client)["status"], http.get(f"/v1/stations/{a}").json()["occupancy"]) == ("placed", 2)


def test_concurrent_consumers_never_place_a_client_twice_or_overfill_a_station(settings, clock, http, app,
                                                                              monkeypatch):
    # Two consumer instances over one store, each with its own partition, at once; a
    # pause between reading the district and saving it makes their writes collide.
    station(http, capacity=3)
    station(http, streets=[S1, S2], capacity=2)
    read, saved, conflicts = app._district, app.save, []

    def slow_read(code):
        district = read(code)
        time.sleep(0.002)
        return district

    def save(*objs):
        try:
            return saved(*objs)
        except IntegrityError:
            conflicts.append(True)
            raise

    monkeypatch.setattr(app, "_district", slow_read)
    monkeypatch.setattr(app, "save", save)
    consumers = [EventConsumer(app, "referral", handlers(app), attempts=20, sleep=lambda _: None)
                 for _ in range(2)]
    clients = [[uuid.uuid4() for _ in range(15)] for _ in range(2)]
    start = threading.Barrier(2)
    failures = []

    def run(p: int) -> None:
        kafka = Kafka(consumers[p], clock)
        kafka.offsets = itertools.count(1000 * p)
        start.wait()
        for c in clients[p]:
            try:
                kafka.register(c, street=S1, partition=p)
                kafka.classify(c, partition=p)
            except AssertionError as e:
                failures.append(e)

    threads = [threading.Thread(target=run, args=(p,)) for p in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [] and conflicts  # they did collide, and every collision was retried
    statuses = [placement(http, c)["status"] for c in clients[0] + clients[1]]
    assert statuses.count("placed") == 5 and statuses.count("waitlisted") == 25
    district = app.repository.get(DistrictPlacement.id_for(D))
    assert not set(district.placed) & {w[0] for w in district.waitlist}
    # each partition's clients wait in the order their partition delivered them
    line = [w[0] for w in district.waitlist]
    for p in range(2):
        mine = [c for c in line if c in clients[p]]
        assert mine == [c for c in clients[p] if c in mine]


# --- freed places -------------------------------------------------------------------------------

def test_a_capacity_increase_places_the_first_in_line(app, http, kafka, clock):
    a = station(http, capacity=1)
    kafka.join()
    first, second, third = kafka.join(), kafka.join(), kafka.join()
    clock.advance(days=3)
    before = stored(app)
    response = http.post(f"/v1/stations/{a}/capacity", json={"capacity": 3})
    assert (response.json()["occupancy"], response.json()["free_places"]) == (3, 0)
    assert new_public(app, before) == [
        StationCapacityChanged(station_id=uuid.UUID(a), capacity=3),
        ClientPlaced(client_id=first, station_id=uuid.UUID(a), district_code=D, placed_on=TODAY + timedelta(days=3)),
        ClientPlaced(client_id=second, station_id=uuid.UUID(a), district_code=D, placed_on=TODAY + timedelta(days=3)),
    ]
    assert waitlist(http) == [str(third)]


def test_a_new_station_takes_those_already_waiting_for_its_streets(http, kafka):
    waits_s1, waits_s3 = kafka.join(S1), kafka.join(S3)
    assert waitlist(http) == [str(waits_s1), str(waits_s3)]
    new = station(http, streets=[S1, S2], capacity=2)
    assert placement(http, waits_s1)["station_id"] == new
    assert waitlist(http) == [str(waits_s3)]


def test_a_client_exit_frees_their_place_for_the_first_in_line_once(app, http, kafka):
    a = station(http, capacity=1)
    holder, first, second = kafka.join(), kafka.join(), kafka.join()
    exited = kafka.deliver(ClientExited(client_id=holder, reason="recovered", exited_on=TODAY))
    assert placement(http, holder)["status"] == "exited"
    assert (placement(http, first)["status"], placement(http, first)["station_id"]) == ("placed", a)
    after = stored(app)
    assert kafka.republish(exited) == "processed"
    assert stored(app) == after and waitlist(http) == [str(second)]


# --- more than 90 days on the waitlist ----------------------------------------------------------

@pytest.mark.parametrize("days, exceeded", [(89, False), (90, False), (91, True)])
def test_waiting_more_than_90_days_raises_waitlist_exceeded_once_on_the_workers_timer(app, http, kafka, clock,
                                                                                     days, exceeded):
    station(http, capacity=1)
    kafka.join()
    client = kafka.join()
    app.run_deadlines()  # the timer's first tick: nothing due yet
    before = stored(app)
    clock.advance(days=days)
    app.run_deadlines()
    expected = [WaitlistExceeded(client_id=client, district_code=D, waiting_since=TODAY)] if exceeded else []
    assert [e for e in new_public(app, before) if isinstance(e, WaitlistExceeded)] == expected
    assert placement(http, client)["status"] == ("needs_reverification" if exceeded else "waitlisted")
    # a day later: raised once in all, if by then the client waited more than 90 days
    clock.advance(days=1)
    app.run_deadlines()
    assert len([e for e in public_events(app) if isinstance(e, WaitlistExceeded)]) == int(days + 1 > 90)


def test_after_90_days_referrals_are_refused_until_reverification_is_recorded(app, http, kafka, clock):
    a = station(http, capacity=1)
    holder = kafka.join()
    client = kafka.join()
    clock.advance(days=91)
    app.run_deadlines()
    assert placement(http, client)["status"] == "needs_reverification"
    # Then a professional referral for them is refused with 409, storing nothing
    other = station(http, streets=[S2], capacity=1)
    before = stored(app)
    refused = http.post("/v1/referrals", json={"client_id": str(client), "kind": "professional",
                                                "reason": "station_full", "to_station_id": other})
    assert_error(refused, 409)
    assert "re-verification" in refused.json()["detail"]
    assert stored(app) == before
    # but the green channel is never refused
    kafka.relapse(client)
    assert [r.kind for r in app.referrals_of(client)] == ["medical"]
    # When a place frees meanwhile, it does not go to the client who must be re-verified
    kafka.deliver(ClientExited(client_id=holder, reason="moved_away", exited_on=clock.today()))
    assert http.get(f"/v1/stations/{a}").json()["occupancy"] == 0
    # When the re-verification is recorded, the client is placed (a place is free)
    response = http.post(f"/v1/clients/{client}/reverification")
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["station_id"]) == ("placed", a)
    # and recording it again is a conflict
    before = stored(app)
    assert_error(http.post(f"/v1/clients/{client}/reverification"), 409)
    assert_error(http.post(f"/v1/clients/{uuid.uuid4()}/reverification"), 404)
    assert stored(app) == before


def test_a_reverified_client_with_no_free_place_waits_again_for_a_new_90_days(app, http, kafka, clock):
    station(http, capacity=1)
    kafka.join()
    client = kafka.join()
    clock.advance(days=91)
    app.run_deadlines()
    clock.advance(days=4)
    response = http.post(f"/v1/clients/{client}/reverification")
    assert (response.json()["status"], response.json()["since"]) == ("waitlisted", "2026-04-10")
    before = stored(app)
    clock.advance(days=90)
    app.run_deadlines()
    assert not [e for e in new_public(app, before) if isinstance(e, WaitlistExceeded)]
    clock.advance(days=1)
    app.run_deadlines()
    assert [e.waiting_since for e in new_public(app, before) if isinstance(e, WaitlistExceeded)] == [date(2026, 4, 10)]


# --- referral deadlines ---------------------------------------------------------------------------

@pytest.mark.parametrize("hours, overdue", [(23, False), (25, True)])
def test_an_unanswered_medical_referral_raises_referral_overdue_once_after_a_day(app, kafka, clock, hours, overdue):
    client = uuid.uuid4()
    kafka.relapse(client)
    [referral] = app.referrals_of(client)
    app.run_deadlines()
    before = stored(app)
    clock.advance(hours=hours)
    app.run_deadlines()
    expected = [ReferralOverdue(client_id=client, referral_id=referral.id, kind="medical", due_by=NOW + timedelta(days=1))]
    assert new_public(app, before) == (expected if overdue else [])
    assert app.get_referral(referral.id).overdue is overdue
    # the next days' ticks raise nothing more, and a late tick still raises it once
    clock.advance(days=3)
    app.run_deadlines()
    assert [e for e in public_events(app) if isinstance(e, ReferralOverdue)] == expected


def test_an_answered_referral_is_not_overdue(app, http, kafka, clock):
    client = uuid.uuid4()
    kafka.relapse(client)
    [referral] = app.referrals_of(client)
    clock.advance(hours=20)
    assert http.post(f"/v1/referrals/{referral.id}/accept").status_code == 200
    clock.advance(days=2)
    app.run_deadlines()
    assert not [e for e in public_events(app) if isinstance(e, ReferralOverdue)]


# --- two-way: to hospital and back ----------------------------------------------------------------

def test_a_client_comes_back_from_hospital_to_the_place_held_for_them(app, http, kafka, clock):
    # Given a client placed at a full station, and another client waiting
    a = station(http, capacity=1)
    client, waiting = kafka.join(), kafka.join()
    # When a relapse opens a medical referral and the hospital accepts it
    kafka.relapse(client)
    [referral] = app.referrals_of(client)
    assert http.post(f"/v1/referrals/{referral.id}/accept").status_code == 200
    # Then the client's place is held: still theirs, not given to the one waiting
    got = placement(http, client)
    assert (got["status"], got["station_id"], got["in_hospital"]) == ("placed", a, True)
    assert http.get(f"/v1/stations/{a}").json()["occupancy"] == 1
    assert waitlist(http) == [str(waiting)]
    # When the hospital discharges the client back (referral completed) three weeks later
    clock.advance(days=21)
    before = stored(app)
    assert http.post(f"/v1/referrals/{referral.id}/complete").status_code == 200
    # Then the client is back at their station, and that is published
    got = placement(http, client)
    assert (got["status"], got["station_id"], got["in_hospital"]) == ("placed", a, False)
    assert [type(e).__name__ for e in new_public(app, before)] == ["ReferralCompleted", "ClientPlaced"]
    assert new_public(app, before)[1] == ClientPlaced(client_id=client, station_id=uuid.UUID(a), district_code=D,
                                                      placed_on=TODAY + timedelta(days=21))


def test_a_waiting_client_back_from_hospital_is_still_waiting_in_their_turn(app, http, kafka):
    station(http, capacity=1)
    kafka.join()
    client, after = kafka.join(), kafka.join()
    kafka.relapse(client)
    [referral] = app.referrals_of(client)
    http.post(f"/v1/referrals/{referral.id}/accept")
    assert placement(http, client)["in_hospital"] is True
    before = stored(app)
    http.post(f"/v1/referrals/{referral.id}/complete")
    got = placement(http, client)
    assert (got["status"], got["waitlist_position"], got["in_hospital"]) == ("waitlisted", 1, False)
    assert [type(e).__name__ for e in new_public(app, before)] == ["ReferralCompleted"]
    assert waitlist(http) == [str(client), str(after)]


def test_an_accepted_medical_referral_cancelled_brings_the_client_back(app, http, kafka):
    a = station(http, capacity=1)
    client = kafka.join()
    kafka.relapse(client)
    [referral] = app.referrals_of(client)
    http.post(f"/v1/referrals/{referral.id}/accept")
    response = http.post(f"/v1/referrals/{referral.id}/cancel", json={"reason": "entered_in_error"})
    assert response.status_code == 200, response.text
    assert (placement(http, client)["station_id"], placement(http, client)["in_hospital"]) == (a, False)


def test_a_declined_medical_referral_leaves_the_placement_alone(app, http, kafka):
    a = station(http, capacity=1)
    client = kafka.join()
    kafka.relapse(client)
    [referral] = app.referrals_of(client)
    http.post(f"/v1/referrals/{referral.id}/decline", json={"reason": "not_suitable"})
    assert (placement(http, client)["station_id"], placement(http, client)["in_hospital"]) == (a, False)


# --- professional transfer ---------------------------------------------------------------------

def test_a_professional_referral_moves_the_place_and_frees_the_old_one_for_the_first_in_line(app, http, kafka):
    a = station(http, streets=[S1], capacity=1)
    b = station(http, streets=[S2], capacity=1)
    mover, waiting = kafka.join(S1), kafka.join(S1)
    created = http.post("/v1/referrals", json={"client_id": str(mover), "kind": "professional", "reason": "poor_fit",
                                               "to_station_id": b, "note": "更适合小组活动"})
    assert created.status_code == 201, created.text
    assert created.json()["to_station_id"] == b
    referral_id = created.json()["referral_id"]
    requested = [e for e in public_events(app) if isinstance(e, TransferRequested)][-1]
    assert (requested.reason, requested.to_station_id) == ("poor_fit", uuid.UUID(b))
    before = stored(app)
    assert http.post(f"/v1/referrals/{referral_id}/accept").status_code == 200
    assert (placement(http, mover)["station_id"], placement(http, waiting)["station_id"]) == (b, a)
    assert [(type(e).__name__, getattr(e, "client_id", None)) for e in new_public(app, before)] == [
        ("ReferralAccepted", mover), ("ClientPlaced", mover), ("ClientPlaced", waiting)]


def test_a_professional_referral_to_a_full_station_cannot_be_accepted_and_stores_nothing(app, http, kafka):
    a = station(http, streets=[S1], capacity=1)
    b = station(http, streets=[S2], capacity=1)
    mover = kafka.join(S1)
    kafka.join(S2)  # b is full
    referral_id = http.post("/v1/referrals", json={"client_id": str(mover), "kind": "professional",
                                                    "reason": "station_full", "to_station_id": b}).json()["referral_id"]
    before = stored(app)
    assert_error(http.post(f"/v1/referrals/{referral_id}/accept"), 409)
    assert stored(app) == before
    assert (http.get(f"/v1/referrals/{referral_id}").json()["status"], placement(http, mover)["station_id"]) == (
        "requested", a)


@pytest.mark.parametrize("case", ["no station", "unknown station", "other district", "same station", "not placed"])
def test_a_professional_referral_is_refused_when_it_cannot_move_anyone(app, http, kafka, case):
    a = station(http, streets=[S1], capacity=2)
    elsewhere = station(http, district_code="110106", streets=["110106001"], capacity=2)
    placed = kafka.join(S1)
    client, to_station, status, field = {
        "no station": (placed, None, 422, "to_station_id"),
        "unknown station": (placed, str(uuid.uuid4()), 422, "to_station_id"),
        "other district": (placed, elsewhere, 422, "to_station_id"),
        "same station": (placed, a, 409, None),
        "not placed": (kafka.register()[0], a, 409, None),
    }[case]
    before = stored(app)
    body = {"client_id": str(client), "kind": "professional", "reason": "station_full"}
    if to_station:
        body["to_station_id"] = to_station
    assert_error(http.post("/v1/referrals", json=body), status, field)
    assert stored(app) == before


# --- community and employment referrals ----------------------------------------------------------

def test_a_community_referral_needs_the_consent_flag(app, http):
    client = str(uuid.uuid4())
    before = stored(app)
    assert_error(http.post("/v1/referrals", json={"client_id": client, "kind": "community",
                                                   "reason": "hospital_discharge"}), 422, "consent")
    assert stored(app) == before
    created = http.post("/v1/referrals", json={"client_id": client, "kind": "community", "reason": "hospital_discharge",
                                                "consent": True})
    assert created.status_code == 201, created.text
    assert created.json()["due_by"] == "2026-01-10T09:00:00Z"


def test_an_employment_referral_needs_readiness_the_wish_to_work_and_consent_to_share(app, http, kafka):
    ready = kafka.join()
    body = {"client_id": str(ready), "kind": "employment", "reason": "employment_ready", "wants_work": True}
    unstable = kafka.join()
    kafka.classify(unstable, "dynamic_care")  # the latest assessment: not ready
    before = stored(app)
    assert_error(http.post("/v1/referrals", json={**body, "wants_work": False}), 422, "wants_work")
    refused = http.post("/v1/referrals", json={**body, "client_id": str(unstable)})
    assert_error(refused, 409)
    assert "ready" in refused.json()["detail"]
    # unknown to referral: no assessment says ready
    assert_error(http.post("/v1/referrals", json={**body, "client_id": str(uuid.uuid4())}), 409)
    assert stored(app) == before
    # consent to share with employment services withdrawn
    kafka.deliver(ConsentWithdrawn(client_id=ready, consent=ConsentScope(
        rehabilitation_services=True, share_with_health=True, share_with_disability_and_employment=False),
        withdrawn_on=TODAY))
    before = stored(app)
    refused = http.post("/v1/referrals", json=body)
    assert_error(refused, 409)
    assert "consent" in refused.json()["detail"]
    assert stored(app) == before
    # with consent
    kafka.deliver(ConsentWithdrawn(client_id=ready, consent=FULL_CONSENT, withdrawn_on=TODAY))
    assert http.post("/v1/referrals", json=body).status_code == 201


def test_an_exited_client_gets_no_new_referral_but_a_relapse_still_goes_to_hospital(app, http, kafka):
    client = kafka.join()
    kafka.deliver(ClientExited(client_id=client, reason="moved_away", exited_on=TODAY))
    before = stored(app)
    assert_error(http.post("/v1/referrals", json={"client_id": str(client), "kind": "community",
                                                   "reason": "hospital_discharge", "consent": True}), 409)
    assert stored(app) == before
    kafka.relapse(client)
    assert [r.kind for r in app.referrals_of(client)] == ["medical"]


# --- notes stay inside; old events are upcast ----------------------------------------------------

def test_notes_never_reach_a_public_event(app, http, kafka):
    client = uuid.uuid4()
    created = http.post("/v1/referrals", json={"client_id": str(client), "kind": "community", "reason": "other",
                                                "note": "张三 13800000000 朝阳区某街道1号", "consent": True})
    assert created.status_code == 201 and created.json()["note"] == "张三 13800000000 朝阳区某街道1号"
    referral_id = created.json()["referral_id"]
    http.post(f"/v1/referrals/{referral_id}/cancel", json={"reason": "other", "note": "张三 duplicate"})
    published = " ".join(e.model_dump_json() for e in public_events(app))
    assert "张三" not in published and "1380000" not in published
    # nor an auditor's replay of the referral (shared.audit redacts `notes`)
    from shared.audit import aggregate
    replayed = aggregate(app, uuid.UUID(referral_id), version=None)
    assert replayed["state"]["notes"] == "<redacted>" and "张三" not in str(replayed)
    assert_error(http.post("/v1/referrals", json={"client_id": str(client), "kind": "community", "reason": "other",
                                                   "consent": True, "note": "x" * 501}), 422, "note")


def test_version_1_events_with_free_text_reasons_are_upcast_when_read(app):
    import json

    from eventsourcing.persistence import StoredEvent

    referral = Referral.request(client_id=uuid.uuid4(), kind="medical", reason="relapse_detected", now=NOW)
    referral.decline(reason="no_capacity", at=NOW, note=None)
    requested, declined = referral.collect_events()

    def as_version_1(event, reason: str):
        stored_event = app.mapper.to_stored_event(event)
        state = json.loads(stored_event.state)
        state.pop("class_version")
        state["reason"] = reason
        for gone in ("note", "to_station_id", "consented", "wants_work"):
            state.pop(gone, None)
        return app.mapper.to_domain_event(StoredEvent(stored_event.originator_id, stored_event.originator_version,
                                                      stored_event.topic, json.dumps(state).encode()))

    old_requested = as_version_1(requested, "relapse detected")
    old_declined = as_version_1(declined, "no bed available")
    assert (old_requested.reason, old_requested.note, old_requested.to_station_id) == ("relapse_detected", None, None)
    assert (old_declined.reason, old_declined.note) == ("other", "no bed available")
    [public] = to_public(old_declined)
    assert public.reason == "other"


def test_the_waitlist_shows_days_waited_and_who_needs_reverification_after_90_days(app, http, kafka, clock):
    station(http, capacity=1)
    kafka.join()
    early = kafka.join()
    clock.advance(days=60)
    late = kafka.join()
    clock.advance(days=31)
    app.run_deadlines()
    answer = http.get("/v1/waitlist", params={"district": D}).json()
    assert [(w["client_id"], w["days_waited"], w["position"]) for w in answer["waiting"]] == [(str(late), 31, 1)]
    assert [(w["client_id"], w["days_waited"], w["waited_since"]) for w in answer["needs_reverification"]] == [
        (str(early), 91, TODAY.isoformat())]
