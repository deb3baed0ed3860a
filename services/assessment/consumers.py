"""assessment's faust worker: `python -m services.assessment worker`. Learns clients from
intake's ClientRegistered, ClientRelocated and ClientExited, and runs the deadlines (plan
overdue, reassessment due/overdue, dynamic-care contacts) on a timer, on the group's leader."""
from __future__ import annotations

from services.assessment.application import Assessments, create_application
from services.assessment.contracts import handlers
from shared.consumer import EventConsumer, build_worker, consumer_for
from shared.settings import ServiceSettings

TOPICS = ["jingkang.intake.v1"]  # ClientRegistered, ClientRelocated, ConsentWithdrawn, ClientExited


def create_consumer(settings: ServiceSettings, assessments: Assessments | None = None) -> EventConsumer:
    assessments = assessments or create_application(settings)
    return consumer_for(settings, assessments, handlers(assessments))


def create_worker(settings: ServiceSettings):
    assessments = create_application(settings)
    return build_worker(create_consumer(settings, assessments), settings, TOPICS, timers=[assessments.run_deadlines])
