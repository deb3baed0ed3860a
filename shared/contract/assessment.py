"""Public events of assessment (topic jingkang.assessment.v1)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.contract.base import PublicEvent

Stability = Literal["stable", "basically_stable", "unstable"]
ServiceCategory = Literal["community_rehab", "dynamic_care"]


class AssessmentCompleted(PublicEvent):
    SERVICE = "assessment"
    NAME = "AssessmentCompleted"
    client_id: UUID
    assessment_id: UUID
    kind: Literal["baseline", "process", "discharge"]
    stability: Stability
    risk_level: int = Field(ge=0, le=5)
    willing: bool
    service_category: ServiceCategory
    medical_referral_needed: bool
    assessed_on: date


class AssessmentCompletedV2(AssessmentCompleted):
    """v2 adds the functional score (personal and social performance, 0-100). Published
    beside v1 while v1 subscribers migrate; assessments stored before scores were kept
    are upcast with `functional_score: null`."""

    NAME = "AssessmentCompleted"
    VERSION = 2
    functional_score: int | None = Field(ge=0, le=100)


class ClientClassified(PublicEvent):
    SERVICE = "assessment"
    NAME = "ClientClassified"
    client_id: UUID
    service_category: ServiceCategory
    medical_referral_needed: bool
    previous_category: ServiceCategory | None


class RelapseDetected(PublicEvent):
    """Condition became unstable or risk rose to 3+ (or a relapse was reported)."""

    SERVICE = "assessment"
    NAME = "RelapseDetected"
    client_id: UUID
    detected_at: datetime
    stability: Stability
    risk_level: int = Field(ge=0, le=5)
    district_code: str | None = None


BasicService = Literal[
    "medication_training", "relapse_prevention", "physical_health", "daily_living_skills", "social_skills",
    "vocational_rehabilitation", "psychological_rehabilitation", "peer_support", "family_support",
    "case_service", "group_service", "community_service", "home_service",
]


class RehabPlanAgreed(PublicEvent):
    """A personal rehabilitation plan was agreed with the client or guardian."""

    SERVICE = "assessment"
    NAME = "RehabPlanAgreed"
    client_id: UUID
    plan_version: int = Field(ge=1)
    services: list[BasicService]
    agreed_by: Literal["client", "guardian"]
    agreed_on: date


class PlanOverdue(PublicEvent):
    """No plan agreed 30 days after registration."""

    SERVICE = "assessment"
    NAME = "PlanOverdue"
    client_id: UUID
    registered_on: date
    due_on: date


class ReassessmentDue(PublicEvent):
    """90 days since the last assessment: a process assessment is due."""

    SERVICE = "assessment"
    NAME = "ReassessmentDue"
    client_id: UUID
    last_assessed_on: date
    due_on: date


class ReassessmentOverdue(PublicEvent):
    """The reassessment is still missing after the grace period."""

    SERVICE = "assessment"
    NAME = "ReassessmentOverdue"
    client_id: UUID
    last_assessed_on: date
    due_on: date


class DynamicCareContactDue(PublicEvent):
    """A dynamic-care client is due a follow-up contact (cadence by stability and risk)."""

    SERVICE = "assessment"
    NAME = "DynamicCareContactDue"
    client_id: UUID
    due_on: date
    cadence_days: int = Field(ge=1)


class FollowUpContactRecorded(PublicEvent):
    """A worker followed up a dynamic-care client (or tried to). A contact that reached the
    client starts the next interval; `next_contact_due_on` is when the next one is due."""

    SERVICE = "assessment"
    NAME = "FollowUpContactRecorded"
    client_id: UUID
    contact_id: UUID
    contacted_on: date
    method: Literal["phone", "home_visit", "outpatient_visit", "video_call"]
    outcome: Literal["reached", "not_reached"]
    next_contact_due_on: date | None


class ServiceSessionDelivered(PublicEvent):
    """A rehabilitation service session took place (or the client did not come)."""

    SERVICE = "assessment"
    NAME = "ServiceSessionDelivered"
    client_id: UUID
    session_id: UUID
    station_id: UUID
    service_type: BasicService
    session_date: date
    minutes: int = Field(ge=1, le=600)
    mode: Literal["individual", "group"]
    attendance: Literal["attended", "no_show"]
