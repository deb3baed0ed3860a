"""referral's faust worker: `python -m services.referral worker`. Opens medical referrals on
assessment's RelapseDetected."""
from __future__ import annotations

from services.referral.application import Referrals, create_application
from services.referral.contracts import handlers
from shared.consumer import EventConsumer, build_worker
from shared.settings import ServiceSettings

TOPICS = ["jingkang.assessment.v1"]  # RelapseDetected


def create_consumer(settings: ServiceSettings, referral: Referrals | None = None) -> EventConsumer:
    referral = referral or create_application(settings)
    return EventConsumer(referral, "referral", handlers(referral),
                         attempts=settings.consumer_attempts, backoff_seconds=settings.consumer_backoff_seconds)


def create_worker(settings: ServiceSettings):
    return build_worker(create_consumer(settings), settings, TOPICS)
