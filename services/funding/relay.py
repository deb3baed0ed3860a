"""funding's outbox relay: `python -m services.funding relay` (run exactly one)."""
from __future__ import annotations

from services.funding.application import Funding, create_application
from services.funding.contracts import to_public
from shared.relay import OutboxRelay, make_producer
from shared.settings import ServiceSettings


def create_relay(settings: ServiceSettings, funding: Funding | None = None, producer=None) -> OutboxRelay:
    return OutboxRelay(funding or create_application(settings), "funding", to_public,
                       producer or make_producer(settings.kafka_bootstrap))
