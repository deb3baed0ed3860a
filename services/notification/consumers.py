"""notification's faust worker: `python -m services.notification worker`. Notifies the
receiving side of referral's TransferRequested."""
from __future__ import annotations

from services.notification.application import Notifications, create_application
from services.notification.contracts import handlers
from shared.consumer import EventConsumer, build_worker, consumer_for
from shared.settings import ServiceSettings

TOPICS = ["jingkang.referral.v1"]  # TransferRequested


def create_consumer(settings: ServiceSettings, notifications: Notifications | None = None) -> EventConsumer:
    notifications = notifications or create_application(settings)
    return consumer_for(settings, notifications, handlers(notifications))


def create_worker(settings: ServiceSettings):
    return build_worker(create_consumer(settings), settings, TOPICS)
