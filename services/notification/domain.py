"""notification's aggregates: a Notification (scheduled, then sent or failed through a
channel) and the per-client index that lists a client's notifications. Pure: no I/O.

A notification carries only pseudonymous data (client id, recipient role, references):
the channel that delivers it must never need a name, phone or diagnosis."""
from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from shared.errors import Conflict, InvalidInput

# Namespace of the index ids: uuid5(NAMESPACE, str(client_id)) finds a client's index
# without a read-model database.
NAMESPACE = uuid5(NAMESPACE_URL, "jingkang:notification:client")


class Notification(Aggregate):
    @event("Scheduled")
    def __init__(self, kind: str, client_id: UUID, recipient: str, channel: str, cause_event_id: str | None,
                 scheduled_at: datetime, reference_id: UUID | None = None, due_by: datetime | None = None):
        self.kind = kind
        self.client_id = client_id
        self.recipient = recipient
        self.channel = channel
        self.cause_event_id = cause_event_id
        self.scheduled_at = scheduled_at
        self.reference_id = reference_id  # what it is about, e.g. the referral id
        self.due_by = due_by  # when the recipient must have acted
        self.status = "scheduled"
        self.sent_at: datetime | None = None
        self.failure_reason: str | None = None

    @classmethod
    def schedule(cls, *, kind: str, client_id: UUID, recipient: str, channel: str, cause_event_id: str | None,
                 scheduled_at: datetime, reference_id: UUID | None = None,
                 due_by: datetime | None = None) -> "Notification":
        for field, value in (("kind", kind), ("recipient", recipient), ("channel", channel)):
            if not value or not value.strip():
                raise InvalidInput(field, "must not be empty")
        return cls(kind, client_id, recipient, channel, cause_event_id, scheduled_at, reference_id, due_by)

    def mark_sent(self, *, sent_at: datetime) -> None:
        if self.status == "sent":
            raise Conflict(f"notification {self.id} was already sent at {self.sent_at}")
        # A failed notification may still be sent by a later retry; sent is final.
        self._sent(sent_at=sent_at, client_id=self.client_id, kind=self.kind, channel=self.channel,
                   recipient=self.recipient)

    # client_id, kind, channel and recipient repeat here so the event can be published on its own.
    @event("Sent")
    def _sent(self, sent_at: datetime, client_id: UUID, kind: str, channel: str, recipient: str) -> None:
        self.status = "sent"
        self.sent_at = sent_at

    def mark_failed(self, *, reason: str, at: datetime) -> None:
        if self.status == "sent":
            raise Conflict(f"notification {self.id} was already sent; it cannot fail")
        self._failed(reason=reason, at=at)

    @event("Failed")
    def _failed(self, reason: str, at: datetime) -> None:
        self.status = "failed"
        self.failure_reason = reason


class ClientNotifications(Aggregate):
    """Index of one client's notifications, fetched by an id derived from the client id;
    also remembers which foreign events already caused a notification."""

    @staticmethod
    def id_for(client_id: UUID) -> UUID:
        return uuid5(NAMESPACE, str(client_id))

    @staticmethod
    def create_id(client_id: UUID) -> UUID:
        return ClientNotifications.id_for(client_id)

    @event("Started")
    def __init__(self, client_id: UUID):
        self.client_id = client_id
        self.notification_ids: list[UUID] = []
        self.causes: list[str] = []

    def caused_by(self, cause_event_id: str | None) -> bool:
        return cause_event_id is not None and cause_event_id in self.causes

    @event("NotificationAdded")
    def add(self, notification_id: UUID, cause_event_id: str | None) -> None:
        self.notification_ids.append(notification_id)
        if cause_event_id:
            self.causes.append(cause_event_id)
