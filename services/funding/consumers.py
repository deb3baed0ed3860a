"""funding's faust worker: `python -m services.funding worker`. Subscribes to nothing
yet (session accrual arrives later); it runs so every service has the same three processes."""
from __future__ import annotations

from services.funding.application import Funding, create_application
from services.funding.contracts import handlers
from shared.consumer import EventConsumer, build_worker, consumer_for
from shared.settings import ServiceSettings

TOPICS: list[str] = []  # topics whose events handlers() reacts to


def create_consumer(settings: ServiceSettings, funding: Funding | None = None) -> EventConsumer:
    funding = funding or create_application(settings)
    return consumer_for(settings, funding, handlers(funding))


def create_worker(settings: ServiceSettings):
    return build_worker(create_consumer(settings), settings, TOPICS)
