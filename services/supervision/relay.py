"""supervision's outbox relay: `python -m services.supervision relay` (run exactly one):
publishes IndicatorBelowTarget on jingkang.supervision.v1 from the service's event store."""
from __future__ import annotations

from services.supervision.application import Reviews
from services.supervision.contracts import to_public
from shared.relay import OutboxRelay, relay_for
from shared.settings import ServiceSettings, store_env


def create_relay(settings: ServiceSettings, reviews: Reviews | None = None, producer=None) -> OutboxRelay:
    return relay_for(settings, reviews or Reviews(env=store_env(settings)), to_public, producer)
