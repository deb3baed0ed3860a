"""The one place notification maps its internal events to public ones, and foreign public
events (referral's TransferRequested) to its commands."""
from __future__ import annotations

from typing import Any, Iterable

from services.notification.domain import Notification
from shared.consumer import Handler
from shared.contract import PublicEvent, event_type
from shared.contract.notification import NotificationSent
from shared.contract.referral import TransferRequested
from shared.envelope import CloudEvent


def to_public(domain_event: Any) -> Iterable[PublicEvent]:
    e = domain_event
    if isinstance(e, Notification.Sent):
        yield NotificationSent(client_id=e.client_id, notification_id=e.originator_id, kind=e.kind,
                               channel=e.channel, recipient=e.recipient, sent_at=e.sent_at)
    # Scheduled and Failed stay internal: the contract has no public form for them yet.


def handlers(notifications: Any) -> dict[str, Handler]:
    """Foreign public events (by CloudEvents type) -> notification commands."""

    def transfer_requested(ce: CloudEvent) -> None:
        e: TransferRequested = ce.event
        notifications.notify_transfer_requested(client_id=e.client_id, referral_id=e.referral_id, kind=e.kind,
                                                reason=e.reason, due_by=e.due_by, cause_event_id=ce.id)

    return {event_type(TransferRequested): transfer_requested}
