"""assessment's ClientRecord as scenarios (DESIGN.md §4 assessment): classification from
stability, risk grade and willingness; relapse detected once per episode; the order of
assessments (baseline first, nothing after discharge). Pure domain, on a FixedClock."""
from __future__ import annotations

import itertools
from typing import get_args
from datetime import date, timedelta
from uuid import uuid4

import pytest

from services.assessment.domain import BASIC_SERVICES, ClientRecord, Rules, contact_cadence_days
from shared.clock import FixedClock
from shared.contract.assessment import BasicService
from shared.errors import Conflict, InvalidInput

STABILITIES = ("stable", "basically_stable", "unstable")
RISK_LEVELS = range(0, 6)


def policy(stability: str, risk_level: int, willing: bool) -> tuple[str, bool]:
    """The classification rule exactly as DESIGN.md §4 states it -> (category, medical referral)."""
    settled = stability in ("stable", "basically_stable")
    if settled and risk_level in (0, 1, 2) and willing:
        return "community_rehab", False
    if settled and risk_level in (0, 1, 2) and not willing:
        return "dynamic_care", False
    if stability == "unstable" or risk_level in (3, 4, 5):
        return "dynamic_care", True
    raise AssertionError(f"the policy does not cover {stability}/{risk_level}/{willing}")


MATRIX = list(itertools.product(STABILITIES, RISK_LEVELS, (True, False)))
assert len(MATRIX) == 36


class Story:
    """One client's record on a clock of its own; `then()` hands back the new event names."""

    def __init__(self) -> None:
        self.clock = FixedClock()
        self.record = ClientRecord.open(client_id=uuid4(), district_code="110105", street_code="110105001",
                                        registered_on=self.clock.today(), rules=Rules())
        self.record.collect_events()  # Opened: the given

    def assess(self, kind: str, stability: str, risk_level: int, willing: bool = True,
               assessed_on: date | None = None, functional_score: int = 60) -> None:
        self.record.complete_assessment(kind=kind, stability=stability, risk_level=risk_level, willing=willing,
                                        functional_score=functional_score, assessor="staff-17",
                                        assessed_on=assessed_on or self.clock.today(), today=self.clock.today(),
                                        now=self.clock.now(), rules=Rules())

    def then(self) -> list[str]:
        return [type(e).__name__ for e in self.record.collect_events()]

    def events(self) -> list:
        return list(self.record.collect_events())

    def ninety_days_later(self) -> None:
        self.clock.advance(days=90)


# --- the classification matrix ---------------------------------------------------------------


@pytest.mark.parametrize("stability, risk_level, willing", MATRIX,
                         ids=[f"{s}-risk{r}-{'willing' if w else 'unwilling'}" for s, r, w in MATRIX])
def test_the_baseline_assessment_classifies_the_client_by_the_policy(stability, risk_level, willing):
    expected_category, expected_medical = policy(stability, risk_level, willing)
    # Given a newly opened record, when the baseline assessment is completed
    story = Story()
    story.assess("baseline", stability, risk_level, willing)
    # Then the client is classified as the policy says
    assert (story.record.service_category, story.record.medical_referral_needed) == (expected_category, expected_medical)
    completed, classified = [e for e in story.events() if type(e).__name__ in ("AssessmentCompleted", "Classified")]
    assert (completed.service_category, completed.medical_referral_needed) == (expected_category, expected_medical)
    assert (classified.service_category, classified.medical_referral_needed) == (expected_category, expected_medical)
    assert classified.previous_category is None


# --- relapse: once per episode ------------------------------------------------------------------


def test_a_relapse_is_detected_once_per_episode_and_again_after_it_resolves():
    # Given a client assessed stable with risk 1 at entry: no relapse
    story = Story()
    story.assess("baseline", "stable", 1)
    assert story.then() == ["AssessmentCompleted", "Classified"]

    # When a process assessment finds the condition unstable, then a relapse is detected
    story.ninety_days_later()
    story.assess("process", "unstable", 1)
    assert story.then() == ["AssessmentCompleted", "Classified", "RelapseDetected"]
    assert story.record.relapse_episode_open

    # When the next assessment is still unstable with risk 4, then it is the same episode: no second detection
    story.ninety_days_later()
    story.assess("process", "unstable", 4)
    assert story.then() == ["AssessmentCompleted"]

    # When the client is found stable with risk 1 again, then the episode is resolved
    story.ninety_days_later()
    story.assess("process", "stable", 1)
    assert story.then() == ["AssessmentCompleted", "Classified", "RelapseResolved"]
    assert not story.record.relapse_episode_open

    # When risk then rises to 3, then a new relapse is detected
    story.ninety_days_later()
    story.assess("process", "stable", 3)
    assert story.then() == ["AssessmentCompleted", "Classified", "RelapseDetected"]


def test_the_relapse_event_says_when_and_why():
    story = Story()
    story.assess("baseline", "basically_stable", 2)
    story.events()
    story.ninety_days_later()
    story.assess("process", "basically_stable", 5)
    [relapse] = [e for e in story.events() if type(e).__name__ == "RelapseDetected"]
    assert (relapse.detected_at, relapse.stability, relapse.risk_level, relapse.reported) == (
        story.clock.now(), "basically_stable", 5, False)


# --- classification events only on change ----------------------------------------------------


def test_the_client_is_reclassified_only_when_category_or_medical_flag_changes():
    # Given a willing, stable client in community rehabilitation
    story = Story()
    story.assess("baseline", "stable", 0, willing=True)
    assert story.then() == ["AssessmentCompleted", "Classified"]

    # When a process assessment lands in the same class, then no reclassification
    story.assess("process", "basically_stable", 2, willing=True)
    assert story.then() == ["AssessmentCompleted"]

    # When the client becomes unwilling, then the category changes to dynamic care
    story.assess("process", "stable", 1, willing=False)
    [_, classified] = story.events()
    assert (classified.service_category, classified.medical_referral_needed, classified.previous_category) == (
        "dynamic_care", False, "community_rehab")

    # When the condition becomes unstable, then the category stays but the medical flag changes
    story.assess("process", "unstable", 0, willing=False)
    [_, classified, _] = story.events()
    assert (classified.service_category, classified.medical_referral_needed, classified.previous_category) == (
        "dynamic_care", True, "dynamic_care")


# --- refused assessments: an error, and nothing recorded ----------------------------------------


def test_a_second_baseline_is_a_conflict():
    story = Story()
    story.assess("baseline", "stable", 0)
    story.events()
    with pytest.raises(Conflict):
        story.assess("baseline", "stable", 0)
    assert story.then() == [] and len(story.record.assessments) == 1


@pytest.mark.parametrize("kind", ["process", "discharge"])
def test_a_baseline_must_come_first(kind):
    story = Story()
    with pytest.raises(Conflict):
        story.assess(kind, "stable", 0)
    assert story.then() == [] and story.record.assessments == []


@pytest.mark.parametrize("risk_level", [6, -1])
def test_a_risk_grade_outside_0_to_5_is_invalid(risk_level):
    story = Story()
    with pytest.raises(InvalidInput) as refused:
        story.assess("baseline", "stable", risk_level)
    assert refused.value.field == "risk_level"
    assert story.then() == []


def test_an_unknown_stability_or_kind_is_invalid():
    story = Story()
    with pytest.raises(InvalidInput) as refused:
        story.assess("baseline", "fine", 0)
    assert refused.value.field == "stability"
    with pytest.raises(InvalidInput) as refused:
        story.assess("annual", "stable", 0)
    assert refused.value.field == "kind"
    assert story.then() == []


def test_an_assessment_dated_in_the_future_is_invalid():
    story = Story()
    with pytest.raises(InvalidInput) as refused:
        story.assess("baseline", "stable", 0, assessed_on=story.clock.today() + timedelta(days=1))
    assert refused.value.field == "assessed_on"
    assert story.then() == []
    # ...while one dated today, or earlier, is fine
    story.assess("baseline", "stable", 0, assessed_on=story.clock.today() - timedelta(days=3))
    assert story.record.latest["assessed_on"] == story.clock.today() - timedelta(days=3)


@pytest.mark.parametrize("kind", ["process", "discharge", "baseline"])
def test_after_the_discharge_assessment_no_further_assessment_is_accepted(kind):
    # Given a client assessed at entry and at discharge
    story = Story()
    story.assess("baseline", "stable", 0)
    story.ninety_days_later()
    story.assess("discharge", "stable", 0)
    story.events()
    assert story.record.closed and story.record.status == "closed"
    # When another assessment arrives, then it is a conflict and nothing is recorded
    story.ninety_days_later()
    with pytest.raises(Conflict):
        story.assess(kind, "stable", 0)
    assert story.then() == [] and len(story.record.assessments) == 2


# --- functional score and assessor ---------------------------------------------------------------


@pytest.mark.parametrize("score", [-1, 101, True, "60", 60.5], ids=["-1", "101", "bool", "text", "fraction"])
def test_the_functional_score_is_a_whole_number_on_the_psp_scale(score):
    story = Story()
    with pytest.raises(InvalidInput) as refused:
        story.assess("baseline", "stable", 0, functional_score=score)
    assert refused.value.field == "functional_score"
    assert story.then() == []


def test_the_functional_score_and_assessor_are_kept_with_the_assessment():
    story = Story()
    story.assess("baseline", "stable", 0, functional_score=0)
    story.assess("process", "stable", 0, functional_score=100)
    assert [(a["functional_score"], a["assessor"]) for a in story.record.assessments] == [
        (0, "staff-17"), (100, "staff-17")]


@pytest.mark.parametrize("assessor", ["张三", "", " staff", "x" * 65])
def test_the_assessor_is_a_staff_id_not_a_name(assessor):
    story = Story()
    with pytest.raises(InvalidInput) as refused:
        story.record.complete_assessment(kind="baseline", stability="stable", risk_level=0, willing=True,
                                         functional_score=50, assessor=assessor, assessed_on=story.clock.today(),
                                         today=story.clock.today(), now=story.clock.now(), rules=Rules())
    assert refused.value.field == "assessor"
    assert story.then() == []


def test_an_assessment_cannot_be_dated_before_the_previous_one():
    story = Story()
    story.assess("baseline", "stable", 0)
    story.events()
    with pytest.raises(InvalidInput) as refused:
        story.assess("process", "stable", 0, assessed_on=story.clock.today() - timedelta(days=1))
    assert refused.value.field == "assessed_on"
    assert story.then() == []


# --- the dynamic-care contact cadence ------------------------------------------------------------


def cadence_policy(stability: str, risk_level: int, willing: bool) -> int | None:
    """DESIGN.md §4, for dynamic-care clients: within 2 weeks for unstable or risk 3-5, monthly for
    basically stable, every 3 months for stable risk 0; stable risk 1-2 is our documented choice
    (monthly). Community-rehabilitation clients have no contact cadence."""
    if policy(stability, risk_level, willing)[0] == "community_rehab":
        return None
    if stability == "unstable" or risk_level >= 3:
        return 14
    if stability == "basically_stable":
        return 30
    return 90 if risk_level == 0 else 30


@pytest.mark.parametrize("stability, risk_level, willing", MATRIX,
                         ids=[f"{s}-risk{r}-{'willing' if w else 'unwilling'}" for s, r, w in MATRIX])
def test_the_contact_cadence_follows_the_management_norm(stability, risk_level, willing):
    expected = cadence_policy(stability, risk_level, willing)
    assert contact_cadence_days(stability, risk_level, willing) == expected
    # And the assessment sets the next contact that far ahead (none for community rehabilitation)
    story = Story()
    story.assess("baseline", stability, risk_level, willing)
    assert story.record.contact_cadence_days == expected
    assert story.record.contact_due_on == (story.clock.today() + timedelta(days=expected) if expected else None)
    # ...and at least 4 follow-ups a year
    assert expected is None or 365 / expected >= 4


def test_an_assessment_sets_the_reassessment_due_dates():
    story = Story()
    story.assess("baseline", "stable", 1)
    today = story.clock.today()
    assert story.record.next_due() == {
        "plan_due_on": story.record.registered_on + timedelta(days=30),
        "reassessment_due_on": today + timedelta(days=90),
        "reassessment_overdue_on": today + timedelta(days=90 + 14 + 1),
        "contact_due_on": None, "contact_cadence_days": None}
    # A discharge ends the record: nothing more falls due
    story.assess("discharge", "stable", 0)
    assert set(story.record.next_due().values()) == {None}


# --- the rehabilitation plan ---------------------------------------------------------------------


def agree(story: Story, *, goals=("g1",), services=("social_skills",), agreed_by="client", agreed_on=None) -> int:
    return story.record.agree_plan(goals=list(goals), services=list(services), agreed_by=agreed_by,
                                   agreed_on=agreed_on or story.clock.today(), today=story.clock.today())


def test_a_plan_is_agreed_after_the_baseline_and_revised_after_each_process_assessment():
    # Given a new client: no plan before the baseline
    story = Story()
    with pytest.raises(Conflict):
        agree(story)
    assert story.then() == []

    # When the baseline is done, then plan version 1 can be agreed
    story.assess("baseline", "stable", 1)
    story.events()
    assert agree(story, goals=["live independently"], services=["daily_living_skills", "peer_support"]) == 1
    [agreed] = story.events()
    assert (type(agreed).__name__, agreed.plan_version, agreed.services, agreed.agreed_by) == (
        "PlanAgreed", 1, ["daily_living_skills", "peer_support"], "client")
    assert story.record.next_due()["plan_due_on"] is None

    # When staff try to revise it without a new process assessment, then it is a conflict
    with pytest.raises(Conflict):
        agree(story)
    assert story.then() == []

    # When a process assessment is recorded, then version 2 can be agreed (by the guardian), once
    story.ninety_days_later()
    story.assess("process", "basically_stable", 2)
    story.events()
    assert agree(story, agreed_by="guardian", services=["vocational_rehabilitation"]) == 2
    assert story.record.plan["services"] == ["vocational_rehabilitation"]
    with pytest.raises(Conflict):
        agree(story)
    assert story.then() == ["PlanAgreed"]


@pytest.mark.parametrize("overrides, field", [
    ({"goals": []}, "goals"),
    ({"goals": [""]}, "goals"),
    ({"goals": ["x" * 201]}, "goals"),
    ({"goals": ["g"] * 21}, "goals"),
    ({"services": []}, "services"),
    ({"services": ["karaoke"]}, "services"),
    ({"services": ["peer_support", "peer_support"]}, "services"),
    ({"agreed_by": "doctor"}, "agreed_by"),
], ids=["no goals", "empty goal", "long goal", "21 goals", "no services", "unknown service", "service twice",
        "agreed by doctor"])
def test_a_malformed_plan_is_invalid_and_records_nothing(overrides, field):
    story = Story()
    story.assess("baseline", "stable", 1)
    story.events()
    with pytest.raises(InvalidInput) as refused:
        agree(story, **overrides)
    assert refused.value.field == field
    assert story.then() == [] and story.record.plan is None


def test_a_plan_cannot_be_dated_in_the_future_or_before_its_assessment():
    story = Story()
    story.assess("baseline", "stable", 1)
    story.events()
    for day in (story.clock.today() + timedelta(days=1), story.clock.today() - timedelta(days=1)):
        with pytest.raises(InvalidInput) as refused:
            agree(story, agreed_on=day)
        assert refused.value.field == "agreed_on"
    assert story.then() == []


def test_the_plan_draws_on_the_thirteen_services_of_the_contract():
    assert set(BASIC_SERVICES) == set(get_args(BasicService)) and len(BASIC_SERVICES) == 13


# --- service sessions --------------------------------------------------------------------------


def deliver(story: Story, **overrides) -> object:
    args = dict(service_type="social_skills", station_id=STATION, session_date=story.clock.today(), minutes=90,
                mode="group", attendance="attended", today=story.clock.today())
    args.update(overrides)
    return story.record.record_session(**args)


STATION = uuid4()


def test_a_session_is_recorded_with_what_was_delivered():
    story = Story()
    session_id = deliver(story, attendance="no_show", mode="individual")
    [delivered] = story.events()
    assert (type(delivered).__name__, delivered.session_id, delivered.station_id, delivered.attendance,
            delivered.mode) == ("SessionDelivered", session_id, STATION, "no_show", "individual")
    assert story.record.sessions[0]["minutes"] == 90


@pytest.mark.parametrize("overrides, field", [
    ({"minutes": 0}, "minutes"), ({"minutes": 601}, "minutes"), ({"service_type": "karaoke"}, "service_type"),
    ({"mode": "online"}, "mode"), ({"attendance": "late"}, "attendance"),
], ids=["0 minutes", "601 minutes", "unknown service", "unknown mode", "unknown attendance"])
def test_a_malformed_session_is_invalid(overrides, field):
    story = Story()
    with pytest.raises(InvalidInput) as refused:
        deliver(story, **overrides)
    assert refused.value.field == field
    assert story.then() == []


def test_a_session_cannot_be_dated_in_the_future_or_before_registration():
    story = Story()
    for day in (story.clock.today() + timedelta(days=1), story.record.registered_on - timedelta(days=1)):
        with pytest.raises(InvalidInput) as refused:
            deliver(story, session_date=day)
        assert refused.value.field == "session_date"
    assert story.then() == []


def test_no_session_after_the_client_exited_or_was_discharged():
    # Given a client who exited the programme
    story = Story()
    story.assess("baseline", "stable", 0)
    assert story.record.record_exit(reason="moved_away", exited_on=story.clock.today())
    story.events()
    # Then sessions, plans, process assessments and relapse reports are conflicts
    with pytest.raises(Conflict):
        deliver(story)
    with pytest.raises(Conflict):
        agree(story)
    with pytest.raises(Conflict):
        story.assess("process", "stable", 0)
    with pytest.raises(Conflict):
        story.record.report_relapse(reported_by="staff-3", stability=None, risk_level=None, now=story.clock.now())
    assert story.then() == [] and story.record.status == "exited"
    # But the discharge assessment can still be recorded, and it closes the record
    story.assess("discharge", "stable", 0)
    assert story.record.status == "closed"
    with pytest.raises(Conflict):
        deliver(story)


def test_intake_facts_repeated_change_nothing():
    story = Story()
    assert story.record.relocate(district_code="110106", street_code="110106002", relocated_on=story.clock.today())
    assert not story.record.relocate(district_code="110106", street_code="110106002", relocated_on=story.clock.today())
    assert story.record.record_exit(reason="recovered", exited_on=story.clock.today())
    assert not story.record.record_exit(reason="recovered", exited_on=story.clock.today())
    assert story.then() == ["Relocated", "Exited"]
    assert (story.record.district_code, story.record.exit_reason) == ("110106", "recovered")


# --- relapse reported directly --------------------------------------------------------------------


def report(story: Story, stability=None, risk_level=None) -> bool:
    return story.record.report_relapse(reported_by="staff-3", stability=stability, risk_level=risk_level,
                                       now=story.clock.now())


def test_a_reported_relapse_opens_an_episode_once():
    # Given a stable client at risk 1, relocated to another district
    story = Story()
    story.assess("baseline", "stable", 1)
    story.record.relocate(district_code="110106", street_code="110106002", relocated_on=story.clock.today())
    story.events()
    # When a worker reports a relapse with no details, then it is detected: unstable at the last risk
    assert report(story) is True
    [relapse] = story.events()
    assert (relapse.stability, relapse.risk_level, relapse.reported, relapse.reported_by, relapse.district_code) == (
        "unstable", 1, True, "staff-3", "110106")
    # When it is reported again, or an assessment finds it, then it is the same episode
    assert report(story, risk_level=4) is False
    story.assess("process", "unstable", 4)
    assert story.then() == ["AssessmentCompleted", "Classified"]
    # When an assessment finds the client settled, then the episode ends and a new report opens another
    story.assess("process", "basically_stable", 2)
    assert story.then()[-1] == "RelapseResolved"
    assert report(story, risk_level=3) is True
    [relapse] = story.events()
    assert (relapse.stability, relapse.risk_level) == ("basically_stable", 3)


def test_a_reported_relapse_before_any_assessment_is_detected():
    story = Story()
    assert report(story, risk_level=5) is True
    [relapse] = story.events()
    assert (relapse.stability, relapse.risk_level) == ("unstable", 5)


@pytest.mark.parametrize("stability, risk_level, field", [
    ("stable", 1, "stability"), ("fine", None, "stability"), (None, 6, "risk_level"),
])
def test_a_report_that_is_not_a_relapse_is_invalid(stability, risk_level, field):
    story = Story()
    with pytest.raises(InvalidInput) as refused:
        report(story, stability, risk_level)
    assert refused.value.field == field
    assert story.then() == [] and not story.record.relapse_episode_open


# --- deadlines on the record ------------------------------------------------------------------------


def test_each_deadline_reports_once_and_only_when_due():
    story = Story()
    registered = story.record.registered_on
    # The plan is due within 30 days; overdue from day 31
    assert not story.record.report_plan_overdue(registered + timedelta(days=30))
    assert story.record.report_plan_overdue(registered + timedelta(days=31))
    assert not story.record.report_plan_overdue(registered + timedelta(days=32))
    [overdue] = story.events()
    assert (overdue.registered_on, overdue.due_on) == (registered, registered + timedelta(days=30))

    story.assess("baseline", "stable", 1)
    story.events()
    assessed = story.clock.today()
    assert not story.record.report_reassessment_due(assessed + timedelta(days=89))
    assert story.record.report_reassessment_due(assessed + timedelta(days=90))
    assert not story.record.report_reassessment_due(assessed + timedelta(days=91))
    assert not story.record.report_reassessment_overdue(assessed + timedelta(days=104))
    assert story.record.report_reassessment_overdue(assessed + timedelta(days=105))
    assert not story.record.report_reassessment_overdue(assessed + timedelta(days=106))
    assert story.then() == ["ReassessmentDue", "ReassessmentOverdue"]


def test_overdue_without_due_reports_both_in_order():
    story = Story()
    story.assess("baseline", "stable", 1)
    story.events()
    assert story.record.report_reassessment_overdue(story.clock.today() + timedelta(days=200))
    assert story.then() == ["ReassessmentDue", "ReassessmentOverdue"]


def test_a_contact_repeats_at_the_cadence_counted_from_a_late_reminder():
    story = Story()
    story.assess("baseline", "unstable", 1)  # dynamic care, within 2 weeks
    story.events()
    first_due = story.clock.today() + timedelta(days=14)
    assert not story.record.report_contact_due(first_due - timedelta(days=1))
    assert story.record.report_contact_due(first_due)
    assert story.record.contact_due_on == first_due + timedelta(days=14)
    # A reminder 30 days late (the service was down) sets the next one from today, not a burst
    late = first_due + timedelta(days=44)
    assert story.record.report_contact_due(late)
    assert not story.record.report_contact_due(late)
    assert story.record.contact_due_on == late + timedelta(days=14)
    assert [(e.due_on, e.cadence_days) for e in story.events()] == [
        (first_due, 14), (first_due + timedelta(days=14), 14)]
