"""Public events of referral (topic jingkang.referral.v1)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.contract.base import DistrictCode, PublicEvent, StreetCode

ReferralKind = Literal["medical", "community", "professional", "employment"]
# Reasons travel as codes, never as free text: text written by staff can hold names,
# diagnoses or addresses. Free-text notes stay inside referral.
RequestReason = Literal["relapse_detected", "hospital_discharge", "station_full", "poor_fit", "employment_ready", "other"]
DeclineReason = Literal["no_capacity", "not_suitable", "client_refused", "unreachable", "other"]
CancelReason = Literal["client_withdrew", "duplicate", "entered_in_error", "other"]


class TransferRequested(PublicEvent):
    """A referral was opened; `due_by` is when it must have been answered. A professional
    referral names the station the client is referred to."""

    SERVICE = "referral"
    NAME = "TransferRequested"
    client_id: UUID
    referral_id: UUID
    kind: ReferralKind
    reason: RequestReason
    requested_at: datetime
    due_by: datetime
    to_station_id: UUID | None = None


class _ReferralAnswered(PublicEvent):
    SERVICE = "referral"
    client_id: UUID
    referral_id: UUID
    kind: ReferralKind
    at: datetime


class ReferralAccepted(_ReferralAnswered):
    NAME = "ReferralAccepted"


class ReferralDeclined(_ReferralAnswered):
    NAME = "ReferralDeclined"
    reason: DeclineReason


class ReferralCompleted(_ReferralAnswered):
    NAME = "ReferralCompleted"


class ReferralCancelled(_ReferralAnswered):
    NAME = "ReferralCancelled"
    reason: CancelReason | None = None


StationTier = Literal["ningkang_home", "provincial_demo", "ningkang_post"]


class ReferralOverdue(PublicEvent):
    """A referral was not answered by its deadline."""

    SERVICE = "referral"
    NAME = "ReferralOverdue"
    client_id: UUID
    referral_id: UUID
    kind: ReferralKind
    due_by: datetime


class StationRegistered(PublicEvent):
    """A rehabilitation station was registered: its tier, district, the streets it serves
    and its capacity (places)."""

    SERVICE = "referral"
    NAME = "StationRegistered"
    SUBJECT = "station_id"
    station_id: UUID
    tier: StationTier
    district_code: DistrictCode
    streets: list[StreetCode]
    capacity: int = Field(ge=0)


class StationCapacityChanged(PublicEvent):
    """A station's capacity changed (never below the clients placed there)."""

    SERVICE = "referral"
    NAME = "StationCapacityChanged"
    SUBJECT = "station_id"
    station_id: UUID
    capacity: int = Field(ge=0)


class ClientPlaced(PublicEvent):
    """The client has a place at a station: on placement, on a transfer, and again when
    they come back from hospital to the place held for them."""

    SERVICE = "referral"
    NAME = "ClientPlaced"
    client_id: UUID
    station_id: UUID
    district_code: DistrictCode
    placed_on: date


class ClientWaitlisted(PublicEvent):
    """No station serving the client's street has a free place: the district's waitlist."""

    SERVICE = "referral"
    NAME = "ClientWaitlisted"
    client_id: UUID
    district_code: DistrictCode
    waiting_since: date


class WaitlistExceeded(PublicEvent):
    """Waiting more than 90 days: re-verification is required before re-referral."""

    SERVICE = "referral"
    NAME = "WaitlistExceeded"
    client_id: UUID
    district_code: DistrictCode
    waiting_since: date
