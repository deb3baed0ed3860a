"""What a service's relay reports about itself, kept in the service's own event store so
that the API process (a separate process) can tell from /ready, and an operator's decision
is recorded like any other fact: immutable, attributed (actor and role of the command
context), hash-chained with the rest of the log.

`RelayOutbox` is one aggregate per service store:
* `Blocked(position, reason)`: the relay met an event it cannot publish; everything after
  it waits (per-subject order: a later event about the same client must not overtake it);
* `Withheld(position, reason, note)`: an operator decided that event will not be published;
  the relay publishes the public `EventWithheld` marker in its place and moves on;
* `Resumed(position)`: the relay published past the position it was blocked at.
The relay writes Blocked and Resumed once per incident, not per retry."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from shared.contract.withheld import WITHHOLD_REASONS
from shared.errors import Conflict, InvalidInput, NotReady

NOTE_MAX = 500


class RelayOutbox(Aggregate):
    """The relay's blocked state and the operator's withholding decisions."""

    ID = uuid5(NAMESPACE_URL, "jingkang:relay-outbox")

    @staticmethod
    def create_id() -> UUID:
        return RelayOutbox.ID

    @event("Opened")
    def __init__(self) -> None:
        self.blocked_at: int | None = None
        self.reason: str | None = None
        self.blocked_since: Any = None
        self.withheld: dict[str, str] = {}  # position (text: JSON keys) -> reason code

    @event("Blocked")
    def blocked(self, position: int, reason: str, at: datetime) -> None:
        self.blocked_at, self.reason, self.blocked_since = position, reason, at

    @event("Resumed")
    def resumed(self, position: int) -> None:
        self.blocked_at = self.reason = self.blocked_since = None

    def withhold(self, position: int, reason: str, note: str) -> None:
        if reason not in WITHHOLD_REASONS:
            raise InvalidInput("reason", f"must be one of {', '.join(WITHHOLD_REASONS)}")
        if len(note) > NOTE_MAX or not note.strip():
            raise InvalidInput("note", f"say why, in 1 to {NOTE_MAX} characters (kept internal, never published)")
        if self.blocked_at is None:
            raise Conflict("the relay is not blocked: only the event it is blocked at can be withheld")
        if position != self.blocked_at:
            raise Conflict(f"the relay is blocked at position {self.blocked_at}, not {position}: only that event "
                           "can be withheld")
        if str(position) in self.withheld:
            raise Conflict(f"position {position} is already withheld")
        self._withheld(position=position, reason=reason, note=note)

    @event("Withheld")
    def _withheld(self, position: int, reason: str, note: str) -> None:
        self.withheld[str(position)] = reason

    def withheld_at(self, position: int) -> str | None:
        return self.withheld.get(str(position))


def outbox_of(app: Any) -> RelayOutbox | None:
    """The service's RelayOutbox, or None while its relay has never been blocked."""
    return app.repository.get(RelayOutbox.ID) if RelayOutbox.ID in app.repository else None


def relay_check(app: Any):
    """A /ready check: raises NotReady naming the position and the reason while the
    service's relay is blocked (it reads what the relay recorded in the store)."""
    def check() -> None:
        outbox = outbox_of(app)
        if outbox is not None and outbox.blocked_at is not None:
            raise NotReady(f"the relay is blocked at position {outbox.blocked_at} ({outbox.reason}) since "
                           f"{outbox.blocked_since.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}; see README Operations")

    return check
