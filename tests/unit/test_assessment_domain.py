"""assessment's ClientRecord as scenarios (DESIGN.md §4 assessment): classification from
stability, risk grade and willingness; relapse detected once per episode; the order of
assessments (baseline first, nothing after discharge). Pure domain, on a FixedClock."""
from __future__ import annotations

import itertools
from datetime import date, timedelta
from uuid import uuid4

import pytest

from services.assessment.domain import ClientRecord
from shared.clock import FixedClock
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
        self.record = ClientRecord(client_id=uuid4(), district_code="110105", street_code="110105001",
                                   registered_on=self.clock.today())
        self.record.collect_events()  # Opened: the given

    def assess(self, kind: str, stability: str, risk_level: int, willing: bool = True,
               assessed_on: date | None = None) -> None:
        self.record.complete_assessment(kind=kind, stability=stability, risk_level=risk_level, willing=willing,
                                        assessor="staff-17", assessed_on=assessed_on or self.clock.today(),
                                        now=self.clock.now())

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
    assert story.record.exited
    # When another assessment arrives, then it is a conflict and nothing is recorded
    story.ninety_days_later()
    with pytest.raises(Conflict):
        story.assess(kind, "stable", 0)
    assert story.then() == [] and len(story.record.assessments) == 2
