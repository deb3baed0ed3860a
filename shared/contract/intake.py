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


class IdentityVerified(PublicEvent):
    """The applicant's real-name identity check passed (resident id well formed and
    agreeing with birth date and sex). Carries no identifier."""

    SERVICE = "intake"
    NAME = "IdentityVerified"
    SUBJECT = "application_id"
    application_id: UUID
    method: Literal["resident_id_check"]
    verified_on: date


class RegistryChecked(PublicEvent):
    """The answer of the severe-mental-disorder registry cross-check, for the worker to
    weigh (it decides nothing by itself)."""

    SERVICE = "intake"
    NAME = "RegistryChecked"
    SUBJECT = "application_id"
    application_id: UUID
    status: Literal["listed", "not_listed", "unavailable", "not_configured"]
    checked_on: date


class IdentityRejected(PublicEvent):
    """A worker rejected the applicant's identity; the application is closed."""

    SERVICE = "intake"
    NAME = "IdentityRejected"
    SUBJECT = "application_id"
    application_id: UUID
    reason: Literal["documents_mismatch", "not_resident", "registry_conflict", "other"]
    rejected_on: date


class ApplicationWithdrawn(PublicEvent):
    """The applicant or guardian withdrew the application before registration; it is closed."""

    SERVICE = "intake"
    NAME = "ApplicationWithdrawn"
    SUBJECT = "application_id"
    application_id: UUID
    withdrawn_on: date


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
