"""assessment's faust worker: `python -m services.assessment worker`. Learns clients from
intake's ClientRegistered."""
from __future__ import annotations

from services.assessment.application import Assessments, create_application
from services.assessment.contracts import handlers
from shared.consumer import EventConsumer, build_worker, consumer_for
from shared.settings import ServiceSettings

TOPICS = ["jingkang.intake.v1"]  # ClientRegistered


def create_consumer(settings: ServiceSettings, assessments: Assessments | None = None) -> EventConsumer:
    assessments = assessments or create_application(settings)
    return consumer_for(settings, assessments, handlers(assessments))


def create_worker(settings: ServiceSettings):
    return build_worker(create_consumer(settings), settings, TOPICS)
