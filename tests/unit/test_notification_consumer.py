"""notification reacting to referral's TransferRequested through the real consumer
machinery (in-memory store): processed once, deduplicated by tracking record and by
cause event, bad messages dead-lettered, channel failures recorded."""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest

from services.notification.application import Notifications, create_application
from services.notification.contracts import handlers, to_public
from shared.clock import FixedClock
from shared.consumer import EventConsumer
from shared.contract.notification import NotificationFailed, NotificationSent
from shared.contract.referral import TransferRequested
from shared.envelope import encode, to_cloudevent
from shared.settings import load_settings

TOPIC = "jingkang.referral.v1"


class BrokenChannel:
    name = "log"

    def deliver(self, notification) -> None:
        raise ConnectionError("channel unavailable")


def make_app(channel=None) -> Notifications:
    settings = load_settings("notification", {"JINGKANG_NOTIFICATION_STORE": "memory://"})
    return create_application(settings, clock=FixedClock(), channel=channel)


def consumer_for(app: Notifications) -> EventConsumer:
    return EventConsumer(app, "notification", handlers(app), attempts=2, sleep=lambda _: None)


def transfer_requested(client_id: uuid.UUID, kind: str = "medical") -> tuple[str, bytes]:
    now = FixedClock().now()
    event = TransferRequested(client_id=client_id, referral_id=uuid.uuid4(), kind=kind, reason="relapse_detected",
                              requested_at=now, due_by=now + timedelta(days=1))
    ce_id = str(uuid.uuid4())
    return ce_id, encode(to_cloudevent(event, id=ce_id, time=now, sequence=7))


def public_events(app: Notifications) -> list:
    return [p for n in app.recorder.select_notifications(start=1, limit=100)
            for p in to_public(app.mapper.to_domain_event(n))]


def test_a_transfer_request_is_notified_once_however_often_it_arrives(caplog):
    app = make_app()
    consumer, client = consumer_for(app), uuid.uuid4()
    ce_id, raw = transfer_requested(client)

    # When referral's TransferRequested arrives
    with caplog.at_level(logging.INFO, logger="jingkang.notification.channel"):
        outcome = consumer.process(TOPIC, 0, 5, raw)

    # Then one notification for the hospital was delivered and recorded as sent
    assert outcome.status == "processed", outcome.reason
    [n] = app.list_for_client(client)
    assert (n.status, n.kind, n.recipient, n.channel, n.cause_event_id) == ("sent", "transfer_requested", "hospital", "log", ce_id)
    assert n.sent_at == FixedClock().now()
    # And the channel's log line holds only pseudonymous fields
    [record] = caplog.records
    assert {k: getattr(record, k) for k in ("notification_id", "kind", "recipient", "client_id")} == {
        "notification_id": str(n.id), "kind": "transfer_requested", "recipient": "hospital", "client_id": str(client)}
    assert "relapse" not in record.getMessage()
    # And NotificationSent is what the relay will publish
    [sent] = public_events(app)
    assert sent == NotificationSent(client_id=client, notification_id=n.id, kind="transfer_requested", channel="log",
                                    recipient="hospital", sent_at=n.sent_at)

    # When Kafka redelivers the same message, then the tracking record makes it a no-op
    assert consumer.process(TOPIC, 0, 5, raw).status == "duplicate"
    # When the relay republishes the same event at a later offset, then the cause guard does
    assert consumer.process(TOPIC, 0, 9, raw).status == "processed"
    assert [x.id for x in app.list_for_client(client)] == [n.id]
    assert len(public_events(app)) == 1


def test_a_malformed_message_is_dead_lettered_with_a_reason():
    app = make_app()
    outcome = consumer_for(app).process(TOPIC, 1, 3, b"not json")
    assert outcome.status == "dead_letter" and "not JSON" in outcome.reason


def test_a_channel_that_raises_leaves_the_notification_failed_and_says_so():
    app = make_app(channel=BrokenChannel())
    client = uuid.uuid4()
    _, raw = transfer_requested(client, kind="professional")

    outcome = consumer_for(app).process(TOPIC, 0, 11, raw)

    # The message is processed (the failure is a recorded fact, not a retry loop)
    assert outcome.status == "processed"
    [n] = app.list_for_client(client)
    assert (n.status, n.recipient, n.sent_at) == ("failed", "receiving_station", None)
    assert "ConnectionError" in n.failure_reason
    # And NotificationFailed (not NotificationSent) is what the relay will publish
    assert public_events(app) == [NotificationFailed(client_id=client, notification_id=n.id, kind="transfer_requested",
                                                     channel="log", reason=n.failure_reason, failed_at=FixedClock().now())]


def test_queries_on_unknown_ids():
    app = make_app()
    assert app.list_for_client(uuid.uuid4()) == []
    from shared.errors import NotFound
    with pytest.raises(NotFound):
        app.get_notification(uuid.uuid4())
