"""assessment's faust worker: `python -m services.assessment worker`. Learns clients from
intake's ClientRegistered."""
from __future__ import annotations

from services.assessment.application import Assessments, create_application
from services.assessment.contracts import handlers
from shared.consumer import EventConsumer, build_worker
from shared.settings import ServiceSettings

TOPICS = ["jingkang.intake.v1"]  # ClientRegistered


def create_consumer(settings: ServiceSettings, assessment: Assessments | None = None) -> EventConsumer:
    assessment = assessment or create_application(settings)
    return EventConsumer(assessment, "assessment", handlers(assessment),
                         attempts=settings.consumer_attempts, backoff_seconds=settings.consumer_backoff_seconds)


def create_worker(settings: ServiceSettings):
    return build_worker(create_consumer(settings), settings, TOPICS)
