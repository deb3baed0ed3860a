"""referral's HTTP API (FastAPI)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from services.referral.application import Referrals, create_application
from services.referral.domain import Referral
from shared.api import broker_reachable, create_service_api
from shared.settings import ServiceSettings


class ReferralIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: UUID
    kind: Literal["medical", "community", "professional", "employment"]
    reason: str = Field(min_length=1, max_length=500)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class ReferralOut(BaseModel):
    referral_id: UUID
    client_id: UUID
    kind: str
    status: Literal["requested", "accepted", "completed", "declined", "cancelled"]
    reason: str
    requested_at: datetime
    due_by: datetime
    outcome_reason: str | None

    @classmethod
    def of(cls, r: Referral) -> "ReferralOut":
        return cls(referral_id=r.id, client_id=r.client_id, kind=r.kind, status=r.status, reason=r.reason,
                   requested_at=r.requested_at, due_by=r.due_by, outcome_reason=r.outcome_reason)


class ReferralList(BaseModel):
    referrals: list[ReferralOut]


def create_app(settings: ServiceSettings, referrals: Referrals | None = None) -> FastAPI:
    referrals = referrals or create_application(settings)
    api = create_service_api(
        "Jingkang referral",
        "Closed-loop referrals: medical (green channel on relapse), community, professional, employment.",
        checks={"event_store": referrals.ping, "kafka": lambda: broker_reachable(settings.kafka_bootstrap)},
    )

    def get_referrals() -> Referrals:
        return referrals

    @api.post("/v1/referrals", status_code=201, response_model=ReferralOut, tags=["referrals"])
    def request_referral(body: ReferralIn, referrals: Referrals = Depends(get_referrals)):
        referral_id = referrals.request_referral(client_id=body.client_id, kind=body.kind, reason=body.reason)
        return ReferralOut.of(referrals.get_referral(referral_id))

    @api.get("/v1/referrals", response_model=ReferralList, tags=["referrals"])
    def list_referrals(client_id: UUID, referrals: Referrals = Depends(get_referrals)):
        """A client's referrals, oldest first."""
        return ReferralList(referrals=[ReferralOut.of(r) for r in referrals.referrals_of(client_id)])

    @api.get("/v1/referrals/{referral_id}", response_model=ReferralOut, tags=["referrals"])
    def get_referral(referral_id: UUID, referrals: Referrals = Depends(get_referrals)):
        return ReferralOut.of(referrals.get_referral(referral_id))

    @api.post("/v1/referrals/{referral_id}/accept", response_model=ReferralOut, tags=["referrals"])
    def accept(referral_id: UUID, referrals: Referrals = Depends(get_referrals)):
        return ReferralOut.of(referrals.accept_referral(referral_id))

    @api.post("/v1/referrals/{referral_id}/complete", response_model=ReferralOut, tags=["referrals"])
    def complete(referral_id: UUID, referrals: Referrals = Depends(get_referrals)):
        return ReferralOut.of(referrals.complete_referral(referral_id))

    @api.post("/v1/referrals/{referral_id}/decline", response_model=ReferralOut, tags=["referrals"])
    def decline(referral_id: UUID, body: ReasonIn, referrals: Referrals = Depends(get_referrals)):
        return ReferralOut.of(referrals.decline_referral(referral_id, body.reason))

    @api.post("/v1/referrals/{referral_id}/cancel", response_model=ReferralOut, tags=["referrals"])
    def cancel(referral_id: UUID, body: ReasonIn, referrals: Referrals = Depends(get_referrals)):
        return ReferralOut.of(referrals.cancel_referral(referral_id, body.reason))

    return api
