"""notification's HTTP API (FastAPI): read-only; notifications are caused by events."""
from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from services.notification.application import Notifications, create_application
from services.notification.domain import Notification
from shared.api import broker_reachable, create_service_api
from shared.settings import ServiceSettings


class NotificationOut(BaseModel):
    notification_id: UUID
    kind: str
    channel: str
    recipient: str
    status: Literal["scheduled", "sent", "failed"]
    scheduled_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, n: Notification) -> "NotificationOut":
        return cls(notification_id=n.id, kind=n.kind, channel=n.channel, recipient=n.recipient, status=n.status,
                   scheduled_at=n.scheduled_at, sent_at=n.sent_at)


class NotificationList(BaseModel):
    notifications: list[NotificationOut]


def create_app(settings: ServiceSettings, notifications: Notifications | None = None) -> FastAPI:
    notifications = notifications or create_application(settings)
    api = create_service_api(
        "Jingkang notification",
        "Reminders and their delivery through channels (log in development).",
        checks={"event_store": notifications.ping, "kafka": lambda: broker_reachable(settings.kafka_bootstrap)},
    )

    def get_notifications() -> Notifications:
        return notifications

    @api.get("/v1/notifications", response_model=NotificationList, tags=["notifications"])
    def list_notifications(client_id: UUID, notifications: Notifications = Depends(get_notifications)):
        """A client's notifications, oldest first."""
        return NotificationList(notifications=[NotificationOut.of(n) for n in notifications.list_for_client(client_id)])

    @api.get("/v1/notifications/{notification_id}", response_model=NotificationOut, tags=["notifications"])
    def get_notification(notification_id: UUID, notifications: Notifications = Depends(get_notifications)):
        return NotificationOut.of(notifications.get_notification(notification_id))

    return api
