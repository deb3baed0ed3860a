"""The one place referral maps internal events to public ones, and foreign public
events (RelapseDetected) to its commands."""
from __future__ import annotations

from typing import Any, Iterable

from services.referral.domain import Referral
from shared.consumer import Handler
from shared.contract import PublicEvent, event_type
from shared.contract.assessment import RelapseDetected
from shared.contract.referral import (
    ReferralAccepted, ReferralCancelled, ReferralCompleted, ReferralDeclined, TransferRequested,
)
from shared.envelope import CloudEvent

ANSWERED = {"accepted": ReferralAccepted, "declined": ReferralDeclined, "completed": ReferralCompleted,
            "cancelled": ReferralCancelled}


def to_public(domain_event: Any) -> Iterable[PublicEvent]:
    e = domain_event
    if isinstance(e, Referral.Requested):
        yield TransferRequested(client_id=e.client_id, referral_id=e.originator_id, kind=e.kind, reason=e.reason,
                                requested_at=e.requested_at, due_by=e.due_by)
    elif isinstance(e, Referral.StatusChanged):
        fields = dict(client_id=e.client_id, referral_id=e.originator_id, kind=e.kind, at=e.at)
        if e.status in ("declined", "cancelled"):
            fields["reason"] = e.reason
        yield ANSWERED[e.status](**fields)


def handlers(referrals: Any) -> dict[str, Handler]:
    """Foreign public events (by CloudEvents type) -> referral commands."""

    def relapse_detected(ce: CloudEvent) -> None:
        referrals.open_medical_referral(client_id=ce.event.client_id, cause_event_id=ce.id)

    return {event_type(RelapseDetected): relapse_detected}
