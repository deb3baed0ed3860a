"""The one place notification maps its internal events to public ones, and foreign public
events to its commands. Every public event of the five topics also goes to the webhook
subscriptions that want it, as the same CloudEvent JSON the topic carried."""
from __future__ import annotations

from typing import Any, Callable, Iterable

from services.notification.domain import (
    CONTACT_DUE, PLAN_OVERDUE, REASSESSMENT_DUE, REASSESSMENT_OVERDUE, REFERRAL_OVERDUE, WAITLIST_EXCEEDED, Forward,
    Notification,
)
from shared.clock import LOCAL
from shared.consumer import Handler
from shared.contract import REGISTRY, PublicEvent, event_type
from shared.contract.assessment import (
    DynamicCareContactDue, PlanOverdue, ReassessmentDue, ReassessmentOverdue, RehabPlanAgreed,
)
from shared.contract.funding import PurchaseContractPaid, PurchaseContractSigned
from shared.contract.intake import ClientExited, ClientRegistered, ClientRelocated, ConsentRecorded, ConsentWithdrawn
from shared.contract.notification import NotificationFailed, NotificationSent
from shared.contract.referral import (
    ClientPlaced, ClientWaitlisted, ReferralOverdue, StationRegistered, TransferRequested, WaitlistExceeded,
)
from shared.envelope import CloudEvent, encode

# What a public event is about, by the field that is its subject. Application events
# (ApplicationSubmitted, ConsentRecorded, DeadlineBreached) are not forwarded: before
# registration no consent is known.
ABOUT = {"client_id": "client", "contract_id": "contract", "station_id": "station"}


def to_public(domain_event: Any) -> Iterable[PublicEvent]:
    e = domain_event
    # A contract's notifications (payments made) have no client: NotificationSent@v1 and
    # NotificationFailed@v1 require one, so those stay internal (visible through the API).
    if isinstance(e, Notification.Sent) and e.client_id is not None:
        yield NotificationSent(client_id=e.client_id, notification_id=e.originator_id, kind=e.kind,
                               channel=e.channel, recipient=e.recipient, sent_at=e.sent_at)
    elif isinstance(e, Notification.Failed) and getattr(e, "client_id", None) is not None:
        yield NotificationFailed(client_id=e.client_id, notification_id=e.originator_id, kind=e.kind,
                                 channel=e.channel, reason=e.reason, failed_at=e.at)
    # Scheduled and Cancelled notifications, the directory, subscriptions (with their
    # secrets) and deliveries stay internal.


def forwardable_types() -> dict[str, str]:
    """CloudEvents type -> what it is about, for every public type a webhook may receive."""
    return {t: ABOUT[cls.SUBJECT] for t, cls in REGISTRY.items() if cls.SUBJECT in ABOUT}


def forward_of(ce: CloudEvent, consent_exempt: bool = False) -> Forward | None:
    """The event as it goes to webhook subscribers: the same CloudEvent JSON as on the topic
    (encoding the parsed attributes gives back the relay's bytes)."""
    about = ABOUT.get(type(ce.event).SUBJECT)
    if about is None:
        return None
    return Forward(event_id=ce.id, event_type=ce.type, about=about, subject_id=getattr(ce.event, type(ce.event).SUBJECT),
                   body=encode(ce.attributes).decode(), consent_exempt=consent_exempt)


def handlers(notifications: Any) -> dict[str, Handler]:
    """Foreign public events (by CloudEvents type) -> notification commands. Each handler
    is one command, so one save: the Kafka tracking record is atomic with what it caused."""
    n = notifications

    def forward_only(ce: CloudEvent) -> None:
        n.forward_event(forward_of(ce))

    # -- intake ------------------------------------------------------------------------
    def client_registered(ce: CloudEvent) -> None:
        e: ClientRegistered = ce.event
        n.register_client(client_id=e.client_id, application_id=e.application_id, district_code=e.district_code,
                          consent=e.consent.model_dump(), guardian=e.source == "guardian",
                          registered_on=e.registered_on, forward=forward_of(ce))

    def consent_recorded(ce: CloudEvent) -> None:
        e: ConsentRecorded = ce.event
        n.note_consent_signer(application_id=e.application_id, signed_by=e.signed_by)

    def client_relocated(ce: CloudEvent) -> None:
        e: ClientRelocated = ce.event
        n.relocate_client(client_id=e.client_id, district_code=e.district_code, forward=forward_of(ce))

    def consent_withdrawn(ce: CloudEvent) -> None:
        e: ConsentWithdrawn = ce.event
        n.change_consent(client_id=e.client_id, consent=e.consent.model_dump(),
                         forward=forward_of(ce, consent_exempt=True))

    def client_exited(ce: CloudEvent) -> None:
        n.client_exited(client_id=ce.event.client_id, forward=forward_of(ce))

    # -- assessment --------------------------------------------------------------------
    def reminder(kind: str, occurrence: Callable[[Any], Any], due_on: Callable[[Any], Any]) -> Handler:
        def handle(ce: CloudEvent) -> None:
            e = ce.event
            n.remind_client(kind=kind, client_id=e.client_id, occurrence=str(occurrence(e)), due_on=due_on(e),
                            cause_event_id=ce.id, reference_id=getattr(e, "referral_id", None), forward=forward_of(ce))
        return handle

    def plan_agreed(ce: CloudEvent) -> None:
        e: RehabPlanAgreed = ce.event
        n.plan_agreed(client_id=e.client_id, forward=forward_of(ce))

    # -- referral ----------------------------------------------------------------------
    def transfer_requested(ce: CloudEvent) -> None:
        e: TransferRequested = ce.event
        n.notify_transfer_requested(client_id=e.client_id, referral_id=e.referral_id, kind=e.kind,
                                    reason=e.reason, due_by=e.due_by, cause_event_id=ce.id, forward=forward_of(ce))

    def client_placed(ce: CloudEvent) -> None:
        e: ClientPlaced = ce.event
        n.place_client(client_id=e.client_id, station_id=e.station_id, district_code=e.district_code,
                       forward=forward_of(ce))

    def client_waitlisted(ce: CloudEvent) -> None:
        e: ClientWaitlisted = ce.event
        n.place_client(client_id=e.client_id, station_id=None, district_code=e.district_code, forward=forward_of(ce))

    def station_registered(ce: CloudEvent) -> None:
        e: StationRegistered = ce.event
        n.locate(about="station", subject_id=e.station_id, district_code=e.district_code, forward=forward_of(ce))

    # -- funding -----------------------------------------------------------------------
    def contract_signed(ce: CloudEvent) -> None:
        e: PurchaseContractSigned = ce.event
        n.locate(about="contract", subject_id=e.contract_id, district_code=e.district_code, station_id=e.station_id,
                 forward=forward_of(ce))

    def contract_paid(ce: CloudEvent) -> None:
        e: PurchaseContractPaid = ce.event
        n.notify_payment(contract_id=e.contract_id, payment_id=e.payment_id, cause_event_id=ce.id,
                         forward=forward_of(ce))

    def local_day(at):
        return at.astimezone(LOCAL).date()

    specific: dict[type[PublicEvent], Handler] = {
        ClientRegistered: client_registered,
        ConsentRecorded: consent_recorded,
        ClientRelocated: client_relocated,
        ConsentWithdrawn: consent_withdrawn,
        ClientExited: client_exited,
        PlanOverdue: reminder(PLAN_OVERDUE, lambda e: e.due_on, lambda e: e.due_on),
        ReassessmentDue: reminder(REASSESSMENT_DUE, lambda e: e.due_on, lambda e: e.due_on),
        ReassessmentOverdue: reminder(REASSESSMENT_OVERDUE, lambda e: e.due_on, lambda e: e.due_on),
        DynamicCareContactDue: reminder(CONTACT_DUE, lambda e: e.due_on, lambda e: e.due_on),
        RehabPlanAgreed: plan_agreed,
        TransferRequested: transfer_requested,
        ReferralOverdue: reminder(REFERRAL_OVERDUE, lambda e: e.referral_id, lambda e: local_day(e.due_by)),
        # One reminder per stay on the list (referral owns the 90-day rule; nothing is "due").
        WaitlistExceeded: reminder(WAITLIST_EXCEEDED, lambda e: e.waiting_since, lambda e: None),
        ClientPlaced: client_placed,
        ClientWaitlisted: client_waitlisted,
        StationRegistered: station_registered,
        PurchaseContractSigned: contract_signed,
        PurchaseContractPaid: contract_paid,
    }
    routes = {event_type(cls): handler for cls, handler in specific.items()}
    # Everything else that a subscription may want is only forwarded.
    for t in forwardable_types():
        routes.setdefault(t, forward_only)
    return routes
