"""intake's outbox relay: `python -m services.intake relay` (run exactly one)."""
from __future__ import annotations

from services.intake.application import Intake, create_application
from services.intake.contracts import to_public
from shared.relay import OutboxRelay, relay_for
from shared.settings import ServiceSettings


def create_relay(settings: ServiceSettings, intake: Intake | None = None, producer=None) -> OutboxRelay:
    return relay_for(settings, intake or create_application(settings), to_public, producer)
