"""The consumer machinery every worker uses (shared/consumer.py), on a tiny service:
poison of every kind is dead-lettered with its reason, transient failures are retried a
bounded number of times, a redelivered message has no second effect, and a lost race
with another instance counts as a duplicate."""
from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from shared.consumer import DEAD_LETTER_MAX_VALUE, EventConsumer, dead_letter
from shared.contract import event_type
from shared.contract.intake import ClientRegistered, ConsentScope
from shared.envelope import encode, to_cloudevent
from shared.errors import Conflict
from shared.settings import load_settings, store_env
from shared.store import ServiceApplication

TOPIC = "jingkang.intake.v1"


class Tally(Aggregate):
    @event("Counted")
    def __init__(self, client_id: uuid.UUID):
        self.client_id = client_id


class Tallies(ServiceApplication):
    name = "tallies"


def registered(client_id: uuid.UUID | None = None) -> dict:
    e = ClientRegistered(client_id=client_id or uuid.uuid4(), application_id=uuid.uuid4(), source="self",
                         district_code="110105", street_code="110105001", registered_on=date(2026, 3, 1),
                         free_service_eligible=False, hardship_categories=[],
                         consent=ConsentScope(rehabilitation_services=True, share_with_health=False,
                                              share_with_disability_and_employment=False))
    return to_cloudevent(e, id=str(uuid.uuid4()), time=__import__("datetime").datetime(2026, 3, 1, 8), sequence=1)


@pytest.fixture
def app():
    return Tallies(env=store_env(load_settings("tallies", {"JINGKANG_TALLIES_STORE": "memory://"})))


def counting(app, behaviour=None):
    calls = []

    def handle(ce):
        calls.append(ce.id)
        if behaviour:
            behaviour(len(calls))
        app.save(Tally(client_id=ce.event.client_id))

    return EventConsumer(app, "tallies", {event_type(ClientRegistered): handle}, attempts=3,
                         backoff_seconds=0.01, sleep=lambda s: None), calls


def stored(app) -> int:
    return app.recorder.max_notification_id() or 0


@pytest.mark.parametrize("value, reason", [
    (b"\x00\x01 not json", "not JSON"),
    (b"[1, 2, 3]", "not an object"),
    (json.dumps({"hello": "world"}).encode(), "missing"),
    (encode(dict(registered(), type="jingkang.intake.NoSuchEvent.v1")), "unknown event type"),
    (encode(dict(registered(), data={"client_id": "not-a-uuid"})), "does not match"),
    (b"{" + b" " * (300 * 1024) + b"}", "exceeds"),
    (None, "empty message"),
])
def test_poison_is_dead_lettered_with_its_reason_and_the_next_message_is_processed(app, value, reason):
    consumer, _ = counting(app)
    outcome = consumer.process(TOPIC, 0, 10, value)
    assert outcome.dead_letter and reason in outcome.reason
    assert stored(app) == 0  # a poison message changes nothing

    consumer.dead_lettered(outcome)
    assert consumer.process(TOPIC, 0, 10, value).status == "duplicate"  # never dead-lettered twice
    assert consumer.process(TOPIC, 0, 11, encode(registered())).status == "processed"
    assert stored(app) == 1


def test_a_huge_message_is_cut_in_its_dead_letter_copy(app):
    consumer, _ = counting(app)
    value = b"x" * (DEAD_LETTER_MAX_VALUE * 3)
    outcome = consumer.process(TOPIC, 2, 5, value)
    copy, headers = dead_letter(outcome, TOPIC, 2, 5, value)
    assert len(copy) == DEAD_LETTER_MAX_VALUE
    assert dict(headers)["dlq_truncated_from"] == str(len(value)).encode()
    assert dict(headers)["dlq_offset"] == b"5"


def test_redelivery_of_the_same_position_has_no_second_effect(app):
    consumer, calls = counting(app)
    raw = encode(registered())
    assert consumer.process(TOPIC, 3, 7, raw).status == "processed"
    assert consumer.process(TOPIC, 3, 7, raw).status == "duplicate"
    assert consumer.process(TOPIC, 3, 6, raw).status == "duplicate"  # older positions were done too
    assert len(calls) == 1 and stored(app) == 1


def test_a_transient_failure_is_retried_and_then_succeeds_once(app):
    def flaky(call):
        if call < 3:
            raise ConnectionError("store blinked")

    consumer, calls = counting(app, flaky)
    assert consumer.process(TOPIC, 0, 1, encode(registered())).status == "processed"
    assert len(calls) == 3 and stored(app) == 1


def test_a_persistent_failure_goes_to_the_dead_letter_topic_after_the_bound(app):
    def broken(call):
        raise RuntimeError("bug")

    consumer, calls = counting(app, broken)
    outcome = consumer.process(TOPIC, 0, 1, encode(registered()))
    assert outcome.dead_letter and "failed after 3 attempts" in outcome.reason
    assert len(calls) == 3 and stored(app) == 0


def test_a_write_conflict_is_retried_beyond_the_failure_bound_and_is_never_dead_lettered_early(app):
    # Another command changed the aggregate first (optimistic concurrency): nothing was saved
    # and the next attempt sees the new version. On a hot aggregate (a district's placement,
    # written by API requests too) three attempts were not enough: the soak saw a
    # ClientClassified dead-lettered with "IntegrityError('conflicting write')", and the
    # client was never placed or waitlisted.
    def contended(call):
        if call <= 6:
            raise IntegrityError("a concurrent request saved the aggregate first")

    consumer, calls = counting(app, contended)
    assert consumer.process(TOPIC, 0, 1, encode(registered())).status == "processed"
    assert len(calls) == 7 and stored(app) == 1


def test_a_conflict_that_never_ends_is_still_dead_lettered_after_its_own_bound(app):
    def always(call):
        raise IntegrityError("conflict")

    consumer, calls = counting(app, always)
    outcome = consumer.process(TOPIC, 0, 1, encode(registered()))
    assert outcome.dead_letter and "conflicting write" in outcome.reason
    assert len(calls) == consumer.conflict_attempts and stored(app) == 0


def test_a_refused_command_is_dead_lettered_at_once(app):
    def refuse(call):
        raise Conflict("the client has exited")

    consumer, calls = counting(app, refuse)
    outcome = consumer.process(TOPIC, 0, 1, encode(registered()))
    assert outcome.dead_letter and "Conflict: the client has exited" in outcome.reason
    assert len(calls) == 1  # a rule's refusal is not retried


def test_losing_a_race_to_another_instance_counts_as_a_duplicate(app):
    raw = encode(registered())

    def other_instance_wins(call):
        # Another worker of the group committed this position first.
        other, _ = counting(app)
        other.process(TOPIC, 4, 9, raw)
        raise IntegrityError("tracking record exists")

    consumer, _ = counting(app, other_instance_wins)
    assert consumer.process(TOPIC, 4, 9, raw).status == "duplicate"
    assert stored(app) == 1
