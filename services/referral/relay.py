"""referral's outbox relay: `python -m services.referral relay` (run exactly one)."""
from __future__ import annotations

from services.referral.application import Referrals, create_application
from services.referral.contracts import to_public
from shared.relay import OutboxRelay, relay_for
from shared.settings import ServiceSettings


def create_relay(settings: ServiceSettings, referrals: Referrals | None = None, producer=None) -> OutboxRelay:
    return relay_for(settings, referrals or create_application(settings), to_public, producer)
