"""The one place referral maps internal events to public ones, and foreign public
events (intake's ClientRegistered, ConsentWithdrawn, ClientExited; assessment's
ClientClassified, RelapseDetected) to its commands. Notes (free text) never leave:
public events carry reason codes only."""
from __future__ import annotations

from typing import Any, Iterable

from services.referral.domain import DistrictPlacement, Referral, Station
from shared.consumer import Handler
from shared.contract import PublicEvent, event_type
from shared.contract.assessment import ClientClassified, RelapseDetected
from shared.contract.intake import ClientExited, ClientRegistered, ConsentWithdrawn
from shared.contract.referral import (
    ClientPlaced, ClientWaitlisted, ReferralAccepted, ReferralCancelled, ReferralCompleted, ReferralDeclined,
    ReferralOverdue, StationCapacityChanged, StationRegistered, TransferRequested, WaitlistExceeded,
)
from shared.envelope import CloudEvent

ANSWERED = {"accepted": ReferralAccepted, "declined": ReferralDeclined, "completed": ReferralCompleted,
            "cancelled": ReferralCancelled}


def to_public(domain_event: Any) -> Iterable[PublicEvent]:
    e = domain_event
    if isinstance(e, Referral.Requested):
        yield TransferRequested(client_id=e.client_id, referral_id=e.originator_id, kind=e.kind, reason=e.reason,
                                requested_at=e.requested_at, due_by=e.due_by, to_station_id=e.to_station_id)
    elif isinstance(e, Referral.StatusChanged):
        fields = dict(client_id=e.client_id, referral_id=e.originator_id, kind=e.kind, at=e.at)
        if e.status in ("declined", "cancelled"):
            fields["reason"] = e.reason
        yield ANSWERED[e.status](**fields)
    elif isinstance(e, Referral.Overdue):
        yield ReferralOverdue(client_id=e.client_id, referral_id=e.originator_id, kind=e.kind, due_by=e.due_by)
    elif isinstance(e, Station.Registered):
        yield StationRegistered(station_id=e.originator_id, tier=e.tier, district_code=e.district_code,
                                streets=e.streets, capacity=e.capacity)
    elif isinstance(e, DistrictPlacement.CapacityChanged):
        yield StationCapacityChanged(station_id=e.station_id, capacity=e.capacity)
    elif isinstance(e, (DistrictPlacement.Placed, DistrictPlacement.Transferred)):
        yield ClientPlaced(client_id=e.client_id, station_id=e.station_id, district_code=e.district_code,
                           placed_on=e.placed_on)
    elif isinstance(e, DistrictPlacement.Returned) and e.station_id is not None:
        # Back from hospital to the place held for them (still waiting: nothing new to say).
        yield ClientPlaced(client_id=e.client_id, station_id=e.station_id, district_code=e.district_code,
                           placed_on=e.returned_on)
    elif isinstance(e, DistrictPlacement.Waitlisted):
        yield ClientWaitlisted(client_id=e.client_id, district_code=e.district_code, waiting_since=e.waiting_since)
    elif isinstance(e, DistrictPlacement.Lapsed):
        yield WaitlistExceeded(client_id=e.client_id, district_code=e.district_code, waiting_since=e.waiting_since)
    # ClientReferrals' events, StationOpened, Left, Reverified, LeftForHospital and the
    # deadline agenda stay internal.


def _consent(scope: Any) -> dict[str, bool]:
    return scope.model_dump()


def handlers(referrals: Any) -> dict[str, Handler]:
    """Foreign public events (by CloudEvents type) -> referral commands. Each command is
    idempotent on a republished copy (new offset, same event): the tracking record only
    stops the same offset."""

    def relapse_detected(ce: CloudEvent) -> None:
        referrals.open_medical_referral(client_id=ce.event.client_id, cause_event_id=ce.id)

    def client_registered(ce: CloudEvent) -> None:
        e: ClientRegistered = ce.event
        referrals.register_client(client_id=e.client_id, district_code=e.district_code, street_code=e.street_code,
                                  registered_on=e.registered_on, consent=_consent(e.consent))

    def client_classified(ce: CloudEvent) -> None:
        e: ClientClassified = ce.event
        referrals.classify_client(client_id=e.client_id, service_category=e.service_category,
                                  medical_referral_needed=e.medical_referral_needed)

    def consent_withdrawn(ce: CloudEvent) -> None:
        e: ConsentWithdrawn = ce.event
        referrals.change_consent(client_id=e.client_id, consent=_consent(e.consent))

    def client_exited(ce: CloudEvent) -> None:
        e: ClientExited = ce.event
        referrals.client_exited(client_id=e.client_id, exited_on=e.exited_on, reason=e.reason)

    return {
        event_type(RelapseDetected): relapse_detected,
        event_type(ClientClassified): client_classified,
        event_type(ClientRegistered): client_registered,
        event_type(ConsentWithdrawn): consent_withdrawn,
        event_type(ClientExited): client_exited,
    }
