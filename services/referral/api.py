"""referral's HTTP API (FastAPI): referrals, stations, placement. Who may call each route
is the ACCESS table below (shared/auth.py enforces it, deny by default); every route also
checks the district of the client, station or waitlist it concerns."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.referral.application import PlacementView, Referrals, StationView, create_application
from services.referral.domain import (
    CANCEL_REASONS, DECLINE_REASONS, KINDS, NOTE_MAX, REQUEST_REASONS, SERVICES, TIERS, Referral,
)
from services.referral.contracts import to_public
from shared.audit import install_audit
from shared.api import broker_reachable, create_service_api
from shared.outbox import relay_check
from shared.auth import authority_for, check_district, principal_of
from shared.errors import InvalidInput
from shared.settings import ServiceSettings

# Who may call each route (roles of shared/auth.py). Stations and their capacity are the
# district's decisions; referrals are opened and answered by the stations, the hospitals and
# the district; station lists are not about clients, so funding and integrations may read
# them; who waits (client ids, streets) is for those who place clients and for audit.
ACCESS: dict[str, tuple[str, ...]] = {
    "POST /v1/stations": ("district_admin",),
    "POST /v1/stations/{station_id}/capacity": ("district_admin",),
    "GET /v1/stations": ("station_worker", "district_admin", "hospital", "funding_officer", "auditor", "integration"),
    "GET /v1/stations/{station_id}": ("station_worker", "district_admin", "hospital", "funding_officer", "auditor",
                                      "integration"),
    "GET /v1/waitlist": ("station_worker", "district_admin", "auditor"),
    "POST /v1/referrals": ("station_worker", "hospital", "district_admin"),
    "GET /v1/referrals": ("station_worker", "district_admin", "hospital", "auditor"),
    "GET /v1/referrals/{referral_id}": ("station_worker", "district_admin", "hospital", "auditor"),
    "POST /v1/referrals/{referral_id}/accept": ("station_worker", "hospital", "district_admin"),
    "POST /v1/referrals/{referral_id}/decline": ("station_worker", "hospital", "district_admin"),
    "POST /v1/referrals/{referral_id}/complete": ("station_worker", "hospital", "district_admin"),
    "POST /v1/referrals/{referral_id}/cancel": ("station_worker", "hospital", "district_admin"),
    "GET /v1/clients/{client_id}/placement": ("station_worker", "district_admin", "hospital", "auditor"),
    "POST /v1/clients/{client_id}/reverification": ("station_worker", "district_admin"),
}
# A hospital is party to medical referrals (relapse -> hospital) and community referrals
# (discharge -> community) only: it neither sees nor acts on transfers between stations or
# employment referrals.
HOSPITAL_KINDS = ("medical", "community")

Kind = Literal[KINDS]  # type: ignore[valid-type]
RequestReason = Literal[REQUEST_REASONS]  # type: ignore[valid-type]
DeclineReason = Literal[DECLINE_REASONS]  # type: ignore[valid-type]
CancelReason = Literal[CANCEL_REASONS]  # type: ignore[valid-type]
Tier = Literal[TIERS]  # type: ignore[valid-type]
Service = Literal[SERVICES]  # type: ignore[valid-type]
MAX_STREETS = 200  # a county-level district has a few dozen streets and townships
Note = Annotated[str | None, Field(max_length=NOTE_MAX, description="free text; kept inside referral, never published")]


class ReferralIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: UUID
    kind: Kind
    reason: RequestReason
    note: Note = None
    to_station_id: UUID | None = Field(default=None, description="professional: the station to transfer to")
    consent: bool = Field(default=False, description="community: the client or guardian consented to the referral")
    wants_work: bool = Field(default=False, description="employment: the client wants to work")


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: DeclineReason
    note: Note = None


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: CancelReason | None = None
    note: Note = None


class ReferralOut(BaseModel):
    referral_id: UUID
    client_id: UUID
    kind: str
    status: Literal["requested", "accepted", "completed", "declined", "cancelled"]
    reason: str
    note: str | None
    to_station_id: UUID | None
    requested_at: datetime
    due_by: datetime
    overdue: bool
    outcome_reason: str | None
    outcome_note: str | None

    @classmethod
    def of(cls, r: Referral) -> "ReferralOut":
        return cls(referral_id=r.id, client_id=r.client_id, kind=r.kind, status=r.status, reason=r.reason,
                   note=r.note, to_station_id=r.to_station_id, requested_at=r.requested_at, due_by=r.due_by,
                   overdue=r.overdue, outcome_reason=r.outcome_reason, outcome_note=r.outcome_note)


class ReferralList(BaseModel):
    referrals: list[ReferralOut]


class StationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    operator: str = Field(min_length=1, max_length=100)
    tier: Tier
    district_code: str = Field(pattern=r"^[0-9]{6}$")
    streets: list[Annotated[str, Field(pattern=r"^[0-9]{9}$")]] = Field(
        min_length=1, max_length=MAX_STREETS, description="9-digit street codes of the district the station serves")
    capacity: int = Field(ge=1, le=10000)
    services: list[Service] = Field(min_length=1, max_length=len(SERVICES))


class CapacityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capacity: int = Field(ge=0, le=10000)


class StationOut(BaseModel):
    station_id: UUID
    name: str
    operator: str
    tier: str
    district_code: str
    streets: list[str]
    services: list[str]
    capacity: int
    occupancy: int
    free_places: int

    @classmethod
    def of(cls, v: StationView) -> "StationOut":
        s = v.station
        return cls(station_id=s.id, name=s.name, operator=s.operator, tier=s.tier, district_code=s.district_code,
                   streets=s.streets, services=s.services, capacity=v.capacity, occupancy=v.occupancy,
                   free_places=v.capacity - v.occupancy)


class StationList(BaseModel):
    stations: list[StationOut]


class PlacementOut(BaseModel):
    client_id: UUID
    district_code: str | None
    status: Literal["placed", "waitlisted", "needs_reverification", "not_placed", "exited"]
    station_id: UUID | None
    since: date | None = Field(description="placed on, waiting since, or waited since (needs_reverification)")
    waitlist_position: int | None
    in_hospital: bool = Field(description="on an accepted medical referral: the place is held for the client")

    @classmethod
    def of(cls, v: PlacementView) -> "PlacementOut":
        return cls(**v.__dict__)


class WaitingOut(BaseModel):
    position: int
    client_id: UUID
    street_code: str
    waiting_since: date
    days_waited: int


class LapsedOut(BaseModel):
    client_id: UUID
    street_code: str
    waited_since: date
    days_waited: int


class WaitlistOut(BaseModel):
    district_code: str
    waiting: list[WaitingOut]
    needs_reverification: list[LapsedOut] = Field(
        description="waited more than the limit (90 days): re-verified before a place is offered")


def create_app(settings: ServiceSettings, referrals: Referrals | None = None) -> FastAPI:
    referrals = referrals or create_application(settings)
    api = create_service_api(
        "Jingkang referral",
        "Closed-loop referrals (medical green channel on relapse, community, professional, employment), "
        "stations, placement and the district waitlists.",
        checks={"event_store": referrals.ping, "kafka": lambda: broker_reachable(settings.kafka_bootstrap),
                "relay": relay_check(referrals)},
        authority=authority_for(settings), access=ACCESS, max_request_bytes=settings.max_request_bytes,
    )
    install_audit(api, settings, referrals, to_public)

    def get_referrals() -> Referrals:
        return referrals

    def client_in_district(request: Request, district_code: str | None) -> None:
        """403 unless the client's district is one of the caller's. Referral learns the
        district from intake's ClientRegistered; until then only a city-wide token may act."""
        check_district(principal_of(request), district_code,
                       unknown="the client's district is not known to referral yet")

    def referral_in_reach(request: Request, referral: Referral) -> Referral:
        if principal_of(request).role == "hospital" and referral.kind not in HOSPITAL_KINDS:
            raise HTTPException(403, f"a hospital may not act on {referral.kind} referrals")
        client_in_district(request, referrals.district_of(referral.client_id))
        return referral

    def station_in_district(request: Request, station_id: UUID) -> StationView:
        view = referrals.get_station(station_id)
        check_district(principal_of(request), view.station.district_code)
        return view

    @api.post("/v1/referrals", status_code=201, response_model=ReferralOut, tags=["referrals"])
    def request_referral(body: ReferralIn, request: Request, referrals: Referrals = Depends(get_referrals)):
        if principal_of(request).role == "hospital" and body.kind not in HOSPITAL_KINDS:
            raise HTTPException(403, f"a hospital may not open {body.kind} referrals")
        client_in_district(request, referrals.district_of(body.client_id))
        referral_id = referrals.request_referral(
            client_id=body.client_id, kind=body.kind, reason=body.reason, note=body.note,
            to_station_id=body.to_station_id, consented=body.consent, wants_work=body.wants_work)
        return ReferralOut.of(referrals.get_referral(referral_id))

    @api.get("/v1/referrals", response_model=ReferralList, tags=["referrals"])
    def list_referrals(request: Request, client_id: UUID | None = None,
                       district: str | None = Query(None, pattern=r"^[0-9]{6}$"),
                       referrals: Referrals = Depends(get_referrals)):
        """With `client_id`: the client's referrals, oldest first. With `district`: the district's
        open referrals (requested or accepted), oldest first — a hospital's incoming list. A
        hospital sees the medical and community ones only."""
        if (client_id is None) == (district is None):
            raise InvalidInput("client_id", "give either client_id or district")
        if district is not None:
            check_district(principal_of(request), district)
            found = referrals.open_referrals_in(district)
        else:
            client_in_district(request, referrals.district_of(client_id))
            found = referrals.referrals_of(client_id)
        hospital = principal_of(request).role == "hospital"
        return ReferralList(referrals=[ReferralOut.of(r) for r in found if not hospital or r.kind in HOSPITAL_KINDS])

    @api.get("/v1/referrals/{referral_id}", response_model=ReferralOut, tags=["referrals"])
    def get_referral(referral_id: UUID, request: Request, referrals: Referrals = Depends(get_referrals)):
        return ReferralOut.of(referral_in_reach(request, referrals.get_referral(referral_id)))

    @api.post("/v1/referrals/{referral_id}/accept", response_model=ReferralOut, tags=["referrals"])
    def accept(referral_id: UUID, request: Request, referrals: Referrals = Depends(get_referrals)):
        """Medical: the client's place is held while in hospital. Professional: the
        client's place moves to the receiving station (409 if it has no free place)."""
        referral_in_reach(request, referrals.get_referral(referral_id))
        return ReferralOut.of(referrals.accept_referral(referral_id))

    @api.post("/v1/referrals/{referral_id}/complete", response_model=ReferralOut, tags=["referrals"])
    def complete(referral_id: UUID, request: Request, referrals: Referrals = Depends(get_referrals)):
        """Medical: the client is back from hospital, at their held place."""
        referral_in_reach(request, referrals.get_referral(referral_id))
        return ReferralOut.of(referrals.complete_referral(referral_id))

    @api.post("/v1/referrals/{referral_id}/decline", response_model=ReferralOut, tags=["referrals"])
    def decline(referral_id: UUID, body: DeclineIn, request: Request, referrals: Referrals = Depends(get_referrals)):
        referral_in_reach(request, referrals.get_referral(referral_id))
        return ReferralOut.of(referrals.decline_referral(referral_id, body.reason, body.note))

    @api.post("/v1/referrals/{referral_id}/cancel", response_model=ReferralOut, tags=["referrals"])
    def cancel(referral_id: UUID, body: CancelIn, request: Request, referrals: Referrals = Depends(get_referrals)):
        referral_in_reach(request, referrals.get_referral(referral_id))
        return ReferralOut.of(referrals.cancel_referral(referral_id, body.reason, body.note))

    @api.post("/v1/stations", status_code=201, response_model=StationOut, tags=["stations"])
    def register_station(body: StationIn, request: Request, referrals: Referrals = Depends(get_referrals)):
        """Its places go at once to clients already waiting for one of its streets."""
        check_district(principal_of(request), body.district_code)
        station_id = referrals.register_station(
            name=body.name, operator=body.operator, tier=body.tier, district_code=body.district_code,
            streets=body.streets, capacity=body.capacity, services=body.services)
        return StationOut.of(referrals.get_station(station_id))

    @api.post("/v1/stations/{station_id}/capacity", response_model=StationOut, tags=["stations"])
    def change_capacity(station_id: UUID, body: CapacityIn, request: Request,
                        referrals: Referrals = Depends(get_referrals)):
        """Never below the clients placed there (409); new places go to the first in line."""
        station_in_district(request, station_id)
        return StationOut.of(referrals.change_capacity(station_id, body.capacity))

    @api.get("/v1/stations", response_model=StationList, tags=["stations"])
    def list_stations(request: Request, district: str = Query(pattern=r"^[0-9]{6}$"),
                      referrals: Referrals = Depends(get_referrals)):
        """A district's stations with capacity and occupancy, in registration order."""
        check_district(principal_of(request), district)
        return StationList(stations=[StationOut.of(v) for v in referrals.stations_in(district)])

    @api.get("/v1/stations/{station_id}", response_model=StationOut, tags=["stations"])
    def get_station(station_id: UUID, request: Request, referrals: Referrals = Depends(get_referrals)):
        return StationOut.of(station_in_district(request, station_id))

    @api.get("/v1/waitlist", response_model=WaitlistOut, tags=["placement"])
    def waitlist(request: Request, district: str = Query(pattern=r"^[0-9]{6}$"),
                 referrals: Referrals = Depends(get_referrals)):
        """A district's waitlist, first in line first, with the days each has waited; and those
        who waited past the limit and need re-verification."""
        check_district(principal_of(request), district)
        today = referrals.clock.today()
        return WaitlistOut(district_code=district, waiting=[
            WaitingOut(position=i + 1, client_id=c, street_code=street, waiting_since=since,
                       days_waited=(today - since).days)
            for i, (c, street, since) in enumerate(referrals.waitlist_of(district))],
            needs_reverification=[LapsedOut(client_id=c, street_code=street, waited_since=since,
                                            days_waited=(today - since).days)
                                  for c, street, since in referrals.lapsed_in(district)])

    @api.get("/v1/clients/{client_id}/placement", response_model=PlacementOut, tags=["placement"])
    def placement(client_id: UUID, request: Request, referrals: Referrals = Depends(get_referrals)):
        view = referrals.placement_of(client_id)
        client_in_district(request, view.district_code)
        return PlacementOut.of(view)

    @api.post("/v1/clients/{client_id}/reverification", response_model=PlacementOut, tags=["placement"])
    def reverify(client_id: UUID, request: Request, referrals: Referrals = Depends(get_referrals)):
        """Records the re-verification required after more than 90 days on the waitlist
        (409 if none is required); the client is placed, or waits again from today."""
        client_in_district(request, referrals.placement_of(client_id).district_code)  # 404 if never heard of
        return PlacementOut.of(referrals.reverify_client(client_id))

    return api
