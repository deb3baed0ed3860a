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

REASONS = {"decline": "no bed available", "cancel": "client moved away"}


def request(kind: str = "medical", now: datetime = REQUESTED_AT) -> Referral:
    return Referral.request(client_id=uuid4(), kind=kind, reason="relapse detected", now=now)


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
    assert (changed.status, changed.at, changed.reason, changed.client_id, changed.kind) == (
        LEGAL[(state, command)], ANSWERED_AT, REASONS.get(command), referral.client_id, "medical")


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


@pytest.mark.parametrize("reason", ["", "   ", "\t\n"])
def test_declining_without_a_reason_is_invalid_input_and_changes_nothing(reason):
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
