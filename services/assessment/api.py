"""assessment's HTTP API (FastAPI). Who may call each route is the ACCESS table below
(shared/auth.py enforces it, deny by default); every route also checks that the client's
record is in one of the caller's districts."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.assessment.application import Assessments, create_application
from services.assessment.domain import (
    BASIC_SERVICES, CONTACT_METHODS, CONTACT_OUTCOMES, FUNCTIONAL_SCORE_MAX, FUNCTIONAL_SCORE_MIN, MAX_GOAL_LENGTH, MAX_GOALS, MAX_SESSION_MINUTES,
    STAFF_ID, ClientRecord,
)
from services.assessment.contracts import to_public
from shared.audit import install_audit
from shared.api import Day, broker_reachable, create_service_api
from shared.outbox import relay_check
from shared.auth import authority_for, check_district, principal_of
from shared.idempotency import idempotency_for
from shared.settings import ServiceSettings

Stability = Literal["stable", "basically_stable", "unstable"]
BasicService = Literal[BASIC_SERVICES]  # type: ignore[valid-type]
# Who may call each route (roles of shared/auth.py); the record's district must be in the token's.
# Assessing, planning and recording sessions is the station's work; a hospital may report a
# relapse, and reads the record only of a client who consented to sharing with health
# services (it holds plan goals, free text); a withdrawal stops that from then on.
ACCESS: dict[str, tuple[str, ...]] = {
    "POST /v1/clients/{client_id}/assessments": ("station_worker",),
    "POST /v1/clients/{client_id}/plan": ("station_worker",),
    "POST /v1/clients/{client_id}/sessions": ("station_worker",),
    "POST /v1/clients/{client_id}/relapses": ("station_worker", "hospital"),
    "POST /v1/clients/{client_id}/contacts": ("station_worker",),
    "GET /v1/clients/{client_id}/record": ("station_worker", "district_admin", "auditor", "hospital"),
    # A district's working list: not the hospital's (it reads a record only where consent allows).
    "GET /v1/records": ("station_worker", "district_admin", "auditor"),
}

StaffId = Annotated[str, Field(pattern=STAFF_ID, description="staff id of the person acting, never a name")]


class AssessmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["baseline", "process", "discharge"]
    stability: Stability
    risk_level: int = Field(ge=0, le=5, description="risk grade 0-5")
    willing: bool = Field(description="the client is willing to take part in community rehabilitation")
    functional_score: int = Field(ge=FUNCTIONAL_SCORE_MIN, le=FUNCTIONAL_SCORE_MAX, strict=True,
                                  description="personal and social performance (PSP), 0-100, higher is better")
    assessor: StaffId
    assessed_on: Day | None = Field(default=None, description="default today; not in the future, "
                                                               "not before the previous assessment")


class DueOut(BaseModel):
    plan_due_on: date | None = Field(description="last day to agree the first plan; null once agreed")
    reassessment_due_on: date | None
    reassessment_overdue_on: date | None = Field(description="ReassessmentOverdue fires on this day if still missing")
    contact_due_on: date | None = Field(description="next dynamic-care follow-up contact")
    contact_cadence_days: int | None


class AssessmentOut(BaseModel):
    client_id: UUID
    assessment_id: UUID
    service_category: Literal["community_rehab", "dynamic_care"]
    medical_referral_needed: bool
    relapse_episode_open: bool
    status: Literal["active", "exited", "closed"]
    due: DueOut


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    goals: list[str] = Field(min_length=1, max_length=MAX_GOALS,
                             description=f"short codes or text, up to {MAX_GOAL_LENGTH} characters each; "
                                         "kept inside assessment, never published")
    services: list[BasicService] = Field(min_length=1, max_length=len(BASIC_SERVICES), description="basic services the plan draws on, each once")
    agreed_by: Literal["client", "guardian"]
    agreed_on: Day | None = Field(default=None, description="default today; not in the future")


class PlanOut(BaseModel):
    version: int
    goals: list[str]
    services: list[str]
    agreed_by: str
    agreed_on: date


class PlanAgreedOut(PlanOut):
    client_id: UUID


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_type: BasicService
    station_id: UUID
    session_date: Day = Field(description="not in the future, not before registration")
    minutes: int = Field(ge=1, le=MAX_SESSION_MINUTES)
    mode: Literal["individual", "group"]
    attendance: Literal["attended", "no_show"]


class SessionOut(BaseModel):
    session_id: UUID
    service_type: str
    station_id: UUID
    session_date: date
    minutes: int
    mode: str
    attendance: str


class SessionRecordedOut(SessionOut):
    client_id: UUID


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal[CONTACT_METHODS]  # type: ignore[valid-type]
    outcome: Literal[CONTACT_OUTCOMES] = Field(description="reached: the next contact falls a cadence later; "  # type: ignore[valid-type]
                                                           "not_reached: the due date stays")
    staff: StaffId
    contacted_on: Day | None = Field(default=None, description="default today; not in the future, "
                                                                "not before the previous contact")


class ContactOut(BaseModel):
    contact_id: UUID
    contacted_on: date
    method: str
    outcome: str
    staff: str


class ContactRecordedOut(ContactOut):
    client_id: UUID
    due: DueOut


class RelapseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reported_by: StaffId
    stability: Stability | None = Field(default=None, description="default unstable (or, with a risk of 3+, "
                                                                   "the last assessed stability)")
    risk_level: int | None = Field(default=None, ge=0, le=5, description="default the last assessed risk")


class RelapseOut(BaseModel):
    client_id: UUID
    already_open: bool = Field(description="true: an episode was already open; nothing new was recorded (200)")
    relapse_episode_open: bool
    detected_at: datetime


class AssessmentSummary(BaseModel):
    assessment_id: UUID
    kind: str
    stability: str
    risk_level: int
    willing: bool
    functional_score: int | None = Field(description="null for assessments recorded before scores were required")
    assessor: str
    assessed_on: date


class RecordOut(BaseModel):
    client_id: UUID
    district_code: str
    street_code: str
    registered_on: date
    status: Literal["active", "exited", "closed"]
    exited_on: date | None
    exit_reason: str | None
    service_category: str | None
    medical_referral_needed: bool
    relapse_episode_open: bool
    plan: PlanOut | None
    due: DueOut
    assessments: list[AssessmentSummary]
    sessions: list[SessionOut]
    contacts: list[ContactOut]


class RecordSummaryOut(BaseModel):
    client_id: UUID
    district_code: str
    street_code: str
    registered_on: date
    status: Literal["active", "exited", "closed"]
    service_category: str | None
    medical_referral_needed: bool
    relapse_episode_open: bool
    plan_version: int = Field(description="0 until the first plan is agreed")
    assessments: int
    last_session_on: date | None
    last_contact_on: date | None
    due: DueOut


class RecordList(BaseModel):
    district_code: str
    records: list[RecordSummaryOut]


def summary_out(r: ClientRecord) -> RecordSummaryOut:
    return RecordSummaryOut(
        client_id=r.id, district_code=r.district_code, street_code=r.street_code, registered_on=r.registered_on,
        status=r.status, service_category=r.service_category, medical_referral_needed=r.medical_referral_needed,
        relapse_episode_open=r.relapse_episode_open, plan_version=r.plan_version, assessments=len(r.assessments),
        last_session_on=max((s["session_date"] for s in r.sessions), default=None),
        last_contact_on=max((c["contacted_on"] for c in r.contacts), default=None), due=DueOut(**r.next_due()))


def record_out(r: ClientRecord) -> RecordOut:
    return RecordOut(client_id=r.id, district_code=r.district_code, street_code=r.street_code,
                     registered_on=r.registered_on, status=r.status, exited_on=r.exited_on, exit_reason=r.exit_reason,
                     service_category=r.service_category, medical_referral_needed=r.medical_referral_needed,
                     relapse_episode_open=r.relapse_episode_open, plan=PlanOut(**r.plan) if r.plan else None,
                     due=DueOut(**r.next_due()), assessments=[AssessmentSummary(**a) for a in r.assessments],
                     sessions=[SessionOut(**s) for s in r.sessions], contacts=[ContactOut(**c) for c in r.contacts])


def create_app(settings: ServiceSettings, assessments: Assessments | None = None) -> FastAPI:
    assessments = assessments or create_application(settings)
    api = create_service_api(
        "Jingkang assessment",
        "Rehabilitation records: assessments, classification, plans, service sessions, relapse, deadlines.",
        checks={"event_store": assessments.ping, "kafka": lambda: broker_reachable(settings.kafka_bootstrap),
                "relay": relay_check(assessments)},
        authority=authority_for(settings), access=ACCESS, max_request_bytes=settings.max_request_bytes,
        idempotency=idempotency_for(settings, assessments),
    )
    install_audit(api, settings, assessments, to_public)

    def get_assessments() -> Assessments:
        return assessments

    def in_district(request: Request, client_id: UUID) -> ClientRecord:
        """The client's record (404 if unknown), if it is in the caller's districts (else 403)."""
        record = assessments.get_record(client_id)
        check_district(principal_of(request), record.district_code)
        return record

    @api.post("/v1/clients/{client_id}/assessments", status_code=201, response_model=AssessmentOut, tags=["assessments"])
    def complete_assessment(client_id: UUID, body: AssessmentIn, request: Request,
                            assessments: Assessments = Depends(get_assessments)):
        """Record an assessment; classifies the client, detects relapse (unstable or risk 3+)
        and moves the reassessment and contact deadlines."""
        in_district(request, client_id)
        record = assessments.complete_assessment(client_id, **body.model_dump())
        return AssessmentOut(client_id=record.id, assessment_id=record.latest["assessment_id"],
                             service_category=record.service_category,
                             medical_referral_needed=record.medical_referral_needed,
                             relapse_episode_open=record.relapse_episode_open, status=record.status,
                             due=DueOut(**record.next_due()))

    @api.post("/v1/clients/{client_id}/plan", status_code=201, response_model=PlanAgreedOut, tags=["plans"])
    def agree_plan(client_id: UUID, body: PlanIn, request: Request, assessments: Assessments = Depends(get_assessments)):
        """Agree the personal rehabilitation plan (version 1 after the baseline; a new version
        after each process assessment)."""
        in_district(request, client_id)
        record = assessments.agree_plan(client_id, **body.model_dump())
        return PlanAgreedOut(client_id=record.id, **record.plan)

    @api.post("/v1/clients/{client_id}/sessions", status_code=201, response_model=SessionRecordedOut,
              tags=["sessions"])
    def record_session(client_id: UUID, body: SessionIn, request: Request,
                       assessments: Assessments = Depends(get_assessments)):
        """Record a service session delivered to the client (or a no-show)."""
        in_district(request, client_id)
        session = assessments.record_session(client_id, **body.model_dump())
        return SessionRecordedOut(client_id=client_id, **session)

    @api.post("/v1/clients/{client_id}/contacts", status_code=201, response_model=ContactRecordedOut, tags=["contacts"])
    def record_contact(client_id: UUID, body: ContactIn, request: Request,
                       assessments: Assessments = Depends(get_assessments)):
        """Record a follow-up contact of a dynamic-care client (409 for a client not in dynamic care)."""
        in_district(request, client_id)
        record = assessments.record_contact(client_id, **body.model_dump())
        return ContactRecordedOut(client_id=client_id, **record.contacts[-1], due=DueOut(**record.next_due()))

    @api.post("/v1/clients/{client_id}/relapses", status_code=201, response_model=RelapseOut, tags=["assessments"],
              responses={200: {"model": RelapseOut, "description": "an episode was already open: nothing recorded"}})
    def report_relapse(client_id: UUID, body: RelapseIn, response: Response, request: Request,
                       assessments: Assessments = Depends(get_assessments)):
        """Report a relapse directly: 201 and RelapseDetected, or 200 with already_open when
        the client is already in a relapse episode (a repeat is safe to retry)."""
        in_district(request, client_id)
        record, detected = assessments.report_relapse(client_id, **body.model_dump())
        if not detected:
            response.status_code = 200
        return RelapseOut(client_id=record.id, already_open=not detected,
                          relapse_episode_open=record.relapse_episode_open, detected_at=record.relapse_detected_at)

    @api.get("/v1/records", response_model=RecordList, tags=["assessments"])
    def list_records(request: Request, district: str = Query(pattern=r"^[0-9]{6}$"),
                     assessments: Assessments = Depends(get_assessments)):
        """A district's working list: each client in the programme (not exited) with what is due
        next, in the order they were registered. Pseudonymous ids only."""
        check_district(principal_of(request), district)
        return RecordList(district_code=district, records=[summary_out(r) for r in assessments.records_in(district)])

    @api.get("/v1/clients/{client_id}/record", response_model=RecordOut, tags=["assessments"])
    def get_record(client_id: UUID, request: Request, assessments: Assessments = Depends(get_assessments)):
        """The client's record: classification, plan, next due dates, assessments, sessions, contacts.
        A hospital reads it only with the client's consent to share with health services."""
        record = in_district(request, client_id)
        if principal_of(request).role == "hospital" and not record.shares_with_health:
            raise HTTPException(403, "the client has not consented to sharing with health services")
        return record_out(record)

    return api
