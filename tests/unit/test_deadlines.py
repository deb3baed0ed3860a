"""shared.deadlines on a FixedClock, in memory: what a tick fires and what it records. Every
entry fires once, on or after its day, even when scheduled for a day already past; the
calendar records its progress without one event per quiet day (a new calendar looks 400
days back, which would otherwise be 400 events in every service's history)."""
from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

from shared.clock import FixedClock
from shared.deadlines import Calendar, Deadlines
from shared.store import ServiceApplication


class Reminders(Deadlines, ServiceApplication):
    name = "reminders"

    def __init__(self, clock: FixedClock):
        self.fired: list[tuple[str, object, date]] = []
        super().__init__(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)

    def on_due(self, kind, subject_id, day):
        self.fired.append((kind, subject_id, day))
        return []


def calendar_events(app: Reminders) -> list[str]:
    return [type(app.mapper.to_domain_event(n)).__qualname__ for n in app.notifications()
            if app.mapper.to_domain_event(n).originator_id == Calendar.ID]


def test_a_new_calendar_passes_quiet_days_in_one_record_and_fires_each_entry_once():
    clock = FixedClock()
    app = Reminders(clock)
    today = clock.today()
    subject, later = uuid4(), uuid4()
    app.save(app.schedule("call", subject, today + timedelta(days=3)), app.schedule("visit", later, today + timedelta(days=9)))
    # The first tick: nothing due yet; no agenda is for a day before today, so the calendar
    # starts at yesterday (no record of quiet days at all)
    assert app.run_due(app.on_due) == 0
    assert calendar_events(app) == ["Calendar.Started"]
    assert app.repository.get(Calendar.ID).checked_through == today - timedelta(days=1)
    # Ticks the same day record nothing more
    app.run_due(app.on_due)
    assert calendar_events(app) == ["Calendar.Started"]
    # Ten days later: both entries fire once, on their days, and the calendar moves to yesterday
    clock.advance(days=10)
    assert app.run_due(app.on_due) == 2
    assert app.fired == [("call", subject, today + timedelta(days=3)), ("visit", later, today + timedelta(days=9))]
    assert app.repository.get(Calendar.ID).checked_through == clock.today() - timedelta(days=1)
    assert app.run_due(app.on_due) == 0 and len(app.fired) == 2
    # one record per day that fired something (day 3, day 9 = yesterday), none for the quiet days between
    assert calendar_events(app) == ["Calendar.Started", "Calendar.Checked", "Calendar.Checked"]


def test_a_new_calendar_starts_at_the_earliest_agenda_and_reads_no_day_before_it():
    clock = FixedClock()
    app = Reminders(clock)
    early = uuid4()
    app.save(app.schedule("call", early, clock.today() + timedelta(days=5)))
    clock.advance(days=200)  # the worker's first tick comes long after (a calendar lost, a late start)
    reads: list = []
    select_events = app.recorder.select_events
    app.recorder.select_events = lambda *a, **k: reads.append(a) or select_events(*a, **k)  # counts the real reads
    assert app.run_due(app.on_due) == 1
    assert app.fired == [("call", early, clock.today() - timedelta(days=195))]
    # 16 agendas for each of the 196 days from the first agenda's, not for each of 400 days
    assert 16 * 196 <= len(reads) < 16 * 200


def test_an_entry_scheduled_for_a_day_already_checked_fires_at_the_next_tick():
    clock = FixedClock()
    app = Reminders(clock)
    app.run_due(app.on_due)
    clock.advance(days=5)
    app.run_due(app.on_due)
    # An event that arrived late schedules a deadline 3 days ago: it lands on today's agenda
    late = uuid4()
    app.save(app.schedule("plan_overdue", late, clock.today() - timedelta(days=3)))
    assert app.run_due(app.on_due) == 1
    assert app.fired == [("plan_overdue", late, clock.today())]


def test_after_the_clock_went_back_what_is_scheduled_fires_on_its_day():
    clock = FixedClock()
    app = Reminders(clock)
    clock.advance(days=40)
    app.run_due(app.on_due)  # the calendar is checked through day 39
    clock.advance(days=-150)  # the development clock moved back (the demo district's history)
    waiting = uuid4()
    app.save(app.schedule("waitlist_due", waiting, clock.today() + timedelta(days=90)))
    app.run_due(app.on_due)
    assert app.fired == []
    clock.advance(days=91)  # day 90 from the schedule is behind the calendar's old mark (39)
    assert app.run_due(app.on_due) == 1
    assert app.fired == [("waitlist_due", waiting, clock.today() - timedelta(days=1))]


class Flaky(Reminders):
    """on_due raises for the subjects in `broken` (a bug, a state nobody foresaw)."""

    def __init__(self, clock: FixedClock):
        self.broken: set = set()
        super().__init__(clock)

    def on_due(self, kind, subject_id, day):
        if subject_id in self.broken:
            raise KeyError("something nobody foresaw")
        return super().on_due(kind, subject_id, day)


def test_an_entry_that_raises_is_recorded_and_the_others_of_the_tick_proceed():
    clock = FixedClock()
    app = Flaky(clock)
    today = clock.today()
    bad, good, later = uuid4(), uuid4(), uuid4()
    app.broken = {bad}
    app.save(*app.schedule_all([("call", bad, today), ("call", good, today),
                                ("visit", later, today + timedelta(days=1))]))
    assert app.run_due(app.on_due) == 1
    assert [s for _, s, _ in app.fired] == [good]
    failure = app.repository.get(Calendar.ID).failures[Calendar.key("call", bad, today)]
    assert failure["reason"] == "KeyError" and failure["attempts"] == 1
    # A later tick the same day (today's agenda is read again): the failure is not re-recorded
    app.run_due(app.on_due)
    assert calendar_events(app).count("Calendar.EntryFailed") == 1
    # The next day: the other entry fires even though the bad one still fails
    clock.advance(days=1)
    app.fired.clear()
    app.run_due(app.on_due)
    assert later in [s for _, s, _ in app.fired]


def test_a_failed_entry_is_retried_at_later_ticks_and_given_up_after_the_bound():
    from shared.deadlines import MAX_ENTRY_ATTEMPTS

    clock = FixedClock()
    app = Flaky(clock)
    today = clock.today()
    flaky, hopeless = uuid4(), uuid4()
    app.broken = {flaky, hopeless}
    app.save(*app.schedule_all([("call", flaky, today), ("call", hopeless, today)]))
    app.run_due(app.on_due)
    clock.advance(days=1)
    app.run_due(app.on_due)  # yesterday re-read once more, then checked: the retries take over
    app.broken = {hopeless}  # the cause of one is fixed
    app.run_due(app.on_due)
    assert (("call", flaky, today)) in app.fired
    for _ in range(MAX_ENTRY_ATTEMPTS):
        app.run_due(app.on_due)
    assert app.repository.get(Calendar.ID).failures == {}
    events = calendar_events(app)
    assert events.count("Calendar.EntryRecovered") == 1 and events.count("Calendar.EntryAbandoned") == 1
