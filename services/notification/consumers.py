"""notification's faust worker: `python -m services.notification worker`. Consumes all five
public topics: reminders from intake, assessment, referral and funding events; the
directory of where clients, contracts and stations belong and what consent allows; and
every event a webhook subscription wants, forwarded as it came. Its timer (on the group's
leader only) sends reminders whose day came and attempts webhook deliveries that are due,
so a slow or failing subscriber never holds up the partitions."""
from __future__ import annotations

from services.notification.application import Notifications, create_application
from services.notification.contracts import handlers
from shared.consumer import EventConsumer, build_worker, consumer_for
from shared.settings import ServiceSettings
from shared.topics import public_topics

TOPICS = public_topics()  # all five, its own too (NotificationSent may be forwarded)


def create_consumer(settings: ServiceSettings, notifications: Notifications | None = None) -> EventConsumer:
    notifications = notifications or create_application(settings)
    return consumer_for(settings, notifications, handlers(notifications))


def create_worker(settings: ServiceSettings):
    notifications = create_application(settings)
    return build_worker(create_consumer(settings, notifications), settings, TOPICS,
                        timers=[notifications.run_deadlines])
