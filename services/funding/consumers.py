"""funding's faust worker: `python -m services.funding worker`. Accrues assessment's
ServiceSessionDelivered (attended) against the station's contract, or records it as
unfunded; learns station tiers from referral's StationRegistered (subsidies go to
demonstration sites)."""
from __future__ import annotations

from services.funding.application import Funding, create_application
from services.funding.contracts import handlers
from shared.consumer import EventConsumer, build_worker, consumer_for
from shared.settings import ServiceSettings

TOPICS = ["jingkang.assessment.v1", "jingkang.referral.v1"]  # topics whose events handlers() reacts to


def create_consumer(settings: ServiceSettings, funding: Funding | None = None) -> EventConsumer:
    funding = funding or create_application(settings)
    return consumer_for(settings, funding, handlers(funding))


def create_worker(settings: ServiceSettings):
    return build_worker(create_consumer(settings), settings, TOPICS)
