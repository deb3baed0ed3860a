"""The supervision service on the real Kafka and PostgreSQL: its worker consumes the public
topics (a small population published as the relays would, under a district code no other
test uses) into its read model; the figures it serves equal those computed straight from
the topics (`jingkang indicators`); a poison message goes to jingkang.supervision.dlq and
the model keeps going; a redelivered poll changes nothing; a rebuild from zero equals the
live model; and a closed month below target is published once as IndicatorBelowTarget."""
from __future__ import annotations

import random
import threading
import uuid
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from services.supervision.application import Message, Supervision
from services.supervision.consumers import create_worker, indicators_from_topics, rebuild
from services.supervision.readmodel import ReadModel
from services.supervision.relay import create_relay
from services.supervision.settings import create_supervision, load_settings, rules
from shared.clock import FixedClock
from shared.contract.referral import WaitlistExceeded
from shared.topics import ensure_topics, public_topics
from tests.integration.test_indicators_from_kafka import END, START, Publisher, publish_population
from tests.support import messages, read_all, wait_until

pytestmark = pytest.mark.integration


def settings_for(store_url: str, kafka: str):
    return load_settings({"JINGKANG_SUPERVISION_STORE": store_url, "JINGKANG_KAFKA": kafka,
                          "JINGKANG_SUPERVISION_GROUP": f"test-supervision-{uuid.uuid4().hex[:8]}",
                          "JINGKANG_TICK_SECONDS": "3600"})


def figures(result: dict) -> dict:
    items = result["indicators"]
    if isinstance(items, list):
        return {f["name"]: (f["value"], f["numerator"], f["denominator"], f["target"], f["met"]) for f in items}
    return {name: (f["value"], f["numerator"], f["denominator"], f["target"], f["met"]) for name, f in items.items()}


class Running:
    """The worker in a thread, as `python -m services.supervision worker` runs it."""

    def __init__(self, settings, supervision: Supervision):
        self.worker = create_worker(settings, supervision)
        self.worker.review = None  # reviews are driven by the test, on its own clock
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.worker.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.worker.consumer.close()
        self.worker.producer.close()


def caught_up(bootstrap: str, model: ReadModel) -> bool:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        tps = [TopicPartition(t, p) for t in public_topics() for p in (consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(tps)
    finally:
        consumer.close()
    stored = model.positions()
    return all(stored.get((tp.topic, tp.partition), 0) >= end for tp, end in ends.items())


def test_the_service_serves_the_figures_of_the_topics_exactly_once_and_rebuilds_to_the_same(kafka_bootstrap, pg_store_url):
    ensure_topics(kafka_bootstrap, public_topics())
    district = str(random.randrange(100000, 1000000))
    settings = settings_for(pg_store_url, kafka_bootstrap)
    supervision = create_supervision(settings)
    running = Running(settings, supervision)
    pub = Publisher(kafka_bootstrap)
    try:
        # Given a population published while the worker runs, and a poison message among it
        publish_population(pub, district)
        pub.producer.send("jingkang.intake.v1", key=b"poison", value=b"{not a cloudevent")
        pub.flush()
        # When the worker has caught up with the topics
        wait_until(lambda: caught_up(kafka_bootstrap, supervision.model), timeout=120, what="the read model caught up")
        # Then the service's figures are those computed from the topics (the hand-checked ones)
        served = supervision.indicators(district, START, END)
        from_topics = indicators_from_topics(kafka_bootstrap, district=district, start=START, end=END)
        assert figures(served) == figures(from_topics)
        assert served["indicators"][4]["name"] == "referral_closure" and served["indicators"][4]["denominator"] == 3
        # And the republished acceptance counted once
        assert figures(served)["median_time_to_accept"][2] == 2
        # And the poison message is in the dead-letter topic with its reason
        dead = [m for m in messages(kafka_bootstrap, ["jingkang.supervision.dlq"]) if m.key == b"poison"]
        assert dead and dict(dead[-1].headers)["dlq_topic"] == b"jingkang.intake.v1"
        assert b"InvalidMessage" in dict(dead[-1].headers)["dlq_reason"]
        # And the model kept going: an event published after it is in the figures
        later = pub.send(WaitlistExceeded(client_id=uuid.uuid4(), district_code=district, waiting_since=date(2026, 2, 1)),
                         datetime(2026, 5, 5, 2, tzinfo=timezone.utc))
        pub.flush()
        wait_until(lambda: supervision.evidence("waiting_over_90_days", district, START, END, 1, 50)["total"] == 2,
                   timeout=60, what="the later event counted")
        assert later["id"] in {i["id"] for i in supervision.evidence("waiting_over_90_days", district, START, END, 1, 50)["items"]}
    finally:
        pub.producer.close()
        running.close()

    # When every message of the topics is delivered again (a rebalance before the commit)
    live = supervision.model.dump()
    again = [Message(m.topic, m.partition, m.offset, m.value, m.key) for m in messages(kafka_bootstrap, public_topics())]
    batch = supervision.prepare(again, supervision.model.positions())
    supervision.store(batch)
    # Then nothing changes
    assert batch.rows == [] and batch.duplicates == len(again)
    assert supervision.model.dump() == live

    # When the model is rebuilt from zero into another store
    other = replace(settings, store_url=pg_store_url.rsplit("=", 1)[0] + "=" + new_schema(pg_store_url))
    rebuilt_supervision = Supervision(ReadModel(other.store_url), rules(other))
    done = rebuild(other, rebuilt_supervision)
    # Then it equals the live one, row for row and position for position
    assert done["stored"] == len(live["facts"])
    assert rebuilt_supervision.model.dump() == live
    # And `jingkang rebuild supervision` on the live store itself gives the same again
    rebuild(settings, supervision)
    assert supervision.model.dump() == live


def new_schema(pg_store_url: str) -> str:
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_store_url.split("?")[0], autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return schema


def test_a_closed_month_below_target_is_published_once(kafka_bootstrap, pg_store_url):
    ensure_topics(kafka_bootstrap, public_topics() + ["jingkang.supervision.v1"])
    district = str(random.randrange(100000, 1000000))
    settings = settings_for(pg_store_url, kafka_bootstrap)
    pub = Publisher(kafka_bootstrap)
    try:
        publish_population(pub, district)
    finally:
        pub.producer.close()
    supervision = create_supervision(settings, clock=FixedClock())
    rebuild(settings, supervision)  # the model up to now, as a fresh worker would have it
    relay = create_relay(settings, supervision.reviews)
    try:
        # When the months up to June are closed (July 20) and reviewed, twice, with the relay between
        first = supervision.review_closed_periods(date(2026, 7, 20))
        while relay.publish_batch():
            pass
        assert supervision.review_closed_periods(date(2026, 7, 21)) == []
        # A second process reviewing the same months from a model that has not marked them
        twin = Supervision(ReadModel(settings.store_url), rules(settings), supervision.reviews)
        twin.model.clear()
        rebuild(settings, twin)
        assert twin.review_closed_periods(date(2026, 7, 20)) == []
        while relay.publish_batch():
            pass
    finally:
        relay.producer.close()

    # Then each (indicator, month) of the district below target is on the topic once
    mine = [ce for ce in read_all(kafka_bootstrap, ["jingkang.supervision.v1"]) if ce["subject"] == district]
    keys = [(ce["data"]["indicator"], ce["data"]["period"]) for ce in mine]
    assert keys and len(keys) == len(set(keys))
    assert {(r.indicator, r.period) for r in first if r.district == district} == set(keys)
    # April: a, b (late), c (no plan) and d settled; d's reassessment due April 10 is overdue:
    # standardised = a only, 1 / 4, below 45%
    april = next(ce for ce in mine if (ce["data"]["indicator"], ce["data"]["period"]) == ("standardised_service", "2026-04"))
    assert ce_valid(april) and april["data"]["value"] == "0.2500" and april["data"]["target"] == "0.45"
    assert (april["data"]["numerator"], april["data"]["denominator"]) == ("1", "4")


def ce_valid(ce: dict) -> bool:
    from shared.envelope import decode, encode

    clean = {k: v for k, v in ce.items() if not k.startswith("_")}
    return decode(encode(clean)).event.district_code == ce["subject"]


def test_a_poll_that_could_not_be_stored_is_read_again_and_nothing_is_lost(kafka_bootstrap, tmp_path):
    ensure_topics(kafka_bootstrap, public_topics())
    district = str(random.randrange(100000, 1000000))
    settings = settings_for(f"sqlite:///{tmp_path}/supervision.sqlite", kafka_bootstrap)
    supervision = create_supervision(settings)
    # The store refuses the first two transactions (a database restarting, say)
    store, refusals = supervision.model.apply, []

    def unavailable_at_first(rows, positions):
        if len(refusals) < 2:
            refusals.append(len(rows))
            raise ConnectionError("the store is restarting")
        return store(rows, positions)

    supervision.model.apply = unavailable_at_first
    pub = Publisher(kafka_bootstrap)
    try:
        publish_population(pub, district)
    finally:
        pub.producer.close()
    running = Running(settings, supervision)
    try:
        wait_until(lambda: caught_up(kafka_bootstrap, supervision.model), timeout=120, what="the read model caught up")
    finally:
        running.close()
    assert len(refusals) == 2
    assert figures(supervision.indicators(district, START, END)) == figures(
        indicators_from_topics(kafka_bootstrap, district=district, start=START, end=END))
    rebuilt = Supervision(ReadModel(f"sqlite:///{tmp_path}/rebuilt.sqlite"), rules(settings))
    rebuild(replace(settings, store_url=f"sqlite:///{tmp_path}/rebuilt.sqlite"), rebuilt)
    assert rebuilt.model.dump() == supervision.model.dump()
