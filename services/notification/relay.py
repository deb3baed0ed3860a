"""notification's outbox relay: `python -m services.notification relay` (run exactly one)."""
from __future__ import annotations

from services.notification.application import Notifications, create_application
from services.notification.contracts import to_public
from shared.relay import OutboxRelay, relay_for
from shared.settings import ServiceSettings


def create_relay(settings: ServiceSettings, notifications: Notifications | None = None, producer=None) -> OutboxRelay:
    return relay_for(settings, notifications or create_application(settings), to_public, producer)
