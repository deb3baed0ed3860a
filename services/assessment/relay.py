"""assessment's outbox relay: `python -m services.assessment relay` (run exactly one)."""
from __future__ import annotations

from services.assessment.application import Assessments, create_application
from services.assessment.contracts import to_public
from shared.relay import OutboxRelay, make_producer
from shared.settings import ServiceSettings


def create_relay(settings: ServiceSettings, assessment: Assessments | None = None, producer=None) -> OutboxRelay:
    return OutboxRelay(assessment or create_application(settings), "assessment", to_public,
                       producer or make_producer(settings.kafka_bootstrap), batch_size=settings.relay_batch_size)
