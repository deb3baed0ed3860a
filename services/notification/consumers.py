"""notification's faust worker: `python -m services.notification worker`. Notifies the
receiving side of referral's TransferRequested."""
from __future__ import annotations

from services.notification.application import Notifications, create_application
from services.notification.contracts import handlers
from shared.consumer import EventConsumer, build_worker
from shared.settings import ServiceSettings

TOPICS = ["jingkang.referral.v1"]  # TransferRequested


def create_consumer(settings: ServiceSettings, notifications: Notifications | None = None) -> EventConsumer:
    notifications = notifications or create_application(settings)
    return EventConsumer(notifications, "notification", handlers(notifications),
                         attempts=settings.consumer_attempts, backoff_seconds=settings.consumer_backoff_seconds)


def create_worker(settings: ServiceSettings):
    return build_worker(create_consumer(settings), bootstrap=settings.kafka_bootstrap, topics=TOPICS,
                        dead_letter_topic=settings.dead_letter_topic, datadir=f"{settings.data_dir}/faust-{settings.service}")
