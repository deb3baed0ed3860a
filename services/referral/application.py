"""The referral Application: referrals and their answers, stations, placement and the
waitlist, and the deadlines on them. Every command is get -> call -> save (one save, so
the aggregates it changed, the agenda and, in a consumer, the Kafka position are stored
together); no HTTP, no Kafka here."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID


from services.referral.domain import WAITLIST_LIMIT, ClientReferrals, DistrictPlacement, OpenReferrals, Referral, Station
from shared.clock import LOCAL, Clock, SystemClock
from shared.deadlines import Deadlines
from shared.errors import Conflict, InvalidInput, NotFound
from shared.settings import ServiceSettings, store_env
from shared.store import ServiceApplication

# Deadline kinds on the agenda (shared.deadlines).
REFERRAL_DUE = "referral_due"  # subject: referral id
WAITLIST_DUE = "waitlist_limit"  # subject: client id
NO_PLACE = "the client has no place or waitlist entry to transfer"


@dataclass(frozen=True)
class StationView:
    station: Station
    capacity: int
    occupancy: int


@dataclass(frozen=True)
class PlacementView:
    client_id: UUID
    district_code: str | None
    status: str  # placed | waitlisted | needs_reverification | not_placed | exited
    station_id: UUID | None = None
    since: date | None = None  # placed on, or waiting since
    waitlist_position: int | None = None
    in_hospital: bool = False  # on an accepted medical referral: the place is held


class Referrals(Deadlines, ServiceApplication):
    name = "referral"
    # A district's open list gains two events per referral, its placement one per client placed,
    # waitlisted or leaving: snapshots keep both cheap to read however big the district.
    snapshotting_intervals = {OpenReferrals: 100, DistrictPlacement: 100}

    # -- referrals -------------------------------------------------------------------

    def request_referral(self, *, client_id: UUID, kind: str, reason: str, note: str | None = None,
                         to_station_id: UUID | None = None, consented: bool = False, wants_work: bool = False,
                         cause_event_id: str | None = None) -> UUID | None:
        """Open a referral (None if this cause already opened one: events can repeat).
        Input is checked first (422), then what the client's situation allows (409)."""
        client = self._client(client_id)
        if cause_event_id and cause_event_id in client.causes:
            return None
        referral = Referral.request(client_id=client_id, kind=kind, reason=reason, now=self.clock.now(), note=note,
                                    to_station_id=to_station_id, consented=consented, wants_work=wants_work,
                                    cause_event_id=cause_event_id)
        if kind == "professional":
            self._check_station_for_transfer(client, to_station_id)
        client.check_may_be_referred(kind)
        district = self._placement_of(client)
        if district is not None:
            district.check_may_be_referred(client_id, kind)
        if kind == "professional":
            if district is None:
                raise Conflict(NO_PLACE)
            district.check_transfer(client_id=client_id, station_id=to_station_id)
        if kind == "employment":
            client.check_ready_for_employment()
        client.add(referral.id, cause_event_id)
        listed = []
        if client.district_code is not None:  # a client not learned yet is on no district's list
            listed = [self._open_in(client.district_code, create=True)]
            listed[0].open(referral.id)
        self.save(referral, client, *listed,
                  self.schedule(REFERRAL_DUE, referral.id, referral.due_by.astimezone(LOCAL).date()))
        return referral.id

    def open_medical_referral(self, *, client_id: UUID, cause_event_id: str) -> UUID | None:
        """Green channel: a detected relapse goes to hospital without waiting for anyone."""
        return self.request_referral(client_id=client_id, kind="medical", reason="relapse_detected",
                                     cause_event_id=cause_event_id)

    def accept_referral(self, referral_id: UUID) -> Referral:
        referral = self.get_referral(referral_id)
        referral.accept(at=self.clock.now())
        district = self._placement_of(self._client(referral.client_id))
        if referral.kind == "professional":
            if district is None:
                raise Conflict(NO_PLACE)
            district.transfer(client_id=referral.client_id, station_id=referral.to_station_id,
                              on=self.clock.today(), referral_id=referral.id)
        elif referral.kind == "medical" and district is not None:
            district.leave_for_hospital(client_id=referral.client_id, referral_id=referral.id)
        self.save(referral, *([district] if district else []))
        return referral

    def decline_referral(self, referral_id: UUID, reason: str, note: str | None = None) -> Referral:
        referral = self.get_referral(referral_id)
        referral.decline(reason=reason, note=note, at=self.clock.now())
        self.save(referral, *self._unlisted(referral))
        return referral

    def complete_referral(self, referral_id: UUID) -> Referral:
        referral = self.get_referral(referral_id)
        referral.complete(at=self.clock.now())
        self.save(referral, *self._back_from_hospital(referral), *self._unlisted(referral))
        return referral

    def cancel_referral(self, referral_id: UUID, reason: str | None, note: str | None = None) -> Referral:
        referral = self.get_referral(referral_id)
        referral.cancel(reason=reason, note=note, at=self.clock.now())
        # An accepted medical referral cancelled: the client did not stay in hospital.
        self.save(referral, *self._back_from_hospital(referral), *self._unlisted(referral))
        return referral

    def open_referrals_in(self, district_code: str) -> list[Referral]:
        """A district's referrals requested or accepted (not yet answered or completed), oldest first."""
        listed = self._open_in(district_code)
        return [] if listed is None else [self.get_referral(r) for r in listed.referral_ids]

    def _open_in(self, district_code: str, create: bool = False) -> OpenReferrals | None:
        listed_id = OpenReferrals.id_for(district_code)
        if listed_id in self.repository:
            return self.repository.get(listed_id)
        return OpenReferrals(district_code) if create else None

    def _unlisted(self, referral: Referral) -> list[Any]:
        """The district list that drops a referral once it is answered for good."""
        if referral.status in ("requested", "accepted"):
            return []
        district = self._client(referral.client_id).district_code
        for code in [district] if district else []:
            listed = self._open_in(code)
            if listed is not None and listed.close(referral.id):
                return [listed]
        return []

    def _back_from_hospital(self, referral: Referral) -> list[Any]:
        if referral.kind != "medical":
            return []
        district = self._placement_of(self._client(referral.client_id))
        if district is None or not district.return_from_hospital(client_id=referral.client_id,
                                                                  referral_id=referral.id, on=self.clock.today()):
            return []
        return [district]

    def get_referral(self, referral_id: UUID) -> Referral:
        return self.get_aggregate(referral_id, Referral, "referral")

    def referrals_of(self, client_id: UUID) -> list[Referral]:
        index_id = ClientReferrals.id_for(client_id)
        if index_id not in self.repository:
            return []
        return [self.get_referral(r) for r in self.repository.get(index_id).referral_ids]

    # -- what other services tell us about a client ----------------------------------

    def register_client(self, *, client_id: UUID, district_code: str, street_code: str, registered_on: date,
                        consent: dict[str, bool]) -> None:
        """From intake's ClientRegistered: learn where the client lives; place them if
        they are already classified for community rehabilitation."""
        client = self._client(client_id)
        if not client.register(district_code=district_code, street_code=street_code, registered_on=registered_on,
                               consent=consent):
            return
        self.save(client, *self._admit_if_ready(client))

    def classify_client(self, *, client_id: UUID, service_category: str, medical_referral_needed: bool) -> None:
        """From assessment's ClientClassified: community_rehab clients get a place or wait
        for one. The two events come on different topics, so either may come first."""
        client = self._client(client_id)
        client.classify(service_category=service_category, medical_referral_needed=medical_referral_needed)
        self.save(client, *self._admit_if_ready(client))

    def change_consent(self, *, client_id: UUID, consent: dict[str, bool]) -> None:
        client = self._client(client_id)
        if client.change_consent(consent):
            self.save(client)

    def client_exited(self, *, client_id: UUID, exited_on: date, reason: str) -> None:
        """From intake's ClientExited: the client's place goes to the first in line."""
        client = self._client(client_id)
        if not client.exit(exited_on=exited_on, reason=reason):
            return
        district = self._placement_of(client)
        if district is not None:
            district.release(client_id=client_id, on=self.clock.today(), why="exited")
        self.save(client, *([district] if district else []))

    def reverify_client(self, client_id: UUID) -> PlacementView:
        """Record the re-verification a client needs after waiting more than 90 days; they
        are placed if a place is free, else wait again from today."""
        client = self._known_client(client_id)
        district = self._placement_of(client)
        if district is None:
            raise Conflict("the client does not need re-verification")
        district.reverify(client_id=client_id, on=self.clock.today())
        self.save(district, *self._schedule_waiting(district, client_id))
        return self.placement_of(client_id)

    def _admit_if_ready(self, client: ClientReferrals) -> list[Any]:
        if not client.ready_for_placement:
            return []
        district = self._district(client.district_code)
        if not district.admit(client_id=client.client_id, street_code=client.street_code, on=self.clock.today()):
            return []
        return [district, *self._schedule_waiting(district, client.client_id)]

    def _schedule_waiting(self, district: DistrictPlacement, client_id: UUID) -> list[Any]:
        entry = district.waiting_entry(client_id)
        if entry is None:
            return []
        # Waiting *more than* 90 days: the alarm is due on day 91.
        return [self.schedule(WAITLIST_DUE, client_id, entry[2] + WAITLIST_LIMIT + timedelta(days=1))]

    # -- stations ----------------------------------------------------------------------

    def register_station(self, *, name: str, operator: str, tier: str, district_code: str, streets: list[str],
                         capacity: int, services: list[str]) -> UUID:
        station = Station.register(name=name, operator=operator, tier=tier, district_code=district_code,
                                   streets=streets, capacity=capacity, services=services)
        district = self._district(district_code)
        district.open_station(station_id=station.id, streets=station.streets, capacity=capacity, on=self.clock.today())
        self.save(station, district)
        return station.id

    def change_capacity(self, station_id: UUID, capacity: int) -> StationView:
        station = self.get_aggregate(station_id, Station, "station")
        district = self._district(station.district_code)
        if district.change_capacity(station_id=station_id, capacity=capacity, on=self.clock.today()):
            self.save(district)
        return self.get_station(station_id)

    def get_station(self, station_id: UUID) -> StationView:
        station = self.get_aggregate(station_id, Station, "station")
        district = self._district(station.district_code)
        return StationView(station, district.capacity[station_id], district.occupancy(station_id))

    def stations_in(self, district_code: str) -> list[StationView]:
        """A district's stations in registration order (empty for a district with none)."""
        if DistrictPlacement.id_for(district_code) not in self.repository:
            return []
        district = self._district(district_code)
        return [StationView(self.get_aggregate(s, Station, "station"), district.capacity[s], district.occupancy(s))
                for s in district.capacity]

    def waitlist_of(self, district_code: str) -> list[tuple[UUID, str, date]]:
        """(client, street, waiting since), first in line first."""
        if DistrictPlacement.id_for(district_code) not in self.repository:
            return []
        return list(self._district(district_code).waitlist)

    def lapsed_in(self, district_code: str) -> list[tuple[UUID, str, date]]:
        """(client, street, waited since) of those who need re-verification, longest waiting first."""
        if DistrictPlacement.id_for(district_code) not in self.repository:
            return []
        lapsed = self._district(district_code).lapsed
        return sorted(((c, street, since) for c, (street, since) in lapsed.items()), key=lambda e: e[2])

    def district_of(self, client_id: UUID) -> str | None:
        """The client's district as referral learned it (ClientRegistered, relocation); None
        for a client it has not learned yet or never heard of."""
        index_id = ClientReferrals.id_for(client_id)
        return self.repository.get(index_id).district_code if index_id in self.repository else None

    def placement_of(self, client_id: UUID) -> PlacementView:
        client = self._known_client(client_id)
        if client.exited_on is not None:
            return PlacementView(client_id, client.district_code, "exited")
        district = self._placement_of(client)
        status = district.status_of(client_id) if district else None
        view = PlacementView(client_id, client.district_code, status or "not_placed",
                             in_hospital=bool(district and client_id in district.away))
        if status == "placed":
            station, _, since = district.placed[client_id]
            return PlacementView(**{**view.__dict__, "station_id": station, "since": since})
        if status == "waitlisted":
            position, _, since = district.waiting_entry(client_id)
            return PlacementView(**{**view.__dict__, "since": since, "waitlist_position": position})
        if status == "needs_reverification":
            return PlacementView(**{**view.__dict__, "since": district.lapsed[client_id][1]})
        return view

    # -- deadlines (the worker's timer) ----------------------------------------------------

    def run_deadlines(self) -> int:
        """Called by the worker on a timer: raise what fell due (ReferralOverdue,
        WaitlistExceeded). Safe to repeat."""
        return self.run_due(self.on_due)

    def on_due(self, kind: str, subject_id: UUID, day: date) -> list[Any]:
        if kind == REFERRAL_DUE:
            referral = self.get_referral(subject_id)
            return [referral] if referral.mark_overdue(now=self.clock.now()) else []
        if kind == WAITLIST_DUE:
            district = self._placement_of(self._client(subject_id))
            if district and district.lapse_if_waited_too_long(client_id=subject_id, today=self.clock.today()):
                return [district]
        return []

    # -- helpers ---------------------------------------------------------------------------

    def _client(self, client_id: UUID) -> ClientReferrals:
        index_id = ClientReferrals.id_for(client_id)
        if index_id in self.repository:
            return self.repository.get(index_id)
        return ClientReferrals(client_id=client_id)

    def _known_client(self, client_id: UUID) -> ClientReferrals:
        index_id = ClientReferrals.id_for(client_id)
        if index_id not in self.repository:
            raise NotFound("client", client_id)
        return self.repository.get(index_id)

    def _district(self, district_code: str) -> DistrictPlacement:
        district_id = DistrictPlacement.id_for(district_code)
        if district_id in self.repository:
            return self.repository.get(district_id)
        return DistrictPlacement(district_code=district_code)

    def _placement_of(self, client: ClientReferrals) -> DistrictPlacement | None:
        """The client's district's placement, if they are registered and it exists."""
        if client.district_code is None or DistrictPlacement.id_for(client.district_code) not in self.repository:
            return None
        return self.repository.get(DistrictPlacement.id_for(client.district_code))

    def _check_station_for_transfer(self, client: ClientReferrals, station_id: UUID) -> None:
        try:
            station = self.get_aggregate(station_id, Station, "station")
        except NotFound:
            raise InvalidInput("to_station_id", "no such station") from None
        if client.district_code is not None and station.district_code != client.district_code:
            raise InvalidInput("to_station_id", f"the station is in district {station.district_code}, "
                                                f"the client in {client.district_code}; transfers stay in a district")


def create_application(settings: ServiceSettings, clock: Clock | None = None) -> Referrals:
    return Referrals(env=store_env(settings), clock=clock or SystemClock(settings.clock_file))
