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
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Callable, Iterable, Sequence
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

OnDue = Callable[[str, UUID, date], Iterable[Any]]
FIRST_LOOKBACK = timedelta(days=400)  # how far back a brand-new calendar starts looking
# A day's agenda is split by subject so that commands scheduling on the same day for
# different clients rarely touch the same aggregate (optimistic concurrency conflicts).
SHARDS = 16


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
            calendar = Calendar(checked_through=today - FIRST_LOOKBACK)
        fired = 0
        day = calendar.checked_through + timedelta(days=1)
        while day <= today:
            fired_that_day = 0
            for shard in range(SHARDS):
                agenda_id = Agenda.id_for(day, shard)
                if agenda_id not in self.repository:
                    continue
                for kind, subject_id in self.repository.get(agenda_id).entries:
                    self.save(*on_due(kind, subject_id, day))  # one entry, one transaction
                    fired_that_day += 1
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
            self.save(calendar)
        return fired
