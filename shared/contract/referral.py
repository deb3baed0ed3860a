"""Public events of referral (topic jingkang.referral.v1)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from shared.contract.base import PublicEvent

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
