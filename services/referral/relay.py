"""referral's outbox relay: `python -m services.referral relay` (run exactly one)."""
from __future__ import annotations

from services.referral.application import Referrals, create_application
from services.referral.contracts import to_public
from shared.relay import OutboxRelay, make_producer
from shared.settings import ServiceSettings


def create_relay(settings: ServiceSettings, referral: Referrals | None = None, producer=None) -> OutboxRelay:
    return OutboxRelay(referral or create_application(settings), "referral", to_public,
                       producer or make_producer(settings.kafka_bootstrap), batch_size=settings.relay_batch_size)
