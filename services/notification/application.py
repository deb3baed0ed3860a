"""The notification Application: schedules notifications, delivers them through a channel
and records the outcome. Every command is get -> call -> save; no HTTP, no Kafka here."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Mapping, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from services.notification.domain import ClientNotifications, Notification
from shared.clock import Clock, SystemClock
from shared.errors import NotFound
from shared.settings import ServiceSettings, store_env
from shared.store import ServiceApplication

# Who must act on a transfer request, by referral kind. TransferRequested carries no
# district or station, so recipients are roles until the contract says where.
TRANSFER_RECIPIENTS = {
    "medical": "hospital",
    "community": "community_platform",
    "professional": "receiving_station",
    "employment": "employment_services",
}


class Channel(Protocol):
    name: str

    def deliver(self, notification: Notification) -> None:
        """Deliver or raise; a raise marks the notification failed."""


class LogChannel:
    """Development channel: one structured log line per delivery. Only pseudonymous
    fields go into it, so the log never holds personal data."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None):
        self.log = logger or logging.getLogger("jingkang.notification.channel")

    def deliver(self, notification: Notification) -> None:
        fields = {"notification_id": str(notification.id), "kind": notification.kind,
                  "recipient": notification.recipient, "client_id": str(notification.client_id)}
        # key=value in the message for plain log files; the same fields as record
        # attributes for structured handlers.
        self.log.info("notification delivered " + " ".join(f"{k}={v}" for k, v in fields.items()), extra=fields)


class Notifications(ServiceApplication):
    name = "notification"

    def __init__(self, env: Mapping[str, str] | None = None, clock: Clock | None = None,
                 channel: Channel | None = None):
        self.channel: Channel = channel or LogChannel()
        super().__init__(env=env, clock=clock)

    def notify_transfer_requested(self, *, client_id: UUID, referral_id: UUID, kind: str, reason: str,
                                  due_by: datetime, cause_event_id: str | None) -> UUID | None:
        """Tell whoever must answer a referral. None if this cause already notified: the
        tracking record stops redeliveries, this stops republished copies of the event.
        `reason` is free text from referral and is deliberately not kept: a notification
        holds no clinical detail."""
        index = self._index(client_id)
        if index.caused_by(cause_event_id):
            return None
        notification = Notification.schedule(
            kind="transfer_requested", client_id=client_id, recipient=TRANSFER_RECIPIENTS.get(kind, "district"),
            channel=self.channel.name, cause_event_id=cause_event_id, scheduled_at=self.clock.now(),
            reference_id=referral_id, due_by=due_by,
        )
        self._deliver(notification)
        index.add(notification.id, cause_event_id)
        # One save: notification, index and (in a consumer) the tracking record are atomic.
        self.save(notification, index)
        return notification.id

    def _deliver(self, notification: Notification) -> None:
        # Delivery happens before the save, so a crash in between repeats it on the
        # redelivered message: at least once, never lost.
        try:
            self.channel.deliver(notification)
        except Exception as e:  # any channel error is a failed delivery, recorded, not raised
            notification.mark_failed(reason=f"{type(e).__name__}: {e}"[:200], at=self.clock.now())
        else:
            notification.mark_sent(sent_at=self.clock.now())

    def get_notification(self, notification_id: UUID) -> Notification:
        try:
            notification = self.repository.get(notification_id)
        except AggregateNotFoundError:
            raise NotFound("notification", notification_id) from None
        if not isinstance(notification, Notification):
            raise NotFound("notification", notification_id)
        return notification

    def list_for_client(self, client_id: UUID) -> list[Notification]:
        """A client's notifications, oldest first (empty for an unknown client)."""
        index_id = ClientNotifications.id_for(client_id)
        if index_id not in self.repository:
            return []
        return [self.get_notification(n) for n in self.repository.get(index_id).notification_ids]

    def _index(self, client_id: UUID) -> ClientNotifications:
        index_id = ClientNotifications.id_for(client_id)
        if index_id in self.repository:
            return self.repository.get(index_id)
        return ClientNotifications(client_id=client_id)


def create_application(settings: ServiceSettings, clock: Clock | None = None,
                       channel: Channel | None = None) -> Notifications:
    return Notifications(env=store_env(settings), clock=clock or SystemClock(settings.clock_file), channel=channel)
