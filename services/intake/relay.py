"""intake's outbox relay: `python -m services.intake relay` (run exactly one)."""
from __future__ import annotations

from services.intake.application import Intake, create_application
from services.intake.contracts import to_public
from shared.relay import OutboxRelay, make_producer
from shared.settings import ServiceSettings


def create_relay(settings: ServiceSettings, intake: Intake | None = None, producer=None) -> OutboxRelay:
    return OutboxRelay(intake or create_application(settings), "intake", to_public,
                       producer or make_producer(settings.kafka_bootstrap), batch_size=settings.relay_batch_size)
