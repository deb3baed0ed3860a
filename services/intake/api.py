"""intake's HTTP API (FastAPI). Request models validate shape; domain rules raise
domain errors that shared.api turns into 422/404/409. Who may call each route is the ACCESS
table below (shared/auth.py enforces it, deny by default): a submission is checked against
the district in its body, every other route against the district of the application or
client it concerns. The token's holder and role are recorded in the events."""
from __future__ import annotations

import logging
from datetime import date
from typing import Literal
from uuid import UUID

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.intake.application import Intake, create_application
from services.intake.domain import ERASURE_REASONS
from services.intake.vault import IdentityErased, IdentityUnreadable
from services.intake.contracts import to_public
from shared.audit import install_audit
from shared.api import broker_reachable, create_service_api
from shared.outbox import relay_check
from shared.auth import authority_for, check_district, principal_of
from shared.settings import ServiceSettings

# Who may call each route (roles of shared/auth.py). Applications are taken, verified,
# consented and registered by the station and district staff who meet the applicant; a
# hospital submits (and follows) only the discharge applications it makes, not the
# community's or families'. A registered client's case is changed by the same staff. The
# identity read is the narrowest: the station worker who serves the client (to reach them
# or their guardian) and the district integration whose lookup DESIGN §3 calls audited —
# not the district admin, not the auditor (who replays the case without identifiers), not
# the hospital (it receives what a medical referral carries). Erasing an identity is a
# decision of the district, not of a single worker. Funding has no part in intake.
STAFF = ("station_worker", "district_admin")
ACCESS: dict[str, tuple[str, ...]] = {
    "POST /v1/applications": ("station_worker", "district_admin", "hospital"),
    "GET /v1/applications/{application_id}": ("station_worker", "district_admin", "hospital", "auditor"),
    "POST /v1/applications/{application_id}/withdrawal": STAFF,
    "POST /v1/applications/{application_id}/identity-rejection": STAFF,
    "POST /v1/applications/{application_id}/consent": STAFF,
    "POST /v1/applications/{application_id}/register": STAFF,
    "GET /v1/clients/{client_id}": ("station_worker", "district_admin", "auditor"),
    "GET /v1/clients/{client_id}/identity": ("station_worker", "integration"),
    "POST /v1/clients/{client_id}/consent/withdrawals": STAFF,
    "POST /v1/clients/{client_id}/relocation": STAFF,
    "POST /v1/clients/{client_id}/exit": STAFF,
    "POST /v1/clients/{client_id}/identity/erasure": ("district_admin",),
}
log = logging.getLogger("jingkang.intake")
HOSPITAL_SOURCE = "hospital_discharge"  # the only applications a hospital makes or sees

DISTRICT = Field(pattern=r"^[0-9]{6}$", description="GB/T 2260 county-level code, e.g. 110105")
STREET = Field(pattern=r"^[0-9]{9}$", description="township/street code, e.g. 110105001")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Applicant(Strict):
    name: str = Field(min_length=1, max_length=50)
    id_number: str = Field(description="18-digit resident identity number")
    birth_date: date
    sex: Literal["male", "female"]
    phone: str = Field(pattern=r"^[0-9+\- ]{5,20}$")
    address: str = Field(min_length=1, max_length=200)


class Guardian(Strict):
    name: str = Field(min_length=1, max_length=50)
    id_number: str = Field(description="the guardian's 18-digit resident identity number")
    relationship: Literal["parent", "spouse", "child", "sibling", "other_relative", "appointed_guardian"]
    phone: str = Field(pattern=r"^[0-9+\- ]{5,20}$")


class ApplicationIn(Strict):
    source: Literal["self", "guardian", "hospital_discharge", "community"]
    applicant: Applicant
    guardian: Guardian | None = Field(default=None, description="required for a guardian's application, a minor, "
                                                                "or an applicant who lacks capacity")
    lacks_capacity: bool = False
    district_code: str = DISTRICT
    street_code: str = STREET
    hardship_categories: list[
        Literal["disability_subsidy", "extreme_poverty", "minimum_living_allowance", "marginal", "expenditure_hardship"]
    ] = Field(default=[], max_length=5)


class ConsentScopeIn(Strict):
    rehabilitation_services: bool = True
    share_with_health: bool = False
    share_with_disability_and_employment: bool = False


class ConsentIn(Strict):
    signed_by: Literal["self", "guardian"]
    scope: ConsentScopeIn = ConsentScopeIn()


class ConsentWithdrawalIn(Strict):
    scopes: list[Literal["rehabilitation_services", "share_with_health", "share_with_disability_and_employment"]] = Field(
        min_length=1, max_length=3)


class RelocationIn(Strict):
    district_code: str = DISTRICT
    street_code: str = STREET


class IdentityRejectionIn(Strict):
    reason: Literal["documents_mismatch", "not_resident", "registry_conflict", "other"]


class ExitIn(Strict):
    reason: Literal["recovered", "moved_away", "transferred", "withdrew", "died"]


class ErasureIn(Strict):
    reason: Literal[ERASURE_REASONS] = Field(  # type: ignore[valid-type]
        description="why the identity is erased; a code, so that the record holds no personal data")


class ErasureOut(BaseModel):
    client_id: UUID
    reason: str
    erased_on: date


class ApplicationCreated(BaseModel):
    application_id: UUID


class ClientCreated(BaseModel):
    client_id: UUID


class RegistryCheckOut(BaseModel):
    status: Literal["listed", "not_listed", "unavailable", "not_configured"]
    registry: str
    listed_since: date | None = None
    note: str | None = None
    checked_on: date


class ApplicationOut(BaseModel):
    application_id: UUID
    status: Literal["submitted", "consented", "registered", "withdrawn", "rejected"]
    source: str
    district_code: str
    street_code: str
    client_id: UUID | None
    submitted_on: date
    registration_due_on: date | None = None
    identity_verified_on: date | None = None
    registry_check: RegistryCheckOut | None = None
    rejection_reason: str | None = None


class ClientOut(BaseModel):
    client_id: UUID
    district_code: str
    street_code: str
    registered_on: date
    free_service_eligible: bool
    hardship_categories: list[str]
    consent: ConsentScopeIn
    exited: bool = False


class IdentityOut(BaseModel):
    client_id: UUID
    purpose: str
    applicant: dict
    guardian: dict | None


def application_out(a) -> ApplicationOut:
    return ApplicationOut(application_id=a.id, status=a.status, source=a.source, district_code=a.district_code,
                          street_code=a.street_code, client_id=a.client_id, submitted_on=a.submitted_on,
                          registration_due_on=a.registration_due_on, identity_verified_on=a.verified_on,
                          registry_check=RegistryCheckOut(**a.registry_check) if a.registry_check else None,
                          rejection_reason=a.closed["reason"] if a.closed else None)


def client_out(c) -> ClientOut:
    return ClientOut(client_id=c.id, district_code=c.district_code, street_code=c.street_code,
                     registered_on=c.registered_on, free_service_eligible=c.free_service_eligible,
                     hardship_categories=c.hardship_categories, consent=ConsentScopeIn(**c.consent),
                     exited=bool(c.exit))


def create_app(settings: ServiceSettings, intake: Intake | None = None) -> FastAPI:
    intake = intake or create_application(settings)
    api = create_service_api(
        "Jingkang intake",
        "Applications and the client register. Personal identifiers stay here, encrypted at rest.",
        checks={"event_store": intake.ping, "kafka": lambda: broker_reachable(settings.kafka_bootstrap),
                "relay": relay_check(intake)},
        authority=authority_for(settings), access=ACCESS, max_request_bytes=settings.max_request_bytes,
    )
    install_audit(api, settings, intake, to_public)

    @api.exception_handler(IdentityErased)
    async def identity_erased(_: Request, exc: IdentityErased):
        return JSONResponse(status_code=410, content={
            "error": "gone", "detail": "this identity was erased (crypto-erasure): it can no longer be read by "
                                       "anyone; the case itself, without identifiers, stays"})

    @api.exception_handler(IdentityUnreadable)
    async def identity_unreadable(_: Request, exc: IdentityUnreadable):
        # An integrity or configuration fault (altered token, wrong master key), not the caller's:
        # alarm on it; the answer names neither the token nor the identity.
        log.error("identity unreadable: %s", exc)
        return JSONResponse(status_code=500, content={
            "error": "identity_unreadable", "detail": "the stored identity cannot be opened; operators are alerted"})

    def get_intake() -> Intake:
        return intake

    def hospital_only_discharge(request: Request, source: str) -> None:
        if principal_of(request).role == "hospital" and source != HOSPITAL_SOURCE:
            raise HTTPException(403, f"a hospital submits and reads {HOSPITAL_SOURCE} applications only")

    def application_in_district(request: Request, application_id: UUID):
        """The application, if the caller acts for its district (403 otherwise)."""
        application = intake.get_application(application_id)
        check_district(principal_of(request), application.district_code)
        hospital_only_discharge(request, application.source)
        return application

    def client_in_district(request: Request, client_id: UUID):
        """The client, if the caller acts for the district they live in now (403 otherwise)."""
        client = intake.get_client(client_id)
        check_district(principal_of(request), client.district_code)
        return client

    @api.post("/v1/applications", status_code=201, response_model=ApplicationCreated, tags=["applications"])
    def submit_application(body: ApplicationIn, request: Request, intake: Intake = Depends(get_intake)):
        """Submit an application; the resident id is checked (check digit, birth date, sex) and
        cross-checked with the registry. 409 if the person already has an open application or
        is an active client. The caller must act for the body's district; a hospital submits
        hospital-discharge applications only."""
        check_district(principal_of(request), body.district_code)
        hospital_only_discharge(request, body.source)
        application_id = intake.submit_application(
            source=body.source,
            applicant=body.applicant.model_dump(),
            guardian=body.guardian.model_dump() if body.guardian else None,
            lacks_capacity=body.lacks_capacity,
            district_code=body.district_code,
            street_code=body.street_code,
            hardship_categories=list(body.hardship_categories),
        )
        return {"application_id": application_id}

    @api.get("/v1/applications/{application_id}", response_model=ApplicationOut, tags=["applications"])
    def get_application(application_id: UUID, request: Request):
        return application_out(application_in_district(request, application_id))

    @api.post("/v1/applications/{application_id}/withdrawal", response_model=ApplicationOut, tags=["applications"])
    def withdraw_application(application_id: UUID, request: Request, intake: Intake = Depends(get_intake)):
        """The applicant withdraws before registration (ApplicationWithdrawn); the application closes."""
        application_in_district(request, application_id)
        return application_out(intake.withdraw_application(application_id))

    @api.post("/v1/applications/{application_id}/identity-rejection", response_model=ApplicationOut, tags=["applications"])
    def reject_identity(application_id: UUID, body: IdentityRejectionIn, request: Request,
                        intake: Intake = Depends(get_intake)):
        """A worker rejects the identity (IdentityRejected); the application closes."""
        application_in_district(request, application_id)
        return application_out(intake.reject_identity(application_id, reason=body.reason))

    @api.post("/v1/applications/{application_id}/consent", status_code=201, tags=["applications"])
    def record_consent(application_id: UUID, body: ConsentIn, request: Request, intake: Intake = Depends(get_intake)):
        """Record informed consent (required before registration)."""
        application_in_district(request, application_id)
        intake.record_consent(application_id, signed_by=body.signed_by, scope=body.scope.model_dump())
        return {"application_id": application_id, "status": "consented"}

    @api.post("/v1/applications/{application_id}/register", status_code=201, response_model=ClientCreated, tags=["applications"])
    def register_client(application_id: UUID, request: Request, intake: Intake = Depends(get_intake)):
        """Register the client: assigns the pseudonymous client id and publishes ClientRegistered."""
        application_in_district(request, application_id)
        return {"client_id": intake.register_client(application_id)}

    @api.get("/v1/clients/{client_id}", response_model=ClientOut, tags=["clients"])
    def get_client(client_id: UUID, request: Request):
        """The case summary, without personal identifiers."""
        c = client_in_district(request, client_id)
        return client_out(c)

    @api.get("/v1/clients/{client_id}/identity", response_model=IdentityOut, tags=["clients"])
    def read_identity(client_id: UUID, response: Response, request: Request,
                      purpose: Literal["service_delivery", "guardian_contact", "medical_referral", "legal_request"] = Query(
                          description="why the identity is read; recorded with the reader"),
                      intake: Intake = Depends(get_intake)):
        """The client's identity (applicant and guardian). Every read is recorded (IdentityRead:
        purpose, actor and role) and never published. 410 once the identity was erased."""
        client_in_district(request, client_id)
        identity = intake.read_identity(client_id, purpose=purpose)
        response.headers["Cache-Control"] = "no-store"
        return IdentityOut(client_id=client_id, purpose=purpose, applicant=identity["applicant"],
                           guardian=identity.get("guardian"))

    @api.post("/v1/clients/{client_id}/identity/erasure", response_model=ErasureOut, tags=["clients"])
    def erase_identity(client_id: UUID, body: ErasureIn, request: Request, intake: Intake = Depends(get_intake)):
        """Erase the client's identity for good (IdentityErased, internal): the person's data key
        is destroyed, so the identifiers sealed in every application of theirs can no longer be
        opened, while every event stays (the chain verifies, the case replays). Later reads are
        410; 409 if already erased."""
        client_in_district(request, client_id)
        erased = intake.erase_identity(client_id, reason=body.reason).identity_erased
        return ErasureOut(client_id=client_id, reason=erased["reason"], erased_on=erased["erased_on"])

    @api.post("/v1/clients/{client_id}/consent/withdrawals", response_model=ClientOut, tags=["clients"])
    def withdraw_consent(client_id: UUID, body: ConsentWithdrawalIn, request: Request,
                         intake: Intake = Depends(get_intake)):
        """Withdraw part or all of the consent: later sharing stops (ConsentWithdrawn); history stays."""
        client_in_district(request, client_id)
        return client_out(intake.withdraw_consent(client_id, scopes=list(body.scopes)))

    @api.post("/v1/clients/{client_id}/relocation", response_model=ClientOut, tags=["clients"])
    def relocate(client_id: UUID, body: RelocationIn, request: Request, intake: Intake = Depends(get_intake)):
        """The client moved (ClientRelocated). Recorded by the staff of the district they leave,
        who hold the case until then."""
        client_in_district(request, client_id)
        return client_out(intake.relocate_client(client_id, district_code=body.district_code,
                                                 street_code=body.street_code))

    @api.post("/v1/clients/{client_id}/exit", response_model=ClientOut, tags=["clients"])
    def exit_programme(client_id: UUID, body: ExitIn, request: Request, intake: Intake = Depends(get_intake)):
        """The client leaves the programme (ClientExited); later commands on the client are 409."""
        client_in_district(request, client_id)
        return client_out(intake.exit_client(client_id, reason=body.reason))

    return api
