"""The one place assessment maps internal events to public ones, and foreign public
events (intake's ClientRegistered, ClientRelocated, ConsentWithdrawn, ClientExited) to its commands.

Kept internal on purpose: the plan's goals (free text that could name a person), the
assessor and the reporter of a relapse (staff ids), the functional score (AssessmentCompleted
v1 has no field for it; adding one would break v1 readers), and the record's own
bookkeeping (Opened, Relocated, Exited, RelapseResolved)."""
from __future__ import annotations

from typing import Any, Iterable

from services.assessment.domain import ClientRecord
from shared.consumer import Handler
from shared.contract import PublicEvent, event_type
from shared.contract.assessment import (
    AssessmentCompleted, AssessmentCompletedV2, ClientClassified, DynamicCareContactDue, FollowUpContactRecorded, PlanOverdue, ReassessmentDue, ReassessmentOverdue,
    RehabPlanAgreed, RelapseDetected, ServiceSessionDelivered,
)
from shared.contract.intake import ClientExited, ClientRegistered, ClientRelocated, ConsentWithdrawn
from shared.envelope import CloudEvent


def to_public(domain_event: Any) -> Iterable[PublicEvent]:
    e = domain_event
    if isinstance(e, ClientRecord.AssessmentCompleted):
        v1 = dict(client_id=e.originator_id, assessment_id=e.assessment_id, kind=e.kind, stability=e.stability,
                  risk_level=e.risk_level, willing=e.willing, service_category=e.service_category,
                  medical_referral_needed=e.medical_referral_needed, assessed_on=e.assessed_on)
        yield AssessmentCompleted(**v1)  # v1 stays published until its subscribers have moved to v2
        yield AssessmentCompletedV2(**v1, functional_score=e.functional_score)
    elif isinstance(e, ClientRecord.Classified):
        yield ClientClassified(client_id=e.originator_id, service_category=e.service_category,
                               medical_referral_needed=e.medical_referral_needed, previous_category=e.previous_category)
    elif isinstance(e, ClientRecord.RelapseDetected):
        yield RelapseDetected(client_id=e.originator_id, detected_at=e.detected_at, stability=e.stability,
                              risk_level=e.risk_level, district_code=e.district_code)
    elif isinstance(e, ClientRecord.PlanAgreed):  # never the goals
        yield RehabPlanAgreed(client_id=e.originator_id, plan_version=e.plan_version, services=e.services,
                              agreed_by=e.agreed_by, agreed_on=e.agreed_on)
    elif isinstance(e, ClientRecord.PlanOverdue):
        yield PlanOverdue(client_id=e.originator_id, registered_on=e.registered_on, due_on=e.due_on)
    elif isinstance(e, ClientRecord.ReassessmentDue):
        yield ReassessmentDue(client_id=e.originator_id, last_assessed_on=e.last_assessed_on, due_on=e.due_on)
    elif isinstance(e, ClientRecord.ReassessmentOverdue):
        yield ReassessmentOverdue(client_id=e.originator_id, last_assessed_on=e.last_assessed_on, due_on=e.due_on)
    elif isinstance(e, ClientRecord.ContactDue):
        yield DynamicCareContactDue(client_id=e.originator_id, due_on=e.due_on, cadence_days=e.cadence_days)
    elif isinstance(e, ClientRecord.ContactRecorded):  # never the staff id
        yield FollowUpContactRecorded(client_id=e.originator_id, contact_id=e.contact_id, contacted_on=e.contacted_on,
                                      method=e.method, outcome=e.outcome, next_contact_due_on=e.next_contact_due_on)
    elif isinstance(e, ClientRecord.SessionDelivered):
        yield ServiceSessionDelivered(client_id=e.originator_id, session_id=e.session_id, station_id=e.station_id,
                                      service_type=e.service_type, session_date=e.session_date, minutes=e.minutes,
                                      mode=e.mode, attendance=e.attendance)


def handlers(assessments: Any) -> dict[str, Handler]:
    """Foreign public events (by CloudEvents type) -> assessment commands. Each is a no-op
    when repeated (a republished copy arrives at a new offset)."""

    def client_registered(ce: CloudEvent) -> None:
        registered: ClientRegistered = ce.event
        assessments.open_record(client_id=registered.client_id, district_code=registered.district_code,
                                street_code=registered.street_code, registered_on=registered.registered_on,
                                consent=registered.consent.model_dump())

    def client_relocated(ce: CloudEvent) -> None:
        moved: ClientRelocated = ce.event
        assessments.relocate_client(moved.client_id, district_code=moved.district_code,
                                    street_code=moved.street_code, relocated_on=moved.relocated_on)

    def consent_withdrawn(ce: CloudEvent) -> None:
        withdrawn: ConsentWithdrawn = ce.event
        assessments.change_consent(withdrawn.client_id, consent=withdrawn.consent.model_dump(),
                                   changed_on=withdrawn.withdrawn_on)

    def client_exited(ce: CloudEvent) -> None:
        exited: ClientExited = ce.event
        assessments.record_exit(exited.client_id, reason=exited.reason, exited_on=exited.exited_on)

    return {event_type(ClientRegistered): client_registered, event_type(ClientRelocated): client_relocated,
            event_type(ClientExited): client_exited, event_type(ConsentWithdrawn): consent_withdrawn}
