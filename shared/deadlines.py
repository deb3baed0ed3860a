"""Deadlines on the injectable clock: "30 days after registration", "90 days after the
last assessment", "a day to answer a medical referral".

A command that starts a deadline calls `app.schedule(kind, subject_id, day)` and saves
the returned Agenda with its other aggregates (one transaction). The worker calls
`app.run_due(on_due)` on a timer: for every day from the last one checked through today,
it hands each entry of that day's Agenda to the service's `on_due(kind, subject_id, day)`,
which returns the aggregates it changed; those and the Calendar's new position are saved
together. So a deadline fires after a restart, and one whose day is already past when it
is scheduled (an event that arrived while the service was down) fires at the next tick.
`on_due` must be idempotent (check the aggregate's state): a tick can repeat after a crash.

Each entry is handled in isolation: one that raises (a bug, a conflicting write, an
aggregate in a state nobody foresaw) saves nothing of its own, is recorded on the Calendar
with its reason (`EntryFailed`, logged once) and the others of the tick proceed. A failed
entry of a day already passed is tried again at the next ticks, up to MAX_ENTRY_ATTEMPTS,
then given up (`EntryAbandoned`, an error in the log): it never holds the calendar back.
"""
from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any, Callable, Iterable, Sequence
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from shared.errors import DomainError
from shared.metrics import DEADLINE_FAILURES

log = logging.getLogger("jingkang.deadlines")

OnDue = Callable[[str, UUID, date], Iterable[Any]]
FIRST_LOOKBACK = timedelta(days=400)  # how far back a brand-new calendar starts looking
# A day's agenda is split by subject so that commands scheduling on the same day for
# different clients rarely touch the same aggregate (optimistic concurrency conflicts).
SHARDS = 16
MAX_ENTRY_ATTEMPTS = 5  # a failed entry of a past day is tried at this many ticks in all


class Agenda(Aggregate):
    """What falls due on one day (for one shard of subjects)."""

    @staticmethod
    def id_for(day: date, shard: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"jingkang:agenda:{day.isoformat()}:{shard}")

    @staticmethod
    def shard_of(subject_id: UUID) -> int:
        return subject_id.int % SHARDS

    @staticmethod
    def create_id(day: date, shard: int) -> UUID:
        return Agenda.id_for(day, shard)

    @event("Opened")
    def __init__(self, day: date, shard: int):
        self.day = day
        self.shard = shard
        # Pairs as lists, not tuples: a snapshot (JSON) gives back lists, and the membership
        # test in schedule_all must answer the same whether the agenda came from one or not.
        self.entries: list[list] = []  # [kind, subject_id]

    @event("Scheduled")
    def schedule(self, kind: str, subject_id: UUID) -> None:
        self.entries.append([kind, subject_id])


class Calendar(Aggregate):
    """How far this service has checked its agendas."""

    ID = uuid5(NAMESPACE_URL, "jingkang:calendar")

    @staticmethod
    def create_id() -> UUID:
        return Calendar.ID

    @event("Started")
    def __init__(self, checked_through: date):
        self.checked_through = checked_through

    @event("Checked")
    def checked(self, day: date) -> None:
        self.checked_through = day

    @property
    def failures(self) -> dict[str, dict[str, Any]]:
        """Entries that raised, by key, with their reason and attempts (calendars recorded
        before this existed have none)."""
        return self.__dict__.setdefault("_failures", {})

    @staticmethod
    def key(kind: str, subject_id: UUID, day: date) -> str:
        return f"{kind}:{subject_id}:{day.isoformat()}"

    @event("EntryFailed")
    def entry_failed(self, kind: str, subject_id: UUID, day: date, reason: str, attempts: int) -> None:
        self.failures[self.key(kind, subject_id, day)] = {"kind": kind, "subject_id": subject_id, "day": day,
                                                          "reason": reason, "attempts": attempts}

    @event("EntryRecovered")
    def entry_recovered(self, key: str) -> None:
        self.failures.pop(key, None)

    @event("EntryAbandoned")
    def entry_abandoned(self, key: str, reason: str) -> None:
        self.failures.pop(key, None)


AGENDA_SNAPSHOT_INTERVAL = 50


class Deadlines:
    """Mixin for a ServiceApplication."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A day's agenda gains an event per deadline scheduled that day (every registration,
        # every referral): a snapshot every AGENDA_SNAPSHOT_INTERVAL events keeps loading it
        # cheap however busy the day (bench/README.md, "Where the time goes").
        cls.snapshotting_intervals = {Agenda: AGENDA_SNAPSHOT_INTERVAL, **(getattr(cls, "snapshotting_intervals", None) or {})}

    def schedule(self, kind: str, subject_id: UUID, day: date) -> Agenda:
        (agenda,) = self.schedule_all([(kind, subject_id, day)])
        return agenda

    def schedule_all(self, entries: Sequence[tuple[str, UUID, date]]) -> list[Agenda]:
        """The agendas to save with the command's aggregates, for (kind, subject_id, day)
        entries; entries that land on the same agenda share one object."""
        agendas: dict[UUID, Agenda] = {}
        for kind, subject_id, day in entries:
            # A day already past (the event arrived late) goes on today's agenda, which
            # every tick checks, so it still fires.
            day = max(day, self.clock.today())
            shard = Agenda.shard_of(subject_id)
            agenda_id = Agenda.id_for(day, shard)
            if agenda_id not in agendas:
                agendas[agenda_id] = (self.repository.get(agenda_id) if agenda_id in self.repository
                                      else Agenda(day=day, shard=shard))
            agenda = agendas[agenda_id]
            if [kind, subject_id] not in agenda.entries:
                agenda.schedule(kind=kind, subject_id=subject_id)
        return list(agendas.values())

    def run_due(self, on_due: OnDue) -> int:
        """Fire everything due up to today; return how many entries were handed over.
        on_due returns the aggregates it changed (they are saved at once)."""
        today = self.clock.today()
        if Calendar.ID in self.repository:
            calendar = self.repository.get(Calendar.ID)
        else:
            calendar = Calendar(checked_through=self._first_agenda_day(today) - timedelta(days=1))
        if calendar.checked_through >= today:
            # The clock went back (only the development clock does: `make demo` gives the demo
            # district a past): days from today on are checked again as they come, or what is
            # scheduled on them would never fire. Entries are safe to repeat.
            calendar.checked(day=today - timedelta(days=1))
        fired = self._retry_failed(on_due, calendar)
        day = calendar.checked_through + timedelta(days=1)
        while day <= today:
            fired_that_day = 0
            for shard in range(SHARDS):
                agenda_id = Agenda.id_for(day, shard)
                if agenda_id not in self.repository:
                    continue
                for kind, subject_id in self.repository.get(agenda_id).entries:
                    reason = self._fire(on_due, kind, subject_id, day)
                    if reason is None:
                        fired_that_day += 1
                    elif Calendar.key(kind, subject_id, day) not in calendar.failures:
                        log.error("deadline %s of %s on %s failed: %s; the others proceed", kind, subject_id, day, reason)
                        calendar.entry_failed(kind=kind, subject_id=subject_id, day=day, reason=reason, attempts=1)
            fired += fired_that_day
            # Today is checked again at every tick: entries may still be added to it. A past
            # day that fired something is recorded at once (a crash repeats at most that day);
            # quiet days are passed over in one record at the end, not one event per day.
            if day < today and fired_that_day:
                calendar.checked(day=day)
                self.save(calendar)
            day += timedelta(days=1)
        yesterday = today - timedelta(days=1)
        if calendar.checked_through < yesterday:
            calendar.checked(day=yesterday)
        if calendar.pending_events:
            self.save(calendar)
        return fired

    def _first_agenda_day(self, today: date) -> date:
        """Where a brand-new calendar starts: the earliest day any agenda is for (one read of
        the agendas' opening events), at most FIRST_LOOKBACK back; today when there is none.
        Instead of looking for 16 agendas on each of 400 days (6,400 reads at a worker's
        first tick, in every service)."""
        days = [fields["day"] for _, _, fields in self.replay(["day"], topics=[get_topic(Agenda.Opened)])]  # type: ignore[attr-defined]
        return min(max(min(days), today - FIRST_LOOKBACK), today) if days else today

    def _fire(self, on_due: OnDue, kind: str, subject_id: UUID, day: date) -> str | None:
        """Hand one entry over and save what it changed, in its own transaction; None, or
        why it failed (nothing of it was saved)."""
        try:
            self.save(*on_due(kind, subject_id, day))
            return None
        except Exception as e:  # isolated: recorded by the caller, the tick goes on
            DEADLINE_FAILURES.labels(type(self).__name__, kind).inc()
            # A domain error's message names ids and rules; other messages may quote values.
            return f"{type(e).__name__}: {e}"[:300] if isinstance(e, DomainError) else type(e).__name__

    def _retry_failed(self, on_due: OnDue, calendar: Calendar) -> int:
        """Try again the failed entries of days the agenda loop no longer reads."""
        fired = 0
        for key, failure in list(calendar.failures.items()):
            if failure["day"] > calendar.checked_through:
                continue  # its day is still read by the agenda loop
            kind, subject_id, day = failure["kind"], failure["subject_id"], failure["day"]
            reason = self._fire(on_due, kind, subject_id, day)
            if reason is None:
                calendar.entry_recovered(key=key)
                fired += 1
            elif failure["attempts"] + 1 >= MAX_ENTRY_ATTEMPTS:
                log.error("deadline %s of %s on %s given up after %d attempts: %s", kind, subject_id, day,
                          failure["attempts"] + 1, reason)
                calendar.entry_abandoned(key=key, reason=reason)
            else:
                calendar.entry_failed(kind=kind, subject_id=subject_id, day=day, reason=reason,
                                      attempts=failure["attempts"] + 1)
        return fired
