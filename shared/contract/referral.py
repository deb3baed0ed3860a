"""Public events of referral (topic jingkang.referral.v1)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from shared.contract.base import DistrictCode, PublicEvent

ReferralKind = Literal["medical", "community", "professional", "employment"]


class TransferRequested(PublicEvent):
    """A referral was opened; `due_by` is when it must have been answered."""

    SERVICE = "referral"
    NAME = "TransferRequested"
    client_id: UUID
    referral_id: UUID
    kind: ReferralKind
    reason: str
    requested_at: datetime
    due_by: datetime


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
    reason: str


class ReferralCompleted(_ReferralAnswered):
    NAME = "ReferralCompleted"


class ReferralCancelled(_ReferralAnswered):
    NAME = "ReferralCancelled"
    reason: str | None = None


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
    SERVICE = "referral"
    NAME = "StationRegistered"
    SUBJECT = "station_id"
    station_id: UUID
    tier: StationTier
    district_code: DistrictCode
    streets: list[str]
    capacity: int


class StationCapacityChanged(PublicEvent):
    SERVICE = "referral"
    NAME = "StationCapacityChanged"
    SUBJECT = "station_id"
    station_id: UUID
    capacity: int


class ClientPlaced(PublicEvent):
    """The client has a place at a station."""

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
