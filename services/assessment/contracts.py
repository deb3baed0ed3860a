"""The one place assessment maps internal events to public ones, and foreign public
events (ClientRegistered) to its commands."""
from __future__ import annotations

from typing import Any, Iterable

from services.assessment.domain import ClientRecord
from shared.consumer import Handler
from shared.contract import PublicEvent, event_type
from shared.contract.assessment import AssessmentCompleted, ClientClassified, RelapseDetected
from shared.contract.intake import ClientRegistered
from shared.envelope import CloudEvent


def to_public(domain_event: Any) -> Iterable[PublicEvent]:
    e = domain_event
    if isinstance(e, ClientRecord.AssessmentCompleted):
        yield AssessmentCompleted(
            client_id=e.originator_id, assessment_id=e.assessment_id, kind=e.kind, stability=e.stability,
            risk_level=e.risk_level, willing=e.willing, service_category=e.service_category,
            medical_referral_needed=e.medical_referral_needed, assessed_on=e.assessed_on,
        )
    elif isinstance(e, ClientRecord.Classified):
        yield ClientClassified(client_id=e.originator_id, service_category=e.service_category,
                               medical_referral_needed=e.medical_referral_needed, previous_category=e.previous_category)
    elif isinstance(e, ClientRecord.RelapseDetected):
        yield RelapseDetected(client_id=e.originator_id, detected_at=e.detected_at, stability=e.stability,
                              risk_level=e.risk_level, district_code=e.district_code)


def handlers(assessments: Any) -> dict[str, Handler]:
    """Foreign public events (by CloudEvents type) -> assessment commands."""

    def client_registered(ce: CloudEvent) -> None:
        registered: ClientRegistered = ce.event
        assessments.open_record(client_id=registered.client_id, district_code=registered.district_code,
                                street_code=registered.street_code, registered_on=registered.registered_on)

    return {event_type(ClientRegistered): client_registered}
