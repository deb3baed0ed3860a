"""Public events of notification (topic jingkang.notification.v1)."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

from shared.contract.base import PublicEvent


class NotificationSent(PublicEvent):
    SERVICE = "notification"
    NAME = "NotificationSent"
    client_id: UUID
    notification_id: UUID
    kind: str
    channel: str
    recipient: str
    sent_at: datetime


class NotificationFailed(PublicEvent):
    SERVICE = "notification"
    NAME = "NotificationFailed"
    client_id: UUID
    notification_id: UUID
    kind: str
    channel: str
    reason: str
    failed_at: datetime
