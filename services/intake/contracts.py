"""The one place intake maps its internal events to public ones (shared.contract.intake),
and referral's public events to intake commands. Personal identifiers (the identity field:
applicant and guardian) are deliberately absent from every public event; PersonIndex events,
Application.Registered, Client.IdentityRead, Client.IdentityErased, Client.Placed and
Client.Waitlisted stay internal (placement is referral's to publish), and so do the
DuplicateAttempted of both (another district's attempt is shown to the holding district
through the API only: its being public would say the person is in the programme)."""
from __future__ import annotations

from typing import Any, Iterable

from services.intake.domain import Application, Client
from shared.consumer import Handler
from shared.contract import PublicEvent, event_type
from shared.contract.intake import (
    ApplicationSubmitted, ApplicationWithdrawn, ClientExited, ClientRegistered, ClientRelocated, ConsentRecorded,
    ConsentScope, ConsentWithdrawn, DeadlineBreached, IdentityRejected, IdentityVerified, RegistryChecked,
)
from shared.contract.referral import ClientPlaced, ClientWaitlisted
from shared.envelope import CloudEvent


def to_public(domain_event: Any) -> Iterable[PublicEvent]:
    if isinstance(domain_event, Application.Submitted):
        yield ApplicationSubmitted(
            application_id=domain_event.originator_id,
            source=domain_event.source,
            district_code=domain_event.district_code,
            street_code=domain_event.street_code,
            submitted_on=domain_event.submitted_on,
        )
    elif isinstance(domain_event, Application.IdentityVerified):
        yield IdentityVerified(application_id=domain_event.originator_id, method=domain_event.method,
                               verified_on=domain_event.verified_on)
    elif isinstance(domain_event, Application.RegistryChecked):
        yield RegistryChecked(application_id=domain_event.originator_id, status=domain_event.status,
                              checked_on=domain_event.checked_on)
    elif isinstance(domain_event, Application.IdentityRejected):
        yield IdentityRejected(application_id=domain_event.originator_id, reason=domain_event.reason,
                               rejected_on=domain_event.rejected_on)
    elif isinstance(domain_event, Application.Withdrawn):
        yield ApplicationWithdrawn(application_id=domain_event.originator_id, withdrawn_on=domain_event.withdrawn_on)
    elif isinstance(domain_event, Application.DeadlineBreached):
        yield DeadlineBreached(application_id=domain_event.originator_id, deadline=domain_event.kind,
                               due_on=domain_event.due_on)
    elif isinstance(domain_event, Application.ConsentRecorded):
        yield ConsentRecorded(
            application_id=domain_event.originator_id,
            signed_by=domain_event.signed_by,
            scope=ConsentScope(**domain_event.scope),
        )
    elif isinstance(domain_event, Client.DeadlineBreached):
        yield DeadlineBreached(application_id=domain_event.application_id, client_id=domain_event.originator_id,
                               deadline=domain_event.kind, due_on=domain_event.due_on)
    elif isinstance(domain_event, Client.Registered):
        yield ClientRegistered(
            client_id=domain_event.originator_id,
            application_id=domain_event.application_id,
            source=domain_event.source,
            district_code=domain_event.district_code,
            street_code=domain_event.street_code,
            registered_on=domain_event.registered_on,
            free_service_eligible=bool(domain_event.hardship_categories),
            hardship_categories=domain_event.hardship_categories,
            consent=ConsentScope(**domain_event.consent),
        )
    elif isinstance(domain_event, Client.ConsentWithdrawn):
        yield ConsentWithdrawn(client_id=domain_event.originator_id, consent=ConsentScope(**domain_event.consent),
                               withdrawn_on=domain_event.withdrawn_on)
    elif isinstance(domain_event, Client.Relocated):
        yield ClientRelocated(client_id=domain_event.originator_id, district_code=domain_event.district_code,
                              street_code=domain_event.street_code, relocated_on=domain_event.relocated_on)
    elif isinstance(domain_event, Client.Exited):
        yield ClientExited(client_id=domain_event.originator_id, reason=domain_event.reason,
                           exited_on=domain_event.exited_on)


def handlers(intake: Any) -> dict[str, Handler]:
    """Foreign public events (by CloudEvents type) -> intake commands, each a no-op when
    repeated. referral's placement ends the handover time limit; community referrals opening
    applications arrive with the referral loop."""

    def client_placed(ce: CloudEvent) -> None:
        placed: ClientPlaced = ce.event
        intake.record_placement(placed.client_id, station_id=placed.station_id, placed_on=placed.placed_on)

    def client_waitlisted(ce: CloudEvent) -> None:
        waiting: ClientWaitlisted = ce.event
        intake.record_waitlisting(waiting.client_id, waiting_since=waiting.waiting_since)

    return {event_type(ClientPlaced): client_placed, event_type(ClientWaitlisted): client_waitlisted}
