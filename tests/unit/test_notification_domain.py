"""Scenarios on notification's aggregates: given its history, when a command, then these
new events (or this error). Pure: no store, no clock, no I/O."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from services.notification.domain import (
    NAMESPACE, ClientNotifications, Delivery, DeliveryBoard, DirectoryEntry, Forward, Notification, RetryPolicy,
    Subscription, retryable,
)
from shared.errors import Conflict, InvalidInput

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
CLIENT = uuid4()


def scheduled() -> Notification:
    return Notification.schedule(kind="transfer_requested", client_id=CLIENT, recipient="hospital", channel="log",
                                 cause_event_id="ce-1", scheduled_at=T0)


def test_a_scheduled_notification_that_is_delivered_is_sent():
    # Given a notification scheduled for the hospital
    n = scheduled()
    assert n.status == "scheduled" and n.sent_at is None
    # When the channel delivered it
    n.mark_sent(sent_at=T0 + timedelta(seconds=1))
    # Then it was scheduled and sent, and the Sent event can be published on its own
    scheduled_event, sent = n.collect_events()
    assert isinstance(scheduled_event, Notification.Scheduled) and scheduled_event.cause_event_id == "ce-1"
    assert isinstance(sent, Notification.Sent)
    assert (sent.client_id, sent.kind, sent.channel, sent.recipient) == (CLIENT, "transfer_requested", "log", "hospital")
    assert n.status == "sent" and n.sent_at == T0 + timedelta(seconds=1)


def test_a_sent_notification_cannot_be_sent_again():
    # Given a sent notification
    n = scheduled()
    n.mark_sent(sent_at=T0)
    n.collect_events()
    # When it is sent again, then it is a conflict and nothing new is recorded
    with pytest.raises(Conflict, match="already sent"):
        n.mark_sent(sent_at=T0 + timedelta(minutes=1))
    with pytest.raises(Conflict):
        n.mark_failed(reason="late error", at=T0)
    assert n.collect_events() == [] and n.sent_at == T0


def test_a_delivery_that_fails_is_recorded_and_a_retry_may_still_send_it():
    # Given a scheduled notification
    n = scheduled()
    # When the channel failed
    n.mark_failed(reason="ConnectionError: channel down", at=T0)
    # Then it is failed with the reason, not sent
    assert n.status == "failed" and n.failure_reason == "ConnectionError: channel down" and n.sent_at is None
    assert isinstance(n.collect_events()[-1], Notification.Failed)
    # And a later retry that succeeds sends it
    n.mark_sent(sent_at=T0 + timedelta(hours=1))
    assert n.status == "sent"


def test_a_notification_needs_a_recipient():
    with pytest.raises(InvalidInput) as e:
        Notification.schedule(kind="transfer_requested", client_id=CLIENT, recipient=" ", channel="log",
                              cause_event_id=None, scheduled_at=T0)
    assert e.value.field == "recipient"


def test_the_client_index_has_a_deterministic_id_and_remembers_causes():
    index = ClientNotifications(client_id=CLIENT)
    assert index.id == ClientNotifications.id_for(CLIENT)
    from uuid import uuid5
    assert index.id == uuid5(NAMESPACE, str(CLIENT))
    first = uuid4()
    index.add(first, "ce-1")
    assert index.notification_ids == [first] and index.caused_by("ce-1") and not index.caused_by("ce-2")


# --- reminders for a later day --------------------------------------------------------------

def test_a_scheduled_reminder_can_be_cancelled_but_not_after_it_was_sent():
    # Given a reminder for day 25, addressed to a role
    n = Notification.schedule(kind="plan_due", client_id=CLIENT, recipient="district:110105", channel="log",
                              cause_event_id=None, scheduled_at=T0, recipient_role="station")
    # When the plan was agreed first, then it is cancelled and can no longer be sent
    n.cancel(reason="plan agreed", at=T0)
    assert (n.status, n.cancel_reason) == ("cancelled", "plan agreed")
    with pytest.raises(Conflict):
        n.mark_sent(sent_at=T0)
    # And a sent one cannot be cancelled; it was sent to whoever is responsible on the day
    sent = scheduled()
    sent.mark_sent(sent_at=T0, recipient="station:abc")
    assert sent.recipient == "station:abc"
    with pytest.raises(Conflict):
        sent.cancel(reason="late", at=T0)


def test_a_notification_is_about_one_client_or_one_contract():
    with pytest.raises(InvalidInput) as e:
        Notification.schedule(kind="payment_made", client_id=None, recipient="district:110105", channel="log",
                              cause_event_id=None, scheduled_at=T0)
    assert e.value.field == "client_id"
    with pytest.raises(InvalidInput):
        Notification.schedule(kind="payment_made", client_id=CLIENT, contract_id=uuid4(), recipient="x", channel="log",
                              cause_event_id=None, scheduled_at=T0)


def test_the_index_knows_which_reminders_still_wait():
    index = ClientNotifications(client_id=CLIENT)
    soon, now = uuid4(), uuid4()
    index.add(soon, None, key="plan_due:c:2026-02-04:station", waiting_kind="plan_due")
    index.add(now, "ce-9", key="plan_overdue:c:2026-02-04:station")
    assert index.waiting_for(["plan_due"]) == [soon] and index.waiting_for() == [soon]
    assert index.caused_by("plan_due:c:2026-02-04:station") and index.caused_by("ce-9")
    index.settle([soon, now])
    assert index.waiting_for() == []


# --- the directory ---------------------------------------------------------------------------

ALL_CONSENT = {"rehabilitation_services": True, "share_with_health": True, "share_with_disability_and_employment": True}


def test_a_clients_entry_is_known_once_registered_and_consent_decides_each_purpose():
    entry = DirectoryEntry(about="client", subject_id=CLIENT)
    entry.place(station_id=None, district_code="110105")
    assert not entry.known  # a district without consent: nothing may be shared yet
    entry.register(district_code="110105", consent={**ALL_CONSENT, "share_with_health": False}, guardian=False)
    assert entry.known
    assert [entry.allows(p) for p in ("district_supervision", "health", "disability_employment")] == [True, False, True]
    entry.change_consent(consent={k: False for k in ALL_CONSENT})
    assert not entry.allows("district_supervision")
    # Contracts and stations are not persons: no consent needed
    contract = DirectoryEntry(about="contract", subject_id=uuid4())
    contract.locate(district_code="110105", station_id=uuid4())
    assert contract.known and contract.allows("health")


def test_addresses_by_role_fall_back_from_station_to_district():
    entry = DirectoryEntry(about="client", subject_id=CLIENT)
    assert [entry.address_of(r) for r in ("station", "district", "guardian")] == ["district", "district", None]
    entry.register(district_code="110105", consent=ALL_CONSENT, guardian=True)
    assert entry.address_of("station") == "district:110105" and entry.address_of("guardian") == "guardian"
    station = uuid4()
    entry.place(station_id=station, district_code="110105")
    assert entry.address_of("station") == f"station:{station}"


def test_held_events_are_kept_once_bounded_and_released():
    entry = DirectoryEntry(about="client", subject_id=CLIENT)
    forward = Forward(event_id="e1", event_type="t", about="client", subject_id=CLIENT, body="{}")
    assert entry.hold(forward) and not entry.hold(forward)
    assert entry.held_events() == [forward]
    entry.release()
    assert entry.held == []
    for i in range(DirectoryEntry.HELD_MAX):
        entry.hold(Forward(event_id=f"x{i}", event_type="t", about="client", subject_id=CLIENT, body="{}"))
    assert not entry.hold(Forward(event_id="one-too-many", event_type="t", about="client", subject_id=CLIENT, body="{}"))


def test_repeated_facts_record_nothing_new():
    entry = DirectoryEntry(about="client", subject_id=CLIENT)
    assert entry.register(district_code="110105", consent=ALL_CONSENT, guardian=False)
    entry.collect_events()
    assert not entry.register(district_code="110105", consent=ALL_CONSENT, guardian=False)
    assert not entry.change_consent(consent=ALL_CONSENT)
    assert not entry.relocate(district_code="110105")
    assert entry.collect_events() == []


# --- subscriptions and deliveries ---------------------------------------------------------------

TYPES = {"jingkang.intake.ClientRegistered.v1"}
KNOWN = TYPES | {"jingkang.intake.ApplicationSubmitted.v1"}


def subscription(**change) -> Subscription:
    fields = dict(district_code="110105", event_types=["jingkang.intake.ClientRegistered.v1"] * 2,
                  url="https://d.example/hook", secret="x" * 16, purpose="health", known_types=KNOWN,
                  forwardable_types=TYPES, registered_at=T0)
    return Subscription.register(**(fields | change))


def test_a_subscription_wants_its_types_while_active():
    s = subscription()
    assert s.event_types == ["jingkang.intake.ClientRegistered.v1"]  # duplicates collapse
    assert s.wants("jingkang.intake.ClientRegistered.v1") and not s.wants("jingkang.intake.ClientExited.v1")
    assert "x" * 16 not in repr(s)
    s.deactivate(at=T0)
    assert not s.wants("jingkang.intake.ClientRegistered.v1")
    with pytest.raises(Conflict):
        s.deactivate(at=T0)


@pytest.mark.parametrize("change, field", [
    ({"district_code": "11010"}, "district_code"),
    ({"event_types": []}, "event_types"),
    ({"event_types": ["jingkang.intake.ApplicationSubmitted.v1"]}, "event_types"),
    ({"url": "mailto:x@d.example"}, "url"),
    ({"url": "https://d.example/" + "x" * 2000}, "url"),
    ({"url": "https://d.example:99999/hook"}, "url"),
    ({"url": "https:///hook"}, "url"),
    ({"secret": "x" * 15}, "secret"),
    ({"secret": "x" * 257}, "secret"),
    ({"purpose": "research"}, "purpose"),
])
def test_a_subscription_is_refused_with_the_field(change, field):
    with pytest.raises(InvalidInput) as e:
        subscription(**change)
    assert e.value.field == field


def test_the_retry_schedule_doubles_up_to_a_ceiling_and_honours_retry_after():
    policy = RetryPolicy(max_attempts=8, backoff_seconds=30, max_backoff_seconds=600)
    assert [policy.delay(n).total_seconds() for n in range(1, 7)] == [30, 60, 120, 240, 480, 600]
    assert policy.delay(1, retry_after=90).total_seconds() == 90
    assert policy.delay(1, retry_after=10_000).total_seconds() == 600
    assert [retryable(c) for c in (None, 500, 503, 429, 400, 401, 404, 301)] == [True] * 4 + [False] * 4


def test_a_delivery_is_retried_then_dead_lettered_and_the_board_follows():
    policy = RetryPolicy(max_attempts=2, backoff_seconds=10)
    d = Delivery(subscription_id=uuid4(), event_id="e", event_type="t", subject_id=CLIENT, client_id=CLIENT,
                 body="{}", due_at=T0)
    board = DeliveryBoard()
    assert d.due(T0) and not d.due(T0 - timedelta(seconds=1))
    assert d.record_attempt(at=T0, status_code=None, error="timeout", policy=policy) == "failed"
    assert d.next_attempt_at == T0 + timedelta(seconds=10) and not d.due(T0 + timedelta(seconds=9))
    assert board.note(d) and board.listed("failed") == [d.id] and not board.note(d)
    assert d.record_attempt(at=T0 + timedelta(seconds=10), status_code=500, error=None, policy=policy) == "dead"
    assert board.note(d) and board.listed("failed") == [] and board.listed("dead") == [d.id]
    assert board.listed("dead", subscription_id=uuid4()) == []
    with pytest.raises(Conflict):
        d.record_attempt(at=T0, status_code=200, error=None, policy=policy)
    assert Delivery.id_for(d.subscription_id, "e") == d.id
