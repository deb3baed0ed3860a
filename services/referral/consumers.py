"""referral's faust worker: `python -m services.referral worker`. Opens medical referrals on
assessment's RelapseDetected."""
from __future__ import annotations

from services.referral.application import Referrals, create_application
from services.referral.contracts import handlers
from shared.consumer import EventConsumer, build_worker, consumer_for
from shared.settings import ServiceSettings

TOPICS = ["jingkang.assessment.v1"]  # RelapseDetected


def create_consumer(settings: ServiceSettings, referrals: Referrals | None = None) -> EventConsumer:
    referrals = referrals or create_application(settings)
    return consumer_for(settings, referrals, handlers(referrals))


def create_worker(settings: ServiceSettings):
    return build_worker(create_consumer(settings), settings, TOPICS)
