"""referral's faust worker: `python -m services.referral worker`. Learns clients from
intake (ClientRegistered, ConsentWithdrawn, ClientExited) and assessment
(ClientClassified, RelapseDetected): places community_rehab clients at a station or on
the district's waitlist, opens medical referrals on relapse. Its timer raises
ReferralOverdue and WaitlistExceeded when their day comes (on the group's leader only)."""
from __future__ import annotations

from services.referral.application import Referrals, create_application
from services.referral.contracts import handlers
from shared.consumer import EventConsumer, build_worker, consumer_for
from shared.settings import ServiceSettings

TOPICS = ["jingkang.intake.v1", "jingkang.assessment.v1"]


def create_consumer(settings: ServiceSettings, referrals: Referrals | None = None) -> EventConsumer:
    referrals = referrals or create_application(settings)
    return consumer_for(settings, referrals, handlers(referrals))


def create_worker(settings: ServiceSettings):
    referrals = create_application(settings)
    return build_worker(create_consumer(settings, referrals), settings, TOPICS, timers=[referrals.run_deadlines])
