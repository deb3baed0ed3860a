"""assessment's deadlines as scenarios on a FixedClock (DESIGN.md §4): a plan within 30 days of
registration (PlanOverdue), a process assessment every 90 days (ReassessmentDue, then
ReassessmentOverdue after the grace period), dynamic-care follow-up contacts at the client's
cadence. Each fires once per due date, is cancelled by the thing happening, survives a restart
(the state is in the store) and fires for a client registered while the service was down.
The worker's timer is `run_deadlines()`; here the test calls it, as a tick would."""
from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest

from services.assessment.application import Assessments, create_application
from services.assessment.consumers import create_consumer
from services.assessment.contracts import to_public
from services.assessment.domain import CONTACT_DUE, PLAN_OVERDUE, REASSESSMENT_DUE, REASSESSMENT_OVERDUE
from shared.clock import FixedClock
from shared.contract.assessment import (
    DynamicCareContactDue, FollowUpContactRecorded, PlanOverdue, ReassessmentDue, ReassessmentOverdue,
)
from shared.contract.intake import ClientExited, ClientRegistered, ConsentScope
from shared.envelope import encode, to_cloudevent
from shared.settings import load_settings

DEADLINES = (PlanOverdue, ReassessmentDue, ReassessmentOverdue, DynamicCareContactDue)
INTAKE_TOPIC = "jingkang.intake.v1"


def settings(store: str = "memory://", **extra: str):
    return load_settings("assessment", {"JINGKANG_ASSESSMENT_STORE": store,
                                        **{f"JINGKANG_ASSESSMENT_{k}": v for k, v in extra.items()}})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def app(clock) -> Assessments:
    application = create_application(settings(), clock=clock)
    yield application
    application.close()


def published(app: Assessments) -> list:
    return [p for n in app.recorder.select_notifications(start=1, limit=10_000)
            for p in to_public(app.mapper.to_domain_event(n))]


def deadlines(app: Assessments) -> list[tuple[str, date]]:
    """The deadline events published so far, as (name, due on)."""
    return [(type(p).__name__, p.due_on) for p in published(app) if isinstance(p, DEADLINES)]


def register(app: Assessments, clock: FixedClock, registered_on: date | None = None) -> UUID:
    client_id = uuid4()
    assert app.open_record(client_id=client_id, district_code="110105", street_code="110105001",
                           registered_on=registered_on or clock.today())
    return client_id


def assess(app: Assessments, client_id: UUID, kind: str = "baseline", stability: str = "stable", risk_level: int = 1,
           willing: bool = True) -> None:
    app.complete_assessment(client_id, kind=kind, stability=stability, risk_level=risk_level, willing=willing,
                            functional_score=55, assessor="staff-9")


def agree_plan(app: Assessments, client_id: UUID) -> None:
    app.agree_plan(client_id, goals=["G1"], services=["social_skills"], agreed_by="client")


def on_day(clock: FixedClock, start: date, day: int) -> None:
    """Move the clock to `day` days after `start` (never backwards)."""
    target = start + timedelta(days=day)
    assert target >= clock.today()
    clock.advance(days=(target - clock.today()).days)


# --- the plan: within 30 days of registration -----------------------------------------------------


def test_plan_overdue_fires_once_on_day_31_when_no_plan_was_agreed(app, clock):
    # Given a client registered today, with no plan
    registered = clock.today()
    client_id = register(app, clock)
    # When the days pass up to day 29, and day 30 (the last day allowed), then nothing fires
    for day in (0, 29, 30):
        on_day(clock, registered, day)
        app.run_deadlines()
        assert deadlines(app) == [], f"day {day}"
    # When day 31 comes, then PlanOverdue says the plan was due on day 30
    on_day(clock, registered, 31)
    app.run_deadlines()
    assert deadlines(app) == [("PlanOverdue", registered + timedelta(days=30))]
    [overdue] = [p for p in published(app) if isinstance(p, PlanOverdue)]
    assert (overdue.client_id, overdue.registered_on) == (client_id, registered)
    # When the timer ticks again that day and later, then it does not fire again
    app.run_deadlines()
    on_day(clock, registered, 45)
    app.run_deadlines()
    assert len(deadlines(app)) == 1
    # And the record still shows the missed due date
    assert app.get_record(client_id).next_due()["plan_due_on"] == registered + timedelta(days=30)


def test_a_plan_agreed_in_time_means_no_plan_overdue(app, clock):
    registered = clock.today()
    client_id = register(app, clock)
    # Given the baseline and a plan agreed on day 29
    on_day(clock, registered, 29)
    assess(app, client_id)
    agree_plan(app, client_id)
    # When day 31 comes, then nothing is overdue
    on_day(clock, registered, 31)
    app.run_deadlines()
    assert deadlines(app) == []


def test_the_plan_deadline_is_a_setting(clock):
    app = create_application(settings(PLAN_DAYS="10"), clock=clock)
    registered = clock.today()
    register(app, clock)
    on_day(clock, registered, 10)
    app.run_deadlines()
    assert deadlines(app) == []
    on_day(clock, registered, 11)
    app.run_deadlines()
    assert deadlines(app) == [("PlanOverdue", registered + timedelta(days=10))]


# --- reassessment: every 90 days, overdue after the grace period ------------------------------------


def test_reassessment_due_on_day_90_and_overdue_after_the_grace_period(app, clock):
    # Given a client assessed (and planned) today
    assessed = clock.today()
    client_id = register(app, clock)
    assess(app, client_id)
    agree_plan(app, client_id)
    # On day 89 nothing is due; by day 91 ReassessmentDue has fired for day 90
    on_day(clock, assessed, 89)
    app.run_deadlines()
    assert deadlines(app) == []
    on_day(clock, assessed, 91)
    app.run_deadlines()
    due_on = assessed + timedelta(days=90)
    assert deadlines(app) == [("ReassessmentDue", due_on)]
    [due] = [p for p in published(app) if isinstance(p, ReassessmentDue)]
    assert due.last_assessed_on == assessed
    # The 14-day grace period runs to day 104; on day 105 the reassessment is overdue, once
    on_day(clock, assessed, 104)
    app.run_deadlines()
    assert len(deadlines(app)) == 1
    on_day(clock, assessed, 105)
    app.run_deadlines()
    app.run_deadlines()
    on_day(clock, assessed, 130)
    app.run_deadlines()
    assert deadlines(app) == [("ReassessmentDue", due_on), ("ReassessmentOverdue", due_on)]


def test_a_new_assessment_moves_the_reassessment(app, clock):
    # Given a baseline on day 0 and a process assessment on day 80
    start = clock.today()
    client_id = register(app, clock)
    assess(app, client_id)
    agree_plan(app, client_id)
    on_day(clock, start, 80)
    assess(app, client_id, kind="process")
    # When day 91 and day 110 come, then nothing is due: the clock restarted on day 80
    for day in (91, 110):
        on_day(clock, start, day)
        app.run_deadlines()
    assert deadlines(app) == []
    # When day 170 comes, then the reassessment is due, counted from day 80
    on_day(clock, start, 170)
    app.run_deadlines()
    assert deadlines(app) == [("ReassessmentDue", start + timedelta(days=170))]
    [due] = [p for p in published(app) if isinstance(p, ReassessmentDue)]
    assert due.last_assessed_on == start + timedelta(days=80)


def test_an_assessment_after_the_reminder_stops_the_overdue(app, clock):
    start = clock.today()
    client_id = register(app, clock)
    assess(app, client_id)
    agree_plan(app, client_id)
    on_day(clock, start, 95)
    app.run_deadlines()
    assess(app, client_id, kind="process")  # within the grace period
    on_day(clock, start, 120)
    app.run_deadlines()
    assert deadlines(app) == [("ReassessmentDue", start + timedelta(days=90))]


def test_the_grace_period_is_a_setting(clock):
    app = create_application(settings(REASSESSMENT_GRACE_DAYS="7"), clock=clock)
    start = clock.today()
    client_id = register(app, clock)
    assess(app, client_id)
    agree_plan(app, client_id)
    on_day(clock, start, 97)
    app.run_deadlines()
    assert [name for name, _ in deadlines(app)] == ["ReassessmentDue"]
    on_day(clock, start, 98)
    app.run_deadlines()
    assert [name for name, _ in deadlines(app)] == ["ReassessmentDue", "ReassessmentOverdue"]


# --- dynamic-care contacts --------------------------------------------------------------------------


def test_dynamic_care_contacts_follow_the_cadence_until_reclassified(app, clock):
    # Given an unstable client in dynamic care: a contact within 2 weeks
    start = clock.today()
    client_id = register(app, clock)
    assess(app, client_id, stability="unstable", risk_level=2)
    agree_plan(app, client_id)
    on_day(clock, start, 13)
    app.run_deadlines()
    assert deadlines(app) == []
    # Then contacts fall due on day 14 and day 28, each once
    for day in (14, 15, 28, 29):
        on_day(clock, start, day)
        app.run_deadlines()
    assert deadlines(app) == [("DynamicCareContactDue", start + timedelta(days=14)),
                              ("DynamicCareContactDue", start + timedelta(days=28))]
    assert {p.cadence_days for p in published(app) if isinstance(p, DynamicCareContactDue)} == {14}
    # When a process assessment on day 30 finds the client stable and willing (community rehabilitation)
    on_day(clock, start, 30)
    assess(app, client_id, kind="process", stability="stable", risk_level=1)
    assert app.get_record(client_id).next_due()["contact_due_on"] is None
    # Then no further contacts fall due
    on_day(clock, start, 60)
    app.run_deadlines()
    assert [name for name, _ in deadlines(app)].count("DynamicCareContactDue") == 2


def test_a_stable_unwilling_client_at_risk_0_is_contacted_every_three_months(app, clock):
    start = clock.today()
    client_id = register(app, clock)
    assess(app, client_id, stability="stable", risk_level=0, willing=False)
    agree_plan(app, client_id)
    on_day(clock, start, 89)
    app.run_deadlines()
    assert deadlines(app) == []
    on_day(clock, start, 91)
    app.run_deadlines()
    # The contact and the reassessment fall on the same day: both fire, from one agenda
    assert sorted(deadlines(app)) == [("DynamicCareContactDue", start + timedelta(days=90)),
                                      ("ReassessmentDue", start + timedelta(days=90))]


def test_a_contact_that_reached_the_client_starts_the_next_interval(app, clock):
    # Given a basically stable, unwilling client in dynamic care: contacts monthly
    start = clock.today()
    client_id = register(app, clock)
    assess(app, client_id, stability="basically_stable", risk_level=1, willing=False)
    assert app.get_record(client_id).next_due()["contact_due_on"] == start + timedelta(days=30)
    # When the worker reaches the client by phone on day 20
    on_day(clock, start, 20)
    record = app.record_contact(client_id, method="phone", outcome="reached", staff="staff-9")
    # Then the next contact is due a month after that call, not on day 30
    assert record.next_due()["contact_due_on"] == start + timedelta(days=50)
    for day in (30, 31, 49):
        on_day(clock, start, day)
        app.run_deadlines()
    assert [name for name, _ in deadlines(app)].count("DynamicCareContactDue") == 0
    on_day(clock, start, 50)
    app.run_deadlines()
    assert [d for d in deadlines(app) if d[0] == "DynamicCareContactDue"] == [
        ("DynamicCareContactDue", start + timedelta(days=50))]
    # And the contact is public without the worker's id
    [contact] = [p for p in published(app) if isinstance(p, FollowUpContactRecorded)]
    assert (contact.contacted_on, contact.method, contact.outcome, contact.next_contact_due_on) == (
        start + timedelta(days=20), "phone", "reached", start + timedelta(days=50))
    assert "staff-9" not in contact.model_dump_json()


def test_a_contact_that_did_not_reach_the_client_leaves_the_due_date(app, clock):
    start = clock.today()
    client_id = register(app, clock)
    assess(app, client_id, stability="unstable", risk_level=3)
    on_day(clock, start, 10)
    record = app.record_contact(client_id, method="home_visit", outcome="not_reached", staff="staff-9")
    # The contact is on the record, but the reminder still comes on day 14
    assert [c["outcome"] for c in record.contacts] == ["not_reached"]
    assert record.next_due()["contact_due_on"] == start + timedelta(days=14)
    on_day(clock, start, 14)
    app.run_deadlines()
    assert [d for d in deadlines(app) if d[0] == "DynamicCareContactDue"] == [
        ("DynamicCareContactDue", start + timedelta(days=14))]


def test_a_contact_survives_a_restart_and_its_reminder_moves_with_it(clock, tmp_path):
    store = f"sqlite:///{tmp_path / 'assessment.sqlite'}"
    start = clock.today()
    first = create_application(settings(store), clock=clock)
    client_id = register(first, clock)
    assess(first, client_id, stability="basically_stable", risk_level=1, willing=False)
    on_day(clock, start, 5)
    first.record_contact(client_id, method="video_call", outcome="reached", staff="staff-9")
    first.close()
    # After a restart, day 30 (the old due date) brings nothing; day 35 brings the reminder
    second = create_application(settings(store), clock=clock)
    try:
        on_day(clock, start, 30)
        second.run_deadlines()
        assert not [d for d in deadlines(second) if d[0] == "DynamicCareContactDue"]
        on_day(clock, start, 35)
        second.run_deadlines()
        assert [d for d in deadlines(second) if d[0] == "DynamicCareContactDue"] == [
            ("DynamicCareContactDue", start + timedelta(days=35))]
    finally:
        second.close()


# --- exit stops everything --------------------------------------------------------------------------


def test_nothing_falls_due_after_the_client_exited(app, clock):
    start = clock.today()
    client_id = register(app, clock)
    assess(app, client_id, stability="unstable", risk_level=4)
    app.record_exit(client_id, reason="transferred", exited_on=clock.today())
    on_day(clock, start, 200)
    app.run_deadlines()
    assert deadlines(app) == []
    assert set(app.get_record(client_id).next_due().values()) == {None}


# --- idempotent, restartable, late ------------------------------------------------------------------


def test_on_due_is_idempotent(app, clock):
    start = clock.today()
    client_id = register(app, clock)
    assess(app, client_id, stability="unstable", risk_level=1)
    on_day(clock, start, 200)
    app.run_deadlines()
    before = app.recorder.max_notification_id()
    # A tick repeated after a crash hands every entry over again: nothing new is recorded
    for kind in (PLAN_OVERDUE, REASSESSMENT_DUE, REASSESSMENT_OVERDUE, CONTACT_DUE, "unknown_kind"):
        assert app.on_due(kind, client_id, clock.today()) == []
    assert app.on_due(PLAN_OVERDUE, uuid4(), clock.today()) == []  # a subject we do not know
    assert app.recorder.max_notification_id() == before


def test_deadlines_survive_a_restart(tmp_path, clock):
    store = f"sqlite:///{tmp_path}/assessment.sqlite"
    start = clock.today()
    # Given a service that registered and assessed a client, ticked on day 20, and stopped
    first = create_application(settings(store), clock=clock)
    client_id = register(first, clock)
    assess(first, client_id)
    on_day(clock, start, 20)
    first.run_deadlines()
    assert deadlines(first) == []
    first.close()

    # When a new process (a new application object on the same store) ticks on day 31
    on_day(clock, start, 31)
    second = create_application(settings(store), clock=clock)
    second.run_deadlines()
    # Then the plan deadline it never scheduled itself fires, once
    assert deadlines(second) == [("PlanOverdue", start + timedelta(days=30))]
    second.close()

    # When yet another restart ticks the same day, and then on day 91, then nothing repeats
    third = create_application(settings(store), clock=clock)
    third.run_deadlines()
    assert len(deadlines(third)) == 1
    on_day(clock, start, 91)
    third.run_deadlines()
    assert deadlines(third) == [("PlanOverdue", start + timedelta(days=30)),
                                ("ReassessmentDue", start + timedelta(days=90))]
    third.close()


def client_registered(client_id: UUID, registered_on: date, clock: FixedClock) -> bytes:
    event = ClientRegistered(
        client_id=client_id, application_id=uuid4(), source="community", district_code="110105",
        street_code="110105001", registered_on=registered_on, free_service_eligible=False, hardship_categories=[],
        consent=ConsentScope(rehabilitation_services=True, share_with_health=False,
                             share_with_disability_and_employment=False),
    )
    return encode(to_cloudevent(event, id=str(uuid4()), time=clock.now(), sequence=1))


def test_a_client_registered_while_the_service_was_down_gets_plan_overdue_at_the_next_tick(app, clock):
    # Given the worker has been ticking (its calendar is checked through today)
    app.run_deadlines()
    # When it learns of a client registered 40 days ago (the message waited while it was down)
    client_id = uuid4()
    registered_on = clock.today() - timedelta(days=40)
    outcome = create_consumer(settings(), app).process(INTAKE_TOPIC, 0, 7, client_registered(client_id, registered_on, clock))
    assert outcome.status == "processed", outcome.reason
    # Then the next tick, the same day, reports the plan overdue since day 30
    app.run_deadlines()
    assert deadlines(app) == [("PlanOverdue", registered_on + timedelta(days=30))]
    app.run_deadlines()
    assert len(deadlines(app)) == 1


def test_an_exit_learned_from_intake_stops_the_plan_deadline(app, clock):
    start = clock.today()
    consumer = create_consumer(settings(), app)
    client_id = uuid4()
    assert consumer.process(INTAKE_TOPIC, 0, 1, client_registered(client_id, start, clock)).status == "processed"
    exited = ClientExited(client_id=client_id, reason="withdrew", exited_on=start + timedelta(days=5))
    raw = encode(to_cloudevent(exited, id=str(uuid4()), time=clock.now(), sequence=2))
    assert consumer.process(INTAKE_TOPIC, 0, 2, raw).status == "processed"
    on_day(clock, start, 40)
    app.run_deadlines()
    assert deadlines(app) == []


@pytest.mark.parametrize("name, value", [("PLAN_DAYS", "0"), ("REASSESSMENT_DAYS", "ninety"),
                                         ("REASSESSMENT_GRACE_DAYS", "-1")])
def test_a_bad_time_limit_setting_stops_the_service_from_starting(name, value):
    from services.assessment.settings import load_settings as load_assessment_settings
    from shared.settings import SettingsError

    with pytest.raises(SettingsError, match=name):
        load_assessment_settings({"JINGKANG_ASSESSMENT_STORE": "memory://", f"JINGKANG_ASSESSMENT_{name}": value})
