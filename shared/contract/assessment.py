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
