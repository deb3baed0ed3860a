"""assessment's outbox relay: `python -m services.assessment relay` (run exactly one)."""
from __future__ import annotations

from services.assessment.application import Assessments, create_application
from services.assessment.contracts import to_public
from shared.relay import OutboxRelay, relay_for
from shared.settings import ServiceSettings


def create_relay(settings: ServiceSettings, assessments: Assessments | None = None, producer=None) -> OutboxRelay:
    return relay_for(settings, assessments or create_application(settings), to_public, producer)
