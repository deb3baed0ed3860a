"""intake's faust worker: `python -m services.intake worker`. Subscribes to nothing yet;
it runs the registration time limit (DeadlineBreached) on a timer, on the group's leader."""
from __future__ import annotations

from services.intake.application import Intake, create_application
from services.intake.contracts import handlers
from shared.consumer import EventConsumer, build_worker, consumer_for
from shared.settings import ServiceSettings

TOPICS: list[str] = []  # topics whose events handlers() reacts to


def create_consumer(settings: ServiceSettings, intake: Intake | None = None) -> EventConsumer:
    intake = intake or create_application(settings)
    return consumer_for(settings, intake, handlers(intake))


def create_worker(settings: ServiceSettings):
    intake = create_application(settings)
    return build_worker(create_consumer(settings, intake), settings, TOPICS, timers=[intake.run_deadlines])
