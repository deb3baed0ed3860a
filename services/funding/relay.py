"""funding's outbox relay: `python -m services.funding relay` (run exactly one)."""
from __future__ import annotations

from services.funding.application import Funding, create_application
from services.funding.contracts import to_public
from shared.relay import OutboxRelay, relay_for
from shared.settings import ServiceSettings


def create_relay(settings: ServiceSettings, funding: Funding | None = None, producer=None) -> OutboxRelay:
    return relay_for(settings, funding or create_application(settings), to_public, producer)
