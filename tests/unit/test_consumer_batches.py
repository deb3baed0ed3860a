"""A worker's batch (EventConsumer.process_batch, shared/consumer.py) on a tiny service with
an in-memory store: each partition's share in one transaction with its highest position,
later messages reading what earlier ones saved, each message's own metadata, and on any
failure the per-message path for that share (dead letters, duplicates as before)."""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime

import pytest
from eventsourcing.application import Repository
from eventsourcing.domain import Aggregate, event

from shared.consumer import EventConsumer, tracking_for
from shared.contract import event_type
from shared.contract.intake import ApplicationWithdrawn, ClientRegistered
from shared.envelope import encode, to_cloudevent
from shared.errors import Conflict
from shared.settings import load_settings, store_env
from shared.store import ServiceApplication, event_meta
from tests.unit.test_consumer_machinery import registered

TOPIC = "jingkang.intake.v1"


class Register(Aggregate):
    """One per district: every registration is added to it, so each message of a batch
    changes what the one before it saved."""

    @staticmethod
    def create_id(district: str) -> uuid.UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"register/{district}")

    @event("Opened")
    def __init__(self, district: str):
        self.clients: list[uuid.UUID] = []

    @event("Added")
    def add(self, client_id: uuid.UUID) -> None:
        self.clients.append(client_id)


class Registers(ServiceApplication):
    name = "registers"

    def add(self, district: str, client_id: uuid.UUID) -> None:
        register_id = Register.create_id(district)
        register = self.repository.get(register_id) if register_id in self.repository else Register(district)
        register.add(client_id)
        self.save(register)

    def clients(self, district: str) -> list[uuid.UUID]:
        return self.repository.get(Register.create_id(district)).clients


@pytest.fixture
def app():
    app = Registers(env=store_env(load_settings("registers", {"JINGKANG_REGISTERS_STORE": "memory://"})))
    app.commits = 0
    commit = app.commit

    def counted(processing):
        app.commits += 1
        return commit(processing)

    app.commit = counted
    return app


def consumer_of(app, refuse: set[uuid.UUID] = frozenset()):
    def handle(ce):
        if ce.event.client_id in refuse:
            raise Conflict("the client has exited")
        app.add(ce.event.district_code, ce.event.client_id)

    return EventConsumer(app, "registers", {event_type(ClientRegistered): handle}, attempts=1, sleep=lambda s: None)


def message(client_id: uuid.UUID | None = None) -> tuple[uuid.UUID, bytes]:
    ce = registered(client_id)
    return uuid.UUID(ce["data"]["client_id"]), encode(ce)


def ignored() -> bytes:
    """A valid public event of a type this service has no handler for."""
    e = ApplicationWithdrawn(application_id=uuid.uuid4(), withdrawn_on=date(2026, 3, 1))
    return encode(to_cloudevent(e, id=str(uuid.uuid4()), time=datetime(2026, 3, 1, 8), sequence=2))


def position(app, topic: str, partition: int) -> int | None:
    return app.recorder.max_tracking_id(tracking_for(topic, partition, 0).application_name)


def test_a_partitions_share_is_one_transaction_in_order_with_its_highest_position(app):
    clients, values = zip(*(message() for _ in range(5)))
    batch = [(TOPIC, 2, 10 + i, v) for i, v in enumerate(values)] + [(TOPIC, 2, 15, ignored())]
    outcomes = consumer_of(app).process_batch(batch)
    assert [o.status for o in outcomes] == ["processed"] * 5 + ["ignored"]
    assert [o.tracking.notification_id for o in outcomes] == list(range(10, 16))
    assert app.commits == 1  # the register was opened once and added to five times, in one commit
    assert app.clients("110105") == list(clients)  # in the partition's order
    assert position(app, TOPIC, 2) == 15  # the ignored last message's position too


def test_each_message_keeps_its_own_causation_in_a_batch(app):
    values = [message()[1] for _ in range(3)]
    consumer_of(app).process_batch([(TOPIC, 0, i, v) for i, v in enumerate(values)])
    register = app.repository.get(Register.create_id("110105"))
    events = app.repository.event_store.get(register.id)
    causes = [event_meta(e).get("causationid") for e in events][1:]  # after the opening
    assert causes == [json.loads(v)["id"] for v in values]


def test_a_redelivered_batch_has_no_second_effect(app):
    values = [message()[1] for _ in range(4)]
    batch = [(TOPIC, 1, i, v) for i, v in enumerate(values)]
    consumer = consumer_of(app)
    consumer.process_batch(batch[:2])
    stored = app.recorder.max_notification_id()
    outcomes = consumer.process_batch(batch)  # the first two again (a rebalance), then two new
    assert [o.status for o in outcomes] == ["duplicate", "duplicate", "processed", "processed"]
    assert len(app.clients("110105")) == 4
    assert consumer.process_batch(batch)[-1].status == "duplicate"
    assert len(app.clients("110105")) == 4 and app.recorder.max_notification_id() == stored + 2


def test_a_poison_message_in_a_batch_is_dead_lettered_and_the_others_are_processed_once(app):
    refused, bad = message()
    clients, values = zip(*(message() for _ in range(3)))
    batch = [(TOPIC, 0, 0, values[0]), (TOPIC, 0, 1, b"not json"), (TOPIC, 0, 2, values[1]),
             (TOPIC, 0, 3, bad), (TOPIC, 0, 4, values[2])]
    consumer = consumer_of(app, refuse={refused})
    outcomes = consumer.process_batch(batch)
    assert [o.status for o in outcomes] == ["processed", "dead_letter", "processed", "dead_letter", "processed"]
    assert "not JSON" in outcomes[1].reason and "Conflict: the client has exited" in outcomes[3].reason
    assert app.clients("110105") == list(clients)  # nothing of the failed batch attempt kept, nothing twice
    assert position(app, TOPIC, 0) == 4  # the last message's, processed after the dead letters


def test_partitions_interleaved_keep_their_order_and_positions(app):
    a, b = [message() for _ in range(3)], [message() for _ in range(3)]
    batch = []
    for i in range(3):
        batch += [(TOPIC, 0, 100 + i, a[i][1]), (TOPIC, 5, 7 + i, b[i][1])]
    outcomes = consumer_of(app).process_batch(batch)
    assert [(o.tracking.application_name, o.tracking.notification_id) for o in outcomes] == [
        (tracking_for(t, p, o).application_name, o) for t, p, o, _ in batch]
    assert app.commits == 2  # one per partition
    assert position(app, TOPIC, 0) == 102 and position(app, TOPIC, 5) == 9
    clients = app.clients("110105")
    assert [c for c in clients if c in {x for x, _ in a}] == [x for x, _ in a]
    assert [c for c in clients if c in {x for x, _ in b}] == [x for x, _ in b]


def test_a_batch_that_loses_a_write_race_is_taken_one_message_at_a_time(app):
    values = [message()[1] for _ in range(3)]
    consumer = consumer_of(app)
    commit = app.commit
    raced = []

    def another_writer_first(processing):
        if not raced:  # an API request saves the register between the batch's read and its commit
            raced.append(1)
            app.add("110105", uuid.uuid4())
        return commit(processing)

    app.commit = another_writer_first
    outcomes = consumer.process_batch([(TOPIC, 0, i, v) for i, v in enumerate(values)])
    assert [o.status for o in outcomes] == ["processed"] * 3
    assert len(app.clients("110105")) == 4 and position(app, TOPIC, 0) == 2


def test_later_messages_read_what_earlier_ones_read_without_loading_it_again(app, monkeypatch):
    directory = Register.create_id("000000")  # read by every message, saved by none
    app.add("000000", uuid.uuid4())
    loads = []
    load = Repository.get

    def counted(repository, aggregate_id, **kwargs):
        loads.append(aggregate_id)
        return load(repository, aggregate_id, **kwargs)

    def handle(ce):
        assert directory in app.repository and app.repository.get(directory).clients
        app.add(ce.event.district_code, ce.event.client_id)

    monkeypatch.setattr(Repository, "get", counted)
    consumer = EventConsumer(app, "registers", {event_type(ClientRegistered): handle}, attempts=1, sleep=lambda s: None)
    values = [message()[1] for _ in range(4)]
    assert [o.status for o in consumer.process_batch([(TOPIC, 0, i, v) for i, v in enumerate(values)])] == ["processed"] * 4
    assert loads.count(directory) == 1 and len(app.clients("110105")) == 4


def test_an_aggregate_a_message_changed_but_did_not_save_is_read_afresh_by_the_next(app):
    app.add("110105", uuid.uuid4())
    stray = uuid.uuid4()

    def handle(ce):
        if ce.event.client_id == first:
            app.repository.get(Register.create_id("110105")).add(stray)  # changed, never saved
            return
        app.add(ce.event.district_code, ce.event.client_id)

    (first, v1), (second, v2) = message(), message()
    consumer = EventConsumer(app, "registers", {event_type(ClientRegistered): handle}, attempts=1, sleep=lambda s: None)
    assert [o.status for o in consumer.process_batch([(TOPIC, 0, 0, v1), (TOPIC, 0, 1, v2)])] == ["processed"] * 2
    assert stray not in app.clients("110105") and second in app.clients("110105")


def test_after_a_share_fails_the_next_shares_read_the_store_again(app):
    # Partition 1's share loses a race with an API request at its commit: partition 2's share
    # must read the register as now stored, not as partition 1 left it in memory (which would
    # only fail its own commit in turn).
    (a1, va1), (b1, vb1), (c1, vc1), (c2, vc2) = (message() for _ in range(4))
    api_client = uuid.uuid4()
    commit, attempts = app.commit, []

    def racing(processing):
        attempts.append(processing.tracking.application_name if processing.tracking else "api")
        if len(attempts) == 2:  # partition 1's batch commit: an API request saved the register first
            app.add("110105", api_client)
        return commit(processing)

    app.commit = racing
    batch = [(TOPIC, 0, 0, va1), (TOPIC, 0, 1, message()[1]), (TOPIC, 1, 0, vb1), (TOPIC, 1, 1, message()[1]),
             (TOPIC, 2, 0, vc1), (TOPIC, 2, 1, vc2)]
    outcomes = consumer_of(app).process_batch(batch)
    assert [o.status for o in outcomes] == ["processed"] * 6
    p = [tracking_for(TOPIC, n, 0).application_name for n in range(3)]
    # partition 0 together, partition 1 together (lost the race to the API's), partition 1
    # one message at a time, partition 2 together at once
    assert attempts == [p[0], p[1], "api", p[1], p[1], p[2]]
    assert set(app.clients("110105")) >= {a1, b1, c1, c2, api_client}
