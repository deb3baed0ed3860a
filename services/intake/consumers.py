"""intake's faust worker: `python -m services.intake worker`. Learns from referral's
ClientPlaced / ClientWaitlisted whether a client reached a provider, and runs the
registration and handover time limits (DeadlineBreached) on a timer, on the group's leader."""
from __future__ import annotations

from services.intake.application import Intake, create_application
from services.intake.contracts import handlers
from shared.consumer import EventConsumer, build_worker, consumer_for
from shared.settings import ServiceSettings

TOPICS = ["jingkang.referral.v1"]  # ClientPlaced, ClientWaitlisted


def create_consumer(settings: ServiceSettings, intake: Intake | None = None) -> EventConsumer:
    intake = intake or create_application(settings)
    return consumer_for(settings, intake, handlers(intake))


def create_worker(settings: ServiceSettings):
    intake = create_application(settings)
    return build_worker(create_consumer(settings, intake), settings, TOPICS, timers=[intake.run_deadlines])
