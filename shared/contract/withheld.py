"""The marker a relay publishes in place of a stored event it cannot publish, once an
operator has withheld it (`python -m shared.relayctl`, README "Operations"). The stored
event stays in the service's log unchanged; subscribers learn that the event at this
`sequence` about this subject exists and will not come, so they never wait for it nor
mistake the gap for a loss. One type per topic: jingkang.<service>.EventWithheld.v1."""
from __future__ import annotations

from typing import Literal

from shared.contract.base import PublicEvent

SERVICES = ("intake", "assessment", "referral", "funding", "notification", "supervision")
WITHHOLD_REASONS = ("too_large", "unpublishable")
WithholdReason = Literal["too_large", "unpublishable"]


class EventWithheld(PublicEvent):
    """An event of this service's log (at the CloudEvent's `sequence`, about `subject_id`)
    was not published: an operator withheld it because it could not be (too large for
    the broker, or it cannot be put in its public form). Keyed like the event it stands for."""

    SUBJECT = "subject_id"
    subject_id: str
    withheld_type: str | None = None  # the public type it would have had, when known
    reason: WithholdReason


def _for(service: str) -> type[EventWithheld]:
    return type(f"{service.title()}EventWithheld", (EventWithheld,),
                {"__module__": __name__, "__doc__": EventWithheld.__doc__, "SERVICE": service, "NAME": "EventWithheld"})


WITHHELD: dict[str, type[EventWithheld]] = {service: _for(service) for service in SERVICES}
