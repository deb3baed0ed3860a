"""Scenarios on the Notification aggregate: given its history, when a command, then these
new events (or this error). Pure: no store, no clock, no I/O."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from services.notification.domain import NAMESPACE, ClientNotifications, Notification
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
