"""Scenarios for the Referral aggregate: given a referral brought to a state by legal
commands, when a command is issued, then the new state and event (or the domain error
and nothing recorded). Pure: no store, no I/O, no wall clock.

The expected state machine is written out here on purpose, independently of
services.referral.domain.TRANSITIONS, so a change to the code's table fails a test."""
from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from services.referral.domain import Referral
from shared.clock import FixedClock
from shared.errors import Conflict, InvalidInput

REQUESTED_AT = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
ANSWERED_AT = REQUESTED_AT + timedelta(hours=3)

STATES = ("requested", "accepted", "completed", "declined", "cancelled")
COMMANDS = ("accept", "decline", "complete", "cancel")

# How each start state is reached through legal commands only.
PATH_TO = {
    "requested": (),
    "accepted": ("accept",),
    "completed": ("accept", "complete"),
    "declined": ("decline",),
    "cancelled": ("cancel",),
}

# DESIGN.md §4: every referral ends accepted -> completed, declined or cancelled.
LEGAL = {
    ("requested", "accept"): "accepted",
    ("requested", "decline"): "declined",
    ("requested", "cancel"): "cancelled",
    ("accepted", "complete"): "completed",
    ("accepted", "cancel"): "cancelled",
}
ALL_CASES = [(state, command) for state in STATES for command in COMMANDS]
LEGAL_CASES = [case for case in ALL_CASES if case in LEGAL]
ILLEGAL_CASES = [case for case in ALL_CASES if case not in LEGAL]

REASONS = {"decline": "no_capacity", "cancel": "client_withdrew"}
# A valid request of each kind: its reason code and what the kind requires.
VALID_REQUEST = {
    "medical": dict(reason="relapse_detected"),
    "community": dict(reason="hospital_discharge", consented=True),
    "professional": dict(reason="station_full", to_station_id=uuid4()),
    "employment": dict(reason="employment_ready", wants_work=True),
}


def request(kind: str = "medical", now: datetime = REQUESTED_AT, **overrides) -> Referral:
    fields = {**VALID_REQUEST.get(kind, dict(reason="other")), **overrides}
    return Referral.request(client_id=uuid4(), kind=kind, now=now, **fields)


def issue(referral: Referral, command: str, at: datetime = ANSWERED_AT) -> None:
    if command in REASONS:
        getattr(referral, command)(reason=REASONS[command], at=at)
    else:
        getattr(referral, command)(at=at)


def referral_in(state: str) -> Referral:
    referral = request()
    for command in PATH_TO[state]:
        issue(referral, command)
    assert referral.status == state  # the given holds before the when
    referral.collect_events()  # only what the command under test records matters below
    return referral


def test_the_table_covers_every_state_and_command():
    assert len(ALL_CASES) == 20 and len(LEGAL_CASES) == 5 and len(ILLEGAL_CASES) == 15


@pytest.mark.parametrize("state, command", LEGAL_CASES)
def test_a_legal_command_moves_the_referral_and_records_one_status_change(state, command):
    # given a referral in `state`
    referral = referral_in(state)
    # when `command` is issued
    issue(referral, command)
    # then it is in the next state
    assert referral.status == LEGAL[(state, command)]
    assert referral.outcome_reason == REASONS.get(command)
    # and exactly one StatusChanged carries what the public event needs on its own
    [changed] = referral.collect_events()
    assert isinstance(changed, Referral.StatusChanged)
    assert (changed.status, changed.at, changed.reason, changed.note, changed.client_id, changed.kind) == (
        LEGAL[(state, command)], ANSWERED_AT, REASONS.get(command), None, referral.client_id, "medical")


@pytest.mark.parametrize("state, command", ILLEGAL_CASES)
def test_an_illegal_command_is_a_conflict_and_changes_nothing(state, command):
    # given a referral in `state`
    referral = referral_in(state)
    outcome_reason = referral.outcome_reason
    # when `command` is issued, then it is refused as a conflict naming both
    with pytest.raises(Conflict) as refused:
        issue(referral, command)
    assert command in str(refused.value) and state in str(refused.value)
    # and the referral is untouched, with nothing new to save
    assert referral.status == state
    assert referral.outcome_reason == outcome_reason
    assert referral.collect_events() == []


@pytest.mark.parametrize("kind, answer_within", [
    ("medical", timedelta(days=1)),
    ("community", timedelta(days=5)),
    ("professional", timedelta(days=5)),
    ("employment", timedelta(days=10)),
])
def test_the_deadline_for_an_answer_depends_on_the_kind(kind, answer_within):
    # given the clock at a fixed instant
    clock = FixedClock(REQUESTED_AT)
    # when a referral of `kind` is requested
    referral = request(kind, now=clock.now())
    # then it is open, due by requested_at + the kind's answer time
    assert (referral.status, referral.kind, referral.outcome_reason) == ("requested", kind, None)
    assert referral.requested_at == REQUESTED_AT
    assert referral.due_by == REQUESTED_AT + answer_within
    [requested] = referral.collect_events()
    assert isinstance(requested, Referral.Requested)
    assert (requested.requested_at, requested.due_by) == (REQUESTED_AT, REQUESTED_AT + answer_within)


def test_the_medical_green_channel_is_due_the_next_day_even_across_a_month_end():
    clock = FixedClock(datetime(2026, 1, 31, 23, 30, tzinfo=timezone.utc))
    referral = request("medical", now=clock.now())
    assert referral.due_by == datetime(2026, 2, 1, 23, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("kind", ["housing", "", "Medical"])
def test_an_unknown_kind_is_invalid_input_on_the_kind_field(kind):
    # when a referral of an unknown kind is requested, then it is refused naming "kind"
    with pytest.raises(InvalidInput) as refused:
        request(kind)
    assert refused.value.field == "kind"
    assert "medical" in refused.value.reason


@pytest.mark.parametrize("reason", ["", "   ", "\t\n", "no bed available", "NO_CAPACITY"])
def test_declining_without_a_reason_code_is_invalid_input_and_changes_nothing(reason):
    # given a requested referral
    referral = referral_in("requested")
    # when it is declined with a blank reason
    with pytest.raises(InvalidInput) as refused:
        referral.decline(reason=reason, at=ANSWERED_AT)
    # then the reason field is named and the referral stays open
    assert refused.value.field == "reason"
    assert referral.status == "requested"
    assert referral.collect_events() == []


def test_cancelling_without_a_reason_is_allowed_and_records_no_reason():
    # given an accepted referral
    referral = referral_in("accepted")
    # when it is cancelled with an empty reason
    referral.cancel(reason="", at=ANSWERED_AT)
    # then it is cancelled and the outcome reason is None, not ""
    assert (referral.status, referral.outcome_reason) == ("cancelled", None)


def test_a_full_closed_loop_records_requested_accepted_completed_in_order():
    # given a clock that moves only when told
    clock = FixedClock(REQUESTED_AT)
    referral = request("community", now=clock.now())
    # when the receiver accepts a day later and completes two days after that
    accepted_at = clock.advance(days=1)
    referral.accept(at=accepted_at)
    completed_at = clock.advance(days=2)
    referral.complete(at=completed_at)
    # then the events tell the whole loop, in order, at the clock's instants
    requested, accepted, completed = referral.collect_events()
    assert isinstance(requested, Referral.Requested)
    assert [(e.status, e.at) for e in (accepted, completed)] == [("accepted", accepted_at), ("completed", completed_at)]
    assert referral.status == "completed"


# --- reasons are codes; free text is an internal note -------------------------------

def test_the_domain_codes_are_the_published_ones():
    # The contract is what district integrations validate against; the domain must not
    # accept a code the contract would refuse (domain.py does not import the contract).
    from typing import get_args

    from services.referral.domain import CANCEL_REASONS, DECLINE_REASONS, KINDS, REQUEST_REASONS
    from shared.contract.referral import CancelReason, DeclineReason, ReferralKind, RequestReason
    assert (get_args(RequestReason), get_args(DeclineReason), get_args(CancelReason), get_args(ReferralKind)) == (
        REQUEST_REASONS, DECLINE_REASONS, CANCEL_REASONS, KINDS)


@pytest.mark.parametrize("kind, reason", [
    ("medical", "hospital_discharge"), ("community", "relapse_detected"), ("professional", "employment_ready"),
    ("employment", "station_full"), ("medical", "relapse detected"), ("medical", ""),
])
def test_a_reason_that_does_not_fit_the_kind_is_invalid_input_on_reason(kind, reason):
    with pytest.raises(InvalidInput) as refused:
        request(kind, reason=reason)
    assert refused.value.field == "reason"


@pytest.mark.parametrize("kind", ["medical", "community", "professional", "employment"])
def test_other_is_a_reason_for_every_kind_and_the_free_text_goes_in_the_note(kind):
    referral = request(kind, reason="other", note="  家属电话联系，病房已满  ")
    assert (referral.reason, referral.note) == ("other", "家属电话联系，病房已满")
    [requested] = referral.collect_events()
    assert (requested.reason, requested.note) == ("other", "家属电话联系，病房已满")


def test_a_blank_note_is_no_note_and_a_long_one_is_refused():
    assert request(note="   ").note is None
    with pytest.raises(InvalidInput) as refused:
        request(note="x" * 501)
    assert refused.value.field == "note"


def test_declining_and_cancelling_keep_their_note_apart_from_the_reason_code():
    declined = referral_in("requested")
    declined.decline(reason="other", note="病房已满", at=ANSWERED_AT)
    assert (declined.outcome_reason, declined.outcome_note) == ("other", "病房已满")
    cancelled = referral_in("accepted")
    cancelled.cancel(reason="duplicate", note="opened twice", at=ANSWERED_AT)
    [changed] = cancelled.collect_events()
    assert (changed.reason, changed.note) == ("duplicate", "opened twice")


def test_cancelling_with_an_unknown_code_is_invalid_input_and_changes_nothing():
    referral = referral_in("requested")
    with pytest.raises(InvalidInput) as refused:
        referral.cancel(reason="client moved away", at=ANSWERED_AT)
    assert refused.value.field == "reason"
    assert referral.status == "requested" and referral.collect_events() == []


# --- what each kind requires ----------------------------------------------------------

def test_a_community_referral_needs_consent():
    # Hospital discharge -> community platform only with the client's or guardian's consent.
    with pytest.raises(InvalidInput) as refused:
        request("community", consented=False)
    assert refused.value.field == "consent"
    assert request("community").consented is True


def test_an_employment_referral_needs_the_wish_to_work():
    with pytest.raises(InvalidInput) as refused:
        request("employment", wants_work=False)
    assert refused.value.field == "wants_work"


def test_a_professional_referral_names_its_station_and_only_it_does():
    with pytest.raises(InvalidInput) as refused:
        request("professional", to_station_id=None)
    assert refused.value.field == "to_station_id"
    with pytest.raises(InvalidInput) as refused:
        request("medical", to_station_id=uuid4())
    assert refused.value.field == "to_station_id"


# --- the deadline for an answer ---------------------------------------------------------

@pytest.mark.parametrize("hours, overdue", [(23, False), (24, True), (25, True)])
def test_an_unanswered_medical_referral_is_overdue_from_its_deadline_on_once(hours, overdue):
    referral = referral_in("requested")
    now = REQUESTED_AT + timedelta(hours=hours)
    assert referral.mark_overdue(now=now) is overdue
    events = referral.collect_events()
    assert len(events) == int(overdue)
    if overdue:
        assert isinstance(events[0], Referral.Overdue)
        assert (events[0].due_by, events[0].kind, events[0].client_id) == (referral.due_by, "medical", referral.client_id)
        # a repeated tick raises nothing more
        assert referral.mark_overdue(now=now + timedelta(days=1)) is False
        assert referral.collect_events() == []


@pytest.mark.parametrize("state", ["accepted", "completed", "declined", "cancelled"])
def test_an_answered_referral_is_never_overdue(state):
    referral = referral_in(state)
    assert referral.mark_overdue(now=REQUESTED_AT + timedelta(days=30)) is False
    assert referral.collect_events() == []


def test_an_overdue_referral_can_still_be_answered():
    referral = referral_in("requested")
    referral.mark_overdue(now=REQUESTED_AT + timedelta(days=2))
    referral.accept(at=REQUESTED_AT + timedelta(days=2))
    assert (referral.status, referral.overdue) == ("accepted", True)
