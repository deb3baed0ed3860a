"""Public events of intake (topic jingkang.intake.v1). No names, resident ids,
phones, addresses or diagnoses: those stay inside intake, encrypted."""
from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from shared.contract.base import DistrictCode, PublicEvent, StreetCode

Source = Literal["self", "guardian", "hospital_discharge", "community"]
Hardship = Literal["disability_subsidy", "extreme_poverty", "minimum_living_allowance", "marginal", "expenditure_hardship"]


class ConsentScope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rehabilitation_services: bool
    share_with_health: bool
    share_with_disability_and_employment: bool


class ApplicationSubmitted(PublicEvent):
    """An application for community rehabilitation was received."""

    SERVICE = "intake"
    NAME = "ApplicationSubmitted"
    SUBJECT = "application_id"
    application_id: UUID
    source: Source
    district_code: DistrictCode
    street_code: StreetCode
    submitted_on: date


class ConsentRecorded(PublicEvent):
    """Informed consent signed by the applicant or their guardian."""

    SERVICE = "intake"
    NAME = "ConsentRecorded"
    SUBJECT = "application_id"
    application_id: UUID
    signed_by: Literal["self", "guardian"]
    scope: ConsentScope


class ClientRegistered(PublicEvent):
    """A client entered the programme under a pseudonymous client id."""

    SERVICE = "intake"
    NAME = "ClientRegistered"
    client_id: UUID
    application_id: UUID
    source: Source
    district_code: DistrictCode
    street_code: StreetCode
    registered_on: date
    free_service_eligible: bool
    hardship_categories: list[Hardship]
    consent: ConsentScope


class ConsentWithdrawn(PublicEvent):
    """Part or all of the client's consent was withdrawn: later sharing stops; history stays."""

    SERVICE = "intake"
    NAME = "ConsentWithdrawn"
    client_id: UUID
    consent: ConsentScope
    withdrawn_on: date


class ClientRelocated(PublicEvent):
    """The client's residence moved to another district or street."""

    SERVICE = "intake"
    NAME = "ClientRelocated"
    client_id: UUID
    district_code: DistrictCode
    street_code: StreetCode
    relocated_on: date


class ClientExited(PublicEvent):
    """The client left the programme (转出)."""

    SERVICE = "intake"
    NAME = "ClientExited"
    client_id: UUID
    reason: Literal["recovered", "moved_away", "transferred", "withdrew", "died"]
    exited_on: date


class DeadlineBreached(PublicEvent):
    """A time limit of the referral rules passed (verify and register within 5 working
    days of application; hand to a provider within a further 5)."""

    SERVICE = "intake"
    NAME = "DeadlineBreached"
    SUBJECT = "application_id"
    application_id: UUID
    client_id: UUID | None = None
    deadline: Literal["registration", "handover"]
    due_on: date
