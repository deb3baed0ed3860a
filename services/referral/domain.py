"""referral's aggregates (pure: no I/O):

- `Referral`: one referral and its closed-loop state machine. Every referral ends
  accepted -> completed, declined or cancelled; none is left open silently (due_by is the
  deadline for an answer; medical referrals are the green channel, due within a day).
- `ClientReferrals`: one client as referral knows them: their referrals (and which
  foreign events opened one), and from intake and assessment their district and street,
  consent, latest classification and exit.
- `Station`: a rehabilitation station as registered.
- `DistrictPlacement`: who has a place at which station of a district, and who waits.

Reasons are codes (public events carry them); free text goes in `note`, which stays
in referral's own store."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, Iterable
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, Snapshot, event

from shared.errors import Conflict, InvalidInput

KINDS = ("medical", "community", "professional", "employment")
ANSWER_WITHIN = {
    "medical": timedelta(days=1),
    "community": timedelta(days=5),
    "professional": timedelta(days=5),
    "employment": timedelta(days=10),
}
REQUEST_REASONS = ("relapse_detected", "hospital_discharge", "station_full", "poor_fit", "employment_ready", "other")
# Which request reasons make sense for which kind ("other" always, with a note).
REASONS_FOR_KIND = {
    "medical": ("relapse_detected", "other"),
    "community": ("hospital_discharge", "other"),
    "professional": ("station_full", "poor_fit", "other"),
    "employment": ("employment_ready", "other"),
}
DECLINE_REASONS = ("no_capacity", "not_suitable", "client_refused", "unreachable", "other")
CANCEL_REASONS = ("client_withdrew", "duplicate", "entered_in_error", "other")
NOTE_MAX = 500
# state -> {command: next state}
TRANSITIONS = {
    "requested": {"accept": "accepted", "decline": "declined", "cancel": "cancelled"},
    "accepted": {"complete": "completed", "cancel": "cancelled"},
    "completed": {},
    "declined": {},
    "cancelled": {},
}

TIERS = ("ningkang_home", "provincial_demo", "ningkang_post")
SERVICES = (
    "medication_training", "relapse_prevention", "physical_health", "daily_living_skills", "social_skills",
    "vocational_rehabilitation", "psychological_rehabilitation", "peer_support", "family_support",
    "case_service", "group_service", "community_service", "home_service",
)
# Waiting longer than this requires re-verification before re-referral (DESIGN.md §4).
WAITLIST_LIMIT = timedelta(days=90)
DISTRICT_CODE = re.compile(r"^[0-9]{6}$")
STREET_CODE = re.compile(r"^[0-9]{9}$")


def _note(note: str | None) -> str | None:
    """Blank notes are no note; a note is bounded so it stays a note."""
    if note is None or not note.strip():
        return None
    if len(note) > NOTE_MAX:
        raise InvalidInput("note", f"at most {NOTE_MAX} characters")
    return note.strip()


def _one_of(field: str, value: Any, allowed: Iterable[str], what: str = "") -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise InvalidInput(field, f"{what or 'must be one of'} {', '.join(allowed)}")


class Referral(Aggregate):
    class Requested(Aggregate.Created):
        """v2: `reason` is a code; v1's free-text reason became the internal `note`."""

        class_version = 2
        client_id: UUID
        kind: str
        reason: str
        requested_at: datetime
        due_by: datetime
        cause_event_id: str | None
        note: str | None
        to_station_id: UUID | None
        consented: bool
        wants_work: bool

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            text = state["reason"]
            state["reason"] = "relapse_detected" if text == "relapse detected" else "other"
            state["note"] = None if text == "relapse detected" else text
            state.update(to_station_id=None, consented=False, wants_work=False)

    @event(Requested)
    def __init__(self, client_id: UUID, kind: str, reason: str, requested_at: datetime, due_by: datetime,
                 cause_event_id: str | None, note: str | None, to_station_id: UUID | None, consented: bool,
                 wants_work: bool):
        self.client_id = client_id
        self.kind = kind
        self.reason = reason
        # Free text, under one name that the audit CLI redacts (shared.audit.REDACTED).
        self.notes: dict[str, str | None] = {"request": note, "outcome": None}
        self.requested_at = requested_at
        self.due_by = due_by
        self.cause_event_id = cause_event_id
        self.to_station_id = to_station_id
        self.consented = consented
        self.wants_work = wants_work
        self.status = "requested"
        self.outcome_reason: str | None = None
        self.overdue = False

    @property
    def note(self) -> str | None:
        return self.notes["request"]

    @property
    def outcome_note(self) -> str | None:
        return self.notes["outcome"]

    @classmethod
    def request(cls, *, client_id: UUID, kind: str, reason: str, now: datetime, note: str | None = None,
                to_station_id: UUID | None = None, consented: bool = False, wants_work: bool = False,
                cause_event_id: str | None = None) -> "Referral":
        _one_of("kind", kind, KINDS)
        _one_of("reason", reason, REASONS_FOR_KIND[kind], f"a {kind} referral's reason is one of")
        if kind == "community" and not consented:
            # Hospital discharge -> community platform only with the client's or guardian's consent.
            raise InvalidInput("consent", "a community referral needs the consent of the client or guardian")
        if kind == "employment" and not wants_work:
            raise InvalidInput("wants_work", "an employment referral needs the client's wish to work")
        if kind == "professional" and to_station_id is None:
            raise InvalidInput("to_station_id", "a professional referral names the station to transfer to")
        if kind != "professional" and to_station_id is not None:
            raise InvalidInput("to_station_id", "only a professional referral names a station")
        return cls(client_id, kind, reason, now, now + ANSWER_WITHIN[kind], cause_event_id, _note(note),
                   to_station_id, consented, wants_work)

    def _move(self, command: str) -> str:
        allowed = TRANSITIONS[self.status]
        if command not in allowed:
            raise Conflict(f"cannot {command} a referral that is {self.status}")
        return allowed[command]

    def accept(self, *, at: datetime) -> None:
        self._moved(status=self._move("accept"), at=at, reason=None, note=None, client_id=self.client_id,
                    kind=self.kind)

    def decline(self, *, reason: str, at: datetime, note: str | None = None) -> None:
        _one_of("reason", reason, DECLINE_REASONS, "a declined referral needs a reason:")
        note = _note(note)
        self._moved(status=self._move("decline"), at=at, reason=reason, note=note, client_id=self.client_id,
                    kind=self.kind)

    def complete(self, *, at: datetime) -> None:
        self._moved(status=self._move("complete"), at=at, reason=None, note=None, client_id=self.client_id,
                    kind=self.kind)

    def cancel(self, *, reason: str | None, at: datetime, note: str | None = None) -> None:
        reason = reason or None  # a reason is optional when cancelling
        if reason is not None:
            _one_of("reason", reason, CANCEL_REASONS)
        note = _note(note)
        self._moved(status=self._move("cancel"), at=at, reason=reason, note=note, client_id=self.client_id,
                    kind=self.kind)

    class StatusChanged(Aggregate.Event):
        """v2: `reason` is a code; v1's free text became the internal `note`."""

        class_version = 2
        status: str
        at: datetime
        reason: str | None
        note: str | None
        client_id: UUID
        kind: str

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            text = state.get("reason")
            state["reason"] = "other" if text else None
            state["note"] = text or None

    # client_id and kind repeat on each status event so it can be published on its own.
    @event(StatusChanged)
    def _moved(self, status: str, at: datetime, reason: str | None, note: str | None, client_id: UUID,
               kind: str) -> None:
        self.status = status
        self.outcome_reason = reason
        self.notes = {**self.notes, "outcome": note}

    def mark_overdue(self, *, now: datetime) -> bool:
        """Raise the alarm once if still unanswered at its deadline. False if nothing to do
        (answered, already flagged, or not due yet), so a repeated tick is harmless."""
        if self.status != "requested" or self.overdue or now < self.due_by:
            return False
        self._overdue(at=now, client_id=self.client_id, kind=self.kind, due_by=self.due_by)
        return True

    @event("Overdue")
    def _overdue(self, at: datetime, client_id: UUID, kind: str, due_by: datetime) -> None:
        self.overdue = True


class ClientReferrals(Aggregate):
    """One client as referral knows them, fetched by a deterministic id derived from the
    client id: their referrals (and which foreign events already opened one), and what
    intake and assessment published about them that referral needs (district and street,
    consent scope, latest classification, exit)."""

    @staticmethod
    def id_for(client_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"jingkang:referral:client:{client_id}")

    @staticmethod
    def create_id(client_id: UUID) -> UUID:
        return ClientReferrals.id_for(client_id)

    @event("Started")
    def __init__(self, client_id: UUID):
        self.client_id = client_id
        self.referral_ids: list[UUID] = []
        self.causes: list[str] = []
        self.district_code: str | None = None
        self.street_code: str | None = None
        self.consent: dict[str, bool] = {}
        self.service_category: str | None = None
        self.medical_referral_needed = False
        self.exited_on: date | None = None

    @event("ReferralAdded")
    def add(self, referral_id: UUID, cause_event_id: str | None) -> None:
        self.referral_ids.append(referral_id)
        if cause_event_id:
            self.causes.append(cause_event_id)

    def register(self, *, district_code: str, street_code: str, registered_on: date, consent: dict[str, bool]) -> bool:
        """From intake's ClientRegistered. False if already known (a republished copy)."""
        if self.district_code is not None:
            return False
        self._registered(district_code=district_code, street_code=street_code, registered_on=registered_on,
                         consent=dict(consent))
        return True

    @event("Registered")
    def _registered(self, district_code: str, street_code: str, registered_on: date, consent: dict) -> None:
        self.district_code, self.street_code, self.consent = district_code, street_code, consent

    def classify(self, *, service_category: str, medical_referral_needed: bool) -> bool:
        """From assessment's ClientClassified. False if it changes nothing."""
        if (self.service_category, self.medical_referral_needed) == (service_category, medical_referral_needed):
            return False
        self._classified(service_category=service_category, medical_referral_needed=medical_referral_needed)
        return True

    @event("Classified")
    def _classified(self, service_category: str, medical_referral_needed: bool) -> None:
        self.service_category, self.medical_referral_needed = service_category, medical_referral_needed

    def change_consent(self, consent: dict[str, bool]) -> bool:
        if self.consent == consent:
            return False
        self._consent_changed(consent=dict(consent))
        return True

    @event("ConsentChanged")
    def _consent_changed(self, consent: dict) -> None:
        self.consent = consent

    def exit(self, *, exited_on: date, reason: str) -> bool:
        if self.exited_on is not None:
            return False
        self._exited(exited_on=exited_on, reason=reason)
        return True

    @event("Exited")
    def _exited(self, exited_on: date, reason: str) -> None:
        self.exited_on = exited_on

    @property
    def ready_for_placement(self) -> bool:
        """Placement is for community rehabilitation: registered with consent to
        rehabilitation services, classified community_rehab, still in the programme."""
        return (self.district_code is not None and self.service_category == "community_rehab"
                and bool(self.consent.get("rehabilitation_services")) and self.exited_on is None)

    def check_may_be_referred(self, kind: str) -> None:
        # The green channel is never refused: a relapse goes to hospital whatever the paperwork.
        if kind != "medical" and self.exited_on is not None:
            raise Conflict(f"the client exited the programme on {self.exited_on.isoformat()}")

    def check_ready_for_employment(self) -> None:
        """Employment services only when the latest assessment says ready and the client
        agreed to share with disability and employment services."""
        if self.service_category != "community_rehab" or self.medical_referral_needed:
            raise Conflict("the latest assessment does not say the client is ready for employment "
                           "(stable or basically stable, risk 0-2, no medical referral needed)")
        if not self.consent.get("share_with_disability_and_employment"):
            raise Conflict("the client has not consented to sharing with disability and employment services")


class Station(Aggregate):
    """A rehabilitation station as registered: who runs it, its tier, where it is, the
    streets it serves and the services it offers. Its capacity and occupancy are kept by
    its district's DistrictPlacement, the one place that decides who gets a place."""

    @event("Registered")
    def __init__(self, name: str, operator: str, tier: str, district_code: str, streets: list[str], capacity: int,
                 services: list[str]):
        self.name = name
        self.operator = operator
        self.tier = tier
        self.district_code = district_code
        self.streets = streets
        self.capacity = capacity  # at registration; the district's placement has the current one
        self.services = services

    @classmethod
    def register(cls, *, name: str, operator: str, tier: str, district_code: str, streets: list[str], capacity: int,
                 services: list[str]) -> "Station":
        for field, value in (("name", name), ("operator", operator)):
            if not value or not value.strip() or len(value) > 100:
                raise InvalidInput(field, "1 to 100 characters, not blank")
        _one_of("tier", tier, TIERS)
        if not DISTRICT_CODE.match(district_code or ""):
            raise InvalidInput("district_code", "a 6-digit county-level code")
        if not streets:
            raise InvalidInput("streets", "a station serves at least one street")
        for street in streets:
            if not STREET_CODE.match(street or ""):
                raise InvalidInput("streets", f"{street!r} is not a 9-digit street code")
            if not street.startswith(district_code):
                raise InvalidInput("streets", f"street {street} is not in district {district_code}")
        if len(set(streets)) != len(streets):
            raise InvalidInput("streets", "each street once")
        if not isinstance(capacity, int) or capacity < 1:
            raise InvalidInput("capacity", "at least 1 place")
        if not services:
            raise InvalidInput("services", "at least one service offered")
        for service in services:
            _one_of("services", service, SERVICES)
        if len(set(services)) != len(services):
            raise InvalidInput("services", "each service once")
        return cls(name.strip(), operator.strip(), tier, district_code, list(streets), capacity, list(services))


class PlacementSnapshot(Snapshot):
    """A district's placement as JSON can hold it: its maps keyed by ids become lists of
    [id, value] pairs and its tuples lists; reading the snapshot turns them back."""

    KEYED = ("capacity", "streets", "placed", "lapsed", "away")
    TUPLES = ("placed", "lapsed")  # values that are tuples (the waitlist's entries are too)

    @classmethod
    def take(cls, aggregate: Any) -> "PlacementSnapshot":
        taken = super().take(aggregate)
        state = dict(taken.state)
        for name in cls.KEYED:
            state[name] = [[key, value] for key, value in state[name].items()]
        return cls(originator_id=taken.originator_id, originator_version=taken.originator_version,
                   timestamp=taken.timestamp, topic=taken.topic, state=state)

    def mutate(self, _: None) -> Any:
        aggregate = super().mutate(_)
        state = vars(aggregate)
        for name in self.KEYED:
            state[name] = {key: tuple(value) if name in self.TUPLES else value for key, value in state[name]}
        state["waitlist"] = [tuple(entry) for entry in state["waitlist"]]
        return aggregate


class DistrictPlacement(Aggregate):
    """Who has a place at which station of one district, and who waits for one, in
    arrival order. One aggregate per district, so that "placed or waiting, never both",
    "never more clients than places" and the order of the waitlist are decided in one
    place: two commands changing a district at once conflict on its version, and the
    loser is retried (consumer) or answered 409 (API).

    A client away in hospital on an accepted medical referral keeps their place (it
    still counts as occupied) and gets it back when the referral completes."""

    Snapshot = PlacementSnapshot  # its maps are keyed by ids: JSON keys are text

    @staticmethod
    def id_for(district_code: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"jingkang:referral:district:{district_code}")

    @staticmethod
    def create_id(district_code: str) -> UUID:
        return DistrictPlacement.id_for(district_code)

    @event("Started")
    def __init__(self, district_code: str):
        self.district_code = district_code
        self.capacity: dict[UUID, int] = {}  # station -> places, in registration order
        self.streets: dict[UUID, list[str]] = {}  # station -> streets served
        self.placed: dict[UUID, tuple[UUID, str, date]] = {}  # client -> (station, street, placed on)
        self.waitlist: list[tuple[UUID, str, date]] = []  # (client, street, waiting since), first in line first
        self.lapsed: dict[UUID, tuple[str, date]] = {}  # client -> (street, waited since): needs re-verification
        self.away: dict[UUID, UUID] = {}  # client -> accepted medical referral

    # -- queries --------------------------------------------------------------------

    def occupancy(self, station_id: UUID) -> int:
        return sum(1 for station, _, _ in self.placed.values() if station == station_id)

    def free_places(self, station_id: UUID) -> int:
        return self.capacity[station_id] - self.occupancy(station_id)

    def waiting_entry(self, client_id: UUID) -> tuple[int, str, date] | None:
        """(position from 1, street, waiting since) if the client is on the waitlist."""
        for i, (client, street, since) in enumerate(self.waitlist):
            if client == client_id:
                return i + 1, street, since
        return None

    def status_of(self, client_id: UUID) -> str | None:
        if client_id in self.placed:
            return "placed"
        if self.waiting_entry(client_id):
            return "waitlisted"
        if client_id in self.lapsed:
            return "needs_reverification"
        return None

    # -- stations -------------------------------------------------------------------

    def open_station(self, *, station_id: UUID, streets: list[str], capacity: int, on: date) -> None:
        self._station_opened(station_id=station_id, streets=list(streets), capacity=capacity)
        self._fill(station_id, on)  # new places go to those already waiting

    @event("StationOpened")
    def _station_opened(self, station_id: UUID, streets: list[str], capacity: int) -> None:
        self.capacity[station_id] = capacity
        self.streets[station_id] = streets

    def change_capacity(self, *, station_id: UUID, capacity: int, on: date) -> bool:
        """False if the capacity is already that (nothing to record)."""
        if capacity < 0:
            raise InvalidInput("capacity", "cannot be negative")
        occupied = self.occupancy(station_id)
        if capacity < occupied:
            raise Conflict(f"{occupied} clients have a place at this station: capacity cannot go below that")
        if capacity == self.capacity[station_id]:
            return False
        self._capacity_changed(station_id=station_id, capacity=capacity, district_code=self.district_code)
        self._fill(station_id, on)
        return True

    @event("CapacityChanged")
    def _capacity_changed(self, station_id: UUID, capacity: int, district_code: str) -> None:
        self.capacity[station_id] = capacity

    # -- clients --------------------------------------------------------------------

    def admit(self, *, client_id: UUID, street_code: str, on: date) -> bool:
        """Place the client at a station serving their street with a free place (the one
        with most free places; the earliest registered on a tie), else put them at the
        end of the waitlist. False if the client is already placed, waiting or waiting
        for re-verification (a repeated event changes nothing)."""
        if self.status_of(client_id) is not None:
            return False
        candidates = [s for s in self.capacity if street_code in self.streets[s] and self.free_places(s) > 0]
        if candidates:
            station = sorted(candidates, key=lambda s: -self.free_places(s))[0]  # stable: registration order
            self._placed(client_id=client_id, station_id=station, street_code=street_code, placed_on=on,
                         via="admission", district_code=self.district_code)
        else:
            self._waitlisted(client_id=client_id, street_code=street_code, waiting_since=on,
                             district_code=self.district_code)
        return True

    @event("Placed")
    def _placed(self, client_id: UUID, station_id: UUID, street_code: str, placed_on: date, via: str,
                district_code: str) -> None:
        self.waitlist = [w for w in self.waitlist if w[0] != client_id]
        self.placed[client_id] = (station_id, street_code, placed_on)

    @event("Waitlisted")
    def _waitlisted(self, client_id: UUID, street_code: str, waiting_since: date, district_code: str) -> None:
        self.waitlist.append((client_id, street_code, waiting_since))

    def _fill(self, station_id: UUID, on: date) -> None:
        """A free place goes to the first in line whose street the station serves."""
        while self.free_places(station_id) > 0:
            first = next((w for w in self.waitlist if w[1] in self.streets[station_id]), None)
            if first is None:
                return
            self._placed(client_id=first[0], station_id=station_id, street_code=first[1], placed_on=on,
                         via="waitlist", district_code=self.district_code)

    def release(self, *, client_id: UUID, on: date, why: str) -> bool:
        """The client left (exit): their place goes to the next in line. False if unknown."""
        station = self.placed.get(client_id, (None,))[0]
        if self.status_of(client_id) is None and client_id not in self.away:
            return False
        self._left(client_id=client_id, station_id=station, why=why)
        if station is not None:
            self._fill(station, on)
        return True

    @event("Left")
    def _left(self, client_id: UUID, station_id: UUID | None, why: str) -> None:
        self.placed.pop(client_id, None)
        self.waitlist = [w for w in self.waitlist if w[0] != client_id]
        self.lapsed.pop(client_id, None)
        self.away.pop(client_id, None)

    def check_may_be_referred(self, client_id: UUID, kind: str) -> None:
        if kind != "medical" and client_id in self.lapsed:
            raise Conflict("the client waited more than 90 days for a place: record their re-verification "
                           "(POST /v1/clients/{id}/reverification) before referring them again")

    def check_transfer(self, *, client_id: UUID, station_id: UUID) -> None:
        if station_id not in self.capacity:
            raise InvalidInput("to_station_id", f"not a station of district {self.district_code}, the client's")
        status = self.status_of(client_id)
        if status not in ("placed", "waitlisted"):
            raise Conflict("the client has no place or waitlist entry to transfer")
        if status == "placed" and self.placed[client_id][0] == station_id:
            raise Conflict("the client already has a place at that station")

    def transfer(self, *, client_id: UUID, station_id: UUID, on: date, referral_id: UUID) -> None:
        """A professional referral accepted: the client's place (or waitlist entry) moves
        to the receiving station; a place left behind goes to the next in line."""
        self.check_transfer(client_id=client_id, station_id=station_id)
        if self.free_places(station_id) <= 0:
            raise Conflict("the receiving station has no free place")
        street = self.placed[client_id][1] if client_id in self.placed else self.waiting_entry(client_id)[1]
        left = self.placed[client_id][0] if client_id in self.placed else None
        self._transferred(client_id=client_id, station_id=station_id, from_station_id=left, street_code=street,
                          placed_on=on, referral_id=referral_id, district_code=self.district_code)
        if left is not None:
            self._fill(left, on)

    @event("Transferred")
    def _transferred(self, client_id: UUID, station_id: UUID, from_station_id: UUID | None, street_code: str,
                     placed_on: date, referral_id: UUID, district_code: str) -> None:
        self.waitlist = [w for w in self.waitlist if w[0] != client_id]
        self.placed[client_id] = (station_id, street_code, placed_on)

    def lapse_if_waited_too_long(self, *, client_id: UUID, today: date) -> bool:
        """More than 90 days on the waitlist: off the list, re-verification required.
        False if the client is not waiting (placed meanwhile, left) or not long enough."""
        entry = self.waiting_entry(client_id)
        if entry is None or today - entry[2] <= WAITLIST_LIMIT:
            return False
        self._lapsed(client_id=client_id, street_code=entry[1], waiting_since=entry[2],
                     district_code=self.district_code)
        return True

    @event("Lapsed")
    def _lapsed(self, client_id: UUID, street_code: str, waiting_since: date, district_code: str) -> None:
        self.waitlist = [w for w in self.waitlist if w[0] != client_id]
        self.lapsed[client_id] = (street_code, waiting_since)

    def reverify(self, *, client_id: UUID, on: date) -> None:
        """Re-verification recorded: the client is placed if a place is free, else waits
        again from today (a new 90 days)."""
        if client_id not in self.lapsed:
            raise Conflict("the client does not need re-verification")
        street = self.lapsed[client_id][0]
        self._reverified(client_id=client_id, reverified_on=on)
        self.admit(client_id=client_id, street_code=street, on=on)

    @event("Reverified")
    def _reverified(self, client_id: UUID, reverified_on: date) -> None:
        self.lapsed.pop(client_id, None)

    def leave_for_hospital(self, *, client_id: UUID, referral_id: UUID) -> bool:
        """A medical referral accepted: the client's place (or waitlist entry) is held."""
        if self.status_of(client_id) not in ("placed", "waitlisted"):
            return False
        self._left_for_hospital(client_id=client_id, referral_id=referral_id)
        return True

    @event("LeftForHospital")
    def _left_for_hospital(self, client_id: UUID, referral_id: UUID) -> None:
        self.away[client_id] = referral_id

    def return_from_hospital(self, *, client_id: UUID, referral_id: UUID, on: date) -> bool:
        """The medical referral ended: back to the held place, or still on the waitlist
        where they kept their turn. False if this referral did not take them away."""
        if self.away.get(client_id) != referral_id:
            return False
        station = self.placed[client_id][0] if client_id in self.placed else None
        self._returned(client_id=client_id, referral_id=referral_id, station_id=station, returned_on=on,
                       district_code=self.district_code)
        return True

    @event("Returned")
    def _returned(self, client_id: UUID, referral_id: UUID, station_id: UUID | None, returned_on: date,
                  district_code: str) -> None:
        self.away.pop(client_id, None)


class OpenReferrals(Aggregate):
    """The referrals of one district still waiting for an answer or under way (requested or
    accepted), for the working lists of hospitals and districts: one aggregate per district (of
    the client when the referral was requested), saved with each referral it follows."""

    @staticmethod
    def id_for(district_code: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"jingkang:referral:open:{district_code}")

    @staticmethod
    def create_id(district_code: str) -> UUID:
        return OpenReferrals.id_for(district_code)

    @event("Started")
    def __init__(self, district_code: str):
        self.district_code = district_code
        self.referral_ids: list[UUID] = []  # oldest first

    @event("Opened")
    def open(self, referral_id: UUID) -> None:
        self.referral_ids.append(referral_id)

    def close(self, referral_id: UUID) -> bool:
        if referral_id not in self.referral_ids:
            return False
        self._closed(referral_id=referral_id)
        return True

    @event("Closed")
    def _closed(self, referral_id: UUID) -> None:
        self.referral_ids.remove(referral_id)
