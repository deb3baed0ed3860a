"""assessment's HTTP API (FastAPI)."""
from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from services.assessment.application import Assessments, create_application
from shared.api import broker_reachable, create_service_api
from shared.settings import ServiceSettings


class AssessmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["baseline", "process", "discharge"]
    stability: Literal["stable", "basically_stable", "unstable"]
    risk_level: int = Field(ge=0, le=5, description="risk grade 0-5")
    willing: bool = Field(description="the client is willing to take part in community rehabilitation")
    assessor: str = Field(default="unknown", max_length=64, description="staff id of the assessor, not a name")
    assessed_on: date | None = None


class AssessmentOut(BaseModel):
    client_id: UUID
    assessment_id: UUID
    service_category: Literal["community_rehab", "dynamic_care"]
    medical_referral_needed: bool
    relapse_episode_open: bool


class AssessmentSummary(BaseModel):
    assessment_id: UUID
    kind: str
    stability: str
    risk_level: int
    willing: bool
    assessed_on: date


class RecordOut(BaseModel):
    client_id: UUID
    district_code: str
    registered_on: date
    service_category: str | None
    medical_referral_needed: bool
    relapse_episode_open: bool
    assessments: list[AssessmentSummary]


def create_app(settings: ServiceSettings, assessments: Assessments | None = None) -> FastAPI:
    assessments = assessments or create_application(settings)
    api = create_service_api(
        "Jingkang assessment",
        "Rehabilitation records: assessments, classification, relapse detection.",
        checks={"event_store": assessments.ping, "kafka": lambda: broker_reachable(settings.kafka_bootstrap)},
    )

    def get_assessments() -> Assessments:
        return assessments

    @api.post("/v1/clients/{client_id}/assessments", status_code=201, response_model=AssessmentOut, tags=["assessments"])
    def complete_assessment(client_id: UUID, body: AssessmentIn, assessments: Assessments = Depends(get_assessments)):
        """Record an assessment; classifies the client and detects relapse (unstable or risk 3+)."""
        record = assessments.complete_assessment(client_id, **body.model_dump())
        return AssessmentOut(client_id=record.id, assessment_id=record.latest["assessment_id"],
                             service_category=record.service_category,
                             medical_referral_needed=record.medical_referral_needed,
                             relapse_episode_open=record.relapse_episode_open)

    @api.get("/v1/clients/{client_id}/record", response_model=RecordOut, tags=["assessments"])
    def get_record(client_id: UUID, assessments: Assessments = Depends(get_assessments)):
        r = assessments.get_record(client_id)
        return RecordOut(client_id=r.id, district_code=r.district_code, registered_on=r.registered_on,
                         service_category=r.service_category, medical_referral_needed=r.medical_referral_needed,
                         relapse_episode_open=r.relapse_episode_open,
                         assessments=[AssessmentSummary(**a) for a in r.assessments])

    return api
