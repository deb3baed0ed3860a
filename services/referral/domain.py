"""referral's aggregates: a Referral with its closed-loop state machine, and the
per-client index that lists a client's referrals. Pure: no I/O.

Every referral ends accepted -> completed, declined or cancelled; none is left open
silently (due_by is the deadline for an answer; medical referrals are the green
channel, due within a day)."""
from __future__ import annotations

from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from shared.errors import Conflict, InvalidInput

KINDS = ("medical", "community", "professional", "employment")
ANSWER_WITHIN = {
    "medical": timedelta(days=1),
    "community": timedelta(days=5),
    "professional": timedelta(days=5),
    "employment": timedelta(days=10),
}
# state -> {command: next state}
TRANSITIONS = {
    "requested": {"accept": "accepted", "decline": "declined", "cancel": "cancelled"},
    "accepted": {"complete": "completed", "cancel": "cancelled"},
    "completed": {},
    "declined": {},
    "cancelled": {},
}


class Referral(Aggregate):
    @event("Requested")
    def __init__(self, client_id: UUID, kind: str, reason: str, requested_at: datetime, due_by: datetime,
                 cause_event_id: str | None):
        self.client_id = client_id
        self.kind = kind
        self.reason = reason
        self.requested_at = requested_at
        self.due_by = due_by
        self.cause_event_id = cause_event_id
        self.status = "requested"
        self.outcome_reason: str | None = None

    @classmethod
    def request(cls, *, client_id: UUID, kind: str, reason: str, now: datetime,
                cause_event_id: str | None = None) -> "Referral":
        if kind not in KINDS:
            raise InvalidInput("kind", f"must be one of {', '.join(KINDS)}")
        return cls(client_id, kind, reason, now, now + ANSWER_WITHIN[kind], cause_event_id)

    def _move(self, command: str) -> str:
        allowed = TRANSITIONS[self.status]
        if command not in allowed:
            raise Conflict(f"cannot {command} a referral that is {self.status}")
        return allowed[command]

    def accept(self, *, at: datetime) -> None:
        self._moved(status=self._move("accept"), at=at, reason=None, client_id=self.client_id, kind=self.kind)

    def decline(self, *, reason: str, at: datetime) -> None:
        if not reason.strip():
            raise InvalidInput("reason", "a declined referral needs a reason")
        self._moved(status=self._move("decline"), at=at, reason=reason, client_id=self.client_id, kind=self.kind)

    def complete(self, *, at: datetime) -> None:
        self._moved(status=self._move("complete"), at=at, reason=None, client_id=self.client_id, kind=self.kind)

    def cancel(self, *, reason: str, at: datetime) -> None:
        self._moved(status=self._move("cancel"), at=at, reason=reason or None, client_id=self.client_id, kind=self.kind)

    # client_id and kind repeat on each status event so it can be published on its own.
    @event("StatusChanged")
    def _moved(self, status: str, at: datetime, reason: str | None, client_id: UUID, kind: str) -> None:
        self.status = status
        self.outcome_reason = reason


class ClientReferrals(Aggregate):
    """Index of one client's referrals, fetched by a deterministic id derived from the
    client id; also remembers which events already opened a referral."""

    @staticmethod
    def id_for(client_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"jingkang:referral:client:{client_id}")

    @staticmethod
    def create_id(client_id: UUID) -> UUID:
        return ClientReferrals.id_for(client_id)

    @event("Started")
    def __init__(self, client_id: UUID):
        self.client_id = client_id
        self.referral_ids: list[UUID] = []
        self.causes: list[str] = []

    @event("ReferralAdded")
    def add(self, referral_id: UUID, cause_event_id: str | None) -> None:
        self.referral_ids.append(referral_id)
        if cause_event_id:
            self.causes.append(cause_event_id)
