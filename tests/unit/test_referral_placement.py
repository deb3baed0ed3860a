"""Scenarios for placement in one district (DistrictPlacement) and station registration
(Station): given stations and clients, when a client arrives, a place frees, a capacity
changes, a client transfers, goes to hospital or waits too long, then who is placed
where and who waits in which order (or the domain error, with nothing recorded).
Pure: no store, no I/O, no wall clock."""
from __future__ import annotations

import random
from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest

from services.referral.domain import DistrictPlacement, Station
from shared.errors import Conflict, InvalidInput

D = "110105"
S1, S2, S3 = "110105001", "110105002", "110105003"
DAY = date(2026, 1, 5)


def district(*stations: tuple[list[str], int], keep_events: bool = False) -> tuple[DistrictPlacement, list[UUID]]:
    """A district with stations (streets, capacity), registered in this order."""
    placement = DistrictPlacement(district_code=D)
    ids = []
    for streets, capacity in stations:
        station_id = uuid4()
        placement.open_station(station_id=station_id, streets=streets, capacity=capacity, on=DAY)
        ids.append(station_id)
    if not keep_events:  # only what the scenario's command records matters
        placement.collect_events()
    return placement, ids


def admit(placement: DistrictPlacement, street: str = S1, on: date = DAY) -> UUID:
    client = uuid4()
    assert placement.admit(client_id=client, street_code=street, on=on)
    return client


def station_of(placement: DistrictPlacement, client: UUID) -> UUID | None:
    return placement.placed.get(client, (None,))[0]


def waiting(placement: DistrictPlacement) -> list[UUID]:
    return [w[0] for w in placement.waitlist]


def names(events) -> list[str]:
    return [type(e).__name__ for e in events]


def assert_consistent(placement: DistrictPlacement) -> None:
    """What must always hold: never placed and waiting at once, never more clients than
    places, nobody twice on the waitlist."""
    waiting_ids = waiting(placement)
    assert len(waiting_ids) == len(set(waiting_ids))
    assert not set(waiting_ids) & set(placement.placed)
    assert not set(placement.lapsed) & (set(waiting_ids) | set(placement.placed))
    for station in placement.capacity:
        assert 0 <= placement.occupancy(station) <= placement.capacity[station]


# --- stations -----------------------------------------------------------------------

VALID_STATION = dict(name="朝阳区宁康驿站", operator="朝阳区康复协会", tier="ningkang_post", district_code=D,
                     streets=[S1, S2], capacity=20, services=["social_skills", "peer_support"])


def test_a_station_is_registered_with_its_details():
    station = Station.register(**VALID_STATION)
    assert (station.tier, station.district_code, station.streets, station.capacity) == ("ningkang_post", D, [S1, S2], 20)
    [registered] = station.collect_events()
    assert isinstance(registered, Station.Registered)


@pytest.mark.parametrize("field, value", [
    ("name", "  "), ("operator", ""), ("tier", "county_hub"), ("district_code", "11010"),
    ("streets", []), ("streets", ["11010500"]), ("streets", ["110106001"]), ("streets", [S1, S1]),
    ("capacity", 0), ("services", []), ("services", ["massage"]),
])
def test_a_station_with_bad_details_is_invalid_input_naming_the_field(field, value):
    with pytest.raises(InvalidInput) as refused:
        Station.register(**{**VALID_STATION, field: value})
    assert refused.value.field == field


# --- admission ---------------------------------------------------------------------------

def test_a_client_is_placed_at_a_station_serving_their_street():
    placement, (a, b) = district(([S2], 5), ([S1], 5))
    client = admit(placement, S1)
    assert station_of(placement, client) == b
    [placed] = placement.collect_events()
    assert isinstance(placed, DistrictPlacement.Placed)
    assert (placed.client_id, placed.station_id, placed.placed_on, placed.via, placed.district_code) == (
        client, b, DAY, "admission", D)


def test_the_station_with_most_free_places_is_chosen_and_a_tie_goes_to_the_earliest_registered():
    placement, (a, b) = district(([S1], 2), ([S1], 3))
    first = admit(placement)  # b has more free places
    second = admit(placement)  # 2 and 2: a, registered first
    third = admit(placement)  # a 1, b 2
    assert [station_of(placement, c) for c in (first, second, third)] == [b, a, b]


def test_a_client_whose_stations_are_full_waits_even_if_another_street_has_room():
    placement, (a, b) = district(([S1], 1), ([S2], 5))
    admit(placement, S1)
    late = admit(placement, S1, on=DAY + timedelta(days=1))
    assert station_of(placement, late) is None
    assert waiting(placement) == [late]
    waitlisted = placement.collect_events()[-1]
    assert isinstance(waitlisted, DistrictPlacement.Waitlisted)
    assert (waitlisted.client_id, waitlisted.street_code, waitlisted.waiting_since) == (late, S1, DAY + timedelta(days=1))


def test_a_street_no_station_serves_goes_on_the_waitlist():
    placement, _ = district(([S1], 5))
    client = admit(placement, S3)
    assert placement.status_of(client) == "waitlisted"


def test_a_client_already_placed_or_waiting_is_not_admitted_twice():
    placement, (a,) = district(([S1], 1))
    placed, waits = admit(placement), admit(placement)
    placement.collect_events()
    assert placement.admit(client_id=placed, street_code=S1, on=DAY) is False
    assert placement.admit(client_id=waits, street_code=S1, on=DAY) is False
    assert placement.collect_events() == []
    assert waiting(placement) == [waits]


# --- freed places go to the first in line -------------------------------------------------

def test_the_waitlist_keeps_arrival_order_and_a_freed_place_goes_to_the_first_in_line():
    placement, (a,) = district(([S1], 1))
    holder = admit(placement)
    first, second, third = admit(placement), admit(placement), admit(placement)
    assert waiting(placement) == [first, second, third]
    placement.release(client_id=holder, on=DAY, why="exited")
    assert station_of(placement, first) == a
    assert waiting(placement) == [second, third]
    assert_consistent(placement)


def test_a_freed_place_skips_those_whose_street_the_station_does_not_serve():
    placement, (a, b) = district(([S1], 1), ([S2], 1))
    holder_a, holder_b = admit(placement, S1), admit(placement, S2)
    waits_s1, waits_s2 = admit(placement, S1), admit(placement, S2)
    placement.release(client_id=holder_b, on=DAY, why="exited")
    assert station_of(placement, waits_s2) == b
    assert waiting(placement) == [waits_s1]


def test_a_capacity_increase_places_the_first_in_line_in_order():
    placement, (a,) = district(([S1], 1))
    admit(placement)
    first, second, third = admit(placement), admit(placement), admit(placement)
    placement.collect_events()
    assert placement.change_capacity(station_id=a, capacity=3, on=DAY + timedelta(days=7)) is True
    events = placement.collect_events()
    assert names(events) == ["CapacityChanged", "Placed", "Placed"]
    assert [(e.client_id, e.via, e.placed_on) for e in events[1:]] == [
        (first, "waitlist", DAY + timedelta(days=7)), (second, "waitlist", DAY + timedelta(days=7))]
    assert waiting(placement) == [third]


def test_a_new_station_takes_those_already_waiting_for_its_streets():
    placement, _ = district()
    first, other_street, second = admit(placement, S1), admit(placement, S3), admit(placement, S1)
    new = uuid4()
    placement.open_station(station_id=new, streets=[S1, S2], capacity=5, on=DAY)
    assert [station_of(placement, c) for c in (first, second)] == [new, new]
    assert waiting(placement) == [other_street]


def test_capacity_may_not_go_below_the_clients_placed_and_a_refusal_records_nothing():
    placement, (a,) = district(([S1], 3))
    admit(placement), admit(placement)
    placement.collect_events()
    with pytest.raises(Conflict):
        placement.change_capacity(station_id=a, capacity=1, on=DAY)
    assert placement.capacity[a] == 3 and placement.collect_events() == []
    assert placement.change_capacity(station_id=a, capacity=2, on=DAY) is True  # down to exactly full
    assert placement.change_capacity(station_id=a, capacity=2, on=DAY) is False  # unchanged: nothing to record
    assert names(placement.collect_events()) == ["CapacityChanged"]


def test_an_exit_from_the_waitlist_or_of_an_unknown_client():
    placement, (a,) = district(([S1], 1))
    admit(placement)
    first, second = admit(placement), admit(placement)
    assert placement.release(client_id=first, on=DAY, why="exited") is True
    assert waiting(placement) == [second]
    assert placement.release(client_id=uuid4(), on=DAY, why="exited") is False


# --- professional transfer -----------------------------------------------------------------

def test_a_transfer_moves_the_place_and_the_place_left_goes_to_the_first_in_line():
    placement, (a, b) = district(([S1], 1), ([S2], 1))
    mover = admit(placement, S1)
    waits = admit(placement, S1)
    placement.collect_events()
    referral = uuid4()
    placement.transfer(client_id=mover, station_id=b, on=DAY, referral_id=referral)
    assert (station_of(placement, mover), station_of(placement, waits)) == (b, a)
    transferred, placed = placement.collect_events()
    assert isinstance(transferred, DistrictPlacement.Transferred)
    assert (transferred.from_station_id, transferred.station_id, transferred.referral_id) == (a, b, referral)
    assert (placed.client_id, placed.via) == (waits, "waitlist")


def test_a_waiting_client_can_be_transferred_to_a_station_with_room_that_does_not_serve_their_street():
    placement, (a, b) = district(([S1], 1), ([S2], 2))
    admit(placement, S1)
    waits = admit(placement, S1)
    placement.transfer(client_id=waits, station_id=b, on=DAY, referral_id=uuid4())
    assert station_of(placement, waits) == b and waiting(placement) == []
    assert_consistent(placement)


def test_a_transfer_to_a_full_station_or_the_same_station_is_a_conflict_and_records_nothing():
    placement, (a, b) = district(([S1], 1), ([S2], 1))
    mover, other = admit(placement, S1), admit(placement, S2)
    placement.collect_events()
    with pytest.raises(Conflict):
        placement.transfer(client_id=mover, station_id=b, on=DAY, referral_id=uuid4())
    with pytest.raises(Conflict):
        placement.transfer(client_id=mover, station_id=a, on=DAY, referral_id=uuid4())
    with pytest.raises(Conflict):
        placement.transfer(client_id=uuid4(), station_id=a, on=DAY, referral_id=uuid4())
    with pytest.raises(InvalidInput) as refused:
        placement.transfer(client_id=mover, station_id=uuid4(), on=DAY, referral_id=uuid4())
    assert refused.value.field == "to_station_id"
    assert placement.collect_events() == []
    assert (station_of(placement, mover), station_of(placement, other)) == (a, b)


# --- more than 90 days waiting ----------------------------------------------------------------

@pytest.mark.parametrize("days, lapses", [(89, False), (90, False), (91, True)])
def test_waiting_more_than_90_days_takes_the_client_off_the_list_for_reverification(days, lapses):
    placement, _ = district(([S1], 1))
    admit(placement)
    client = admit(placement)
    placement.collect_events()
    assert placement.lapse_if_waited_too_long(client_id=client, today=DAY + timedelta(days=days)) is lapses
    if lapses:
        [lapsed] = placement.collect_events()
        assert isinstance(lapsed, DistrictPlacement.Lapsed)
        assert (lapsed.client_id, lapsed.waiting_since) == (client, DAY)
        assert placement.status_of(client) == "needs_reverification"
        with pytest.raises(Conflict):
            placement.check_may_be_referred(client, "professional")
        placement.check_may_be_referred(client, "medical")  # the green channel is never refused
        # a repeated tick changes nothing
        assert placement.lapse_if_waited_too_long(client_id=client, today=DAY + timedelta(days=days + 1)) is False
    else:
        assert placement.status_of(client) == "waitlisted"


def test_a_client_placed_before_day_91_does_not_lapse():
    placement, (a,) = district(([S1], 1))
    holder = admit(placement)
    client = admit(placement)
    placement.release(client_id=holder, on=DAY + timedelta(days=30), why="exited")
    assert placement.lapse_if_waited_too_long(client_id=client, today=DAY + timedelta(days=91)) is False
    assert station_of(placement, client) == a


def test_reverification_places_the_client_or_puts_them_at_the_end_of_the_line_from_today():
    placement, (a,) = district(([S1], 1))
    admit(placement)
    client, later = admit(placement), admit(placement, on=DAY + timedelta(days=10))
    placement.lapse_if_waited_too_long(client_id=client, today=DAY + timedelta(days=91))
    placement.collect_events()
    back_on = DAY + timedelta(days=95)
    placement.reverify(client_id=client, on=back_on)
    assert waiting(placement) == [later, client]
    reverified, waitlisted = placement.collect_events()
    assert isinstance(reverified, DistrictPlacement.Reverified)
    assert (waitlisted.client_id, waitlisted.waiting_since) == (client, back_on)
    with pytest.raises(Conflict):
        placement.reverify(client_id=client, on=back_on)  # not needed any more


# --- to hospital and back (two-way) -----------------------------------------------------------

def test_a_client_in_hospital_keeps_their_place_and_comes_back_to_it():
    placement, (a,) = district(([S1], 1))
    client = admit(placement)
    waits = admit(placement)
    referral = uuid4()
    assert placement.leave_for_hospital(client_id=client, referral_id=referral) is True
    # the place is held: still occupied, not given to the first in line, capacity cannot evict
    assert placement.occupancy(a) == 1 and waiting(placement) == [waits]
    with pytest.raises(Conflict):
        placement.change_capacity(station_id=a, capacity=0, on=DAY)
    placement.collect_events()
    assert placement.return_from_hospital(client_id=client, referral_id=uuid4(), on=DAY) is False  # another referral
    assert placement.return_from_hospital(client_id=client, referral_id=referral, on=DAY + timedelta(days=20)) is True
    [returned] = placement.collect_events()
    assert isinstance(returned, DistrictPlacement.Returned)
    assert (returned.station_id, returned.returned_on) == (a, DAY + timedelta(days=20))
    assert client not in placement.away
    assert placement.return_from_hospital(client_id=client, referral_id=referral, on=DAY) is False  # once


def test_a_waiting_client_in_hospital_keeps_their_turn_and_returns_to_the_waitlist():
    placement, (a,) = district(([S1], 1))
    admit(placement)
    client, after = admit(placement), admit(placement)
    referral = uuid4()
    placement.leave_for_hospital(client_id=client, referral_id=referral)
    placement.collect_events()
    placement.return_from_hospital(client_id=client, referral_id=referral, on=DAY)
    [returned] = placement.collect_events()
    assert returned.station_id is None
    assert waiting(placement) == [client, after]


def test_a_client_with_no_place_and_no_turn_does_not_leave_for_hospital():
    placement, _ = district(([S1], 1))
    assert placement.leave_for_hospital(client_id=uuid4(), referral_id=uuid4()) is False
    assert placement.collect_events() == []


# --- the invariants under any sequence of operations ---------------------------------------------

def test_no_sequence_of_operations_breaks_the_invariants():
    rng = random.Random(4)
    placement, stations = district(([S1], 2), ([S1, S2], 1), ([S3], 1), keep_events=True)
    clients: list[UUID] = []
    for step in range(400):
        day = DAY + timedelta(days=step)
        op = rng.choice(["admit", "admit", "exit", "capacity", "transfer", "lapse", "reverify", "hospital", "back"])
        try:
            if op == "admit":
                clients.append(admit(placement, rng.choice([S1, S2, S3]), on=day))
            elif op == "exit" and clients:
                placement.release(client_id=rng.choice(clients), on=day, why="exited")
            elif op == "capacity":
                placement.change_capacity(station_id=rng.choice(stations), capacity=rng.randint(0, 4), on=day)
            elif op == "transfer" and clients:
                placement.transfer(client_id=rng.choice(clients), station_id=rng.choice(stations), on=day,
                                   referral_id=uuid4())
            elif op == "lapse" and placement.waitlist:
                placement.lapse_if_waited_too_long(client_id=placement.waitlist[0][0], today=day)
            elif op == "reverify" and placement.lapsed:
                placement.reverify(client_id=rng.choice([*placement.lapsed, *clients[:1]]), on=day)
            elif op == "hospital" and clients:
                placement.leave_for_hospital(client_id=rng.choice(clients), referral_id=uuid4())
            elif op == "back" and placement.away:
                client, referral = next(iter(placement.away.items()))
                placement.return_from_hospital(client_id=client, referral_id=referral, on=day)
        except (Conflict, InvalidInput):
            pass  # refused: must have changed nothing, which the invariants below also check
        assert_consistent(placement)
    events = placement.collect_events()
    assert {type(e).__name__ for e in events} >= {  # the sequence did exercise every rule
        "Placed", "Waitlisted", "Left", "CapacityChanged", "Transferred", "Lapsed", "Reverified", "LeftForHospital",
        "Returned"}
    # and replaying the recorded events rebuilds the same state
    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert (replayed.placed, replayed.waitlist, replayed.lapsed, replayed.capacity) == (
        placement.placed, placement.waitlist, placement.lapsed, placement.capacity)
