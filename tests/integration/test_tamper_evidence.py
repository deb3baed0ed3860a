"""Tamper evidence on a real PostgreSQL store: the relay seals the log as it publishes;
altering, deleting, inserting or reordering a stored event is found by verification,
naming the first bad record; an untouched store verifies."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from services.referral.application import create_application
from services.referral.relay import create_relay
from shared.audit import all_notifications
from shared.chain import seals_for, verify
from shared.settings import load_settings
from shared.topics import ensure_topics, public_topics

pytestmark = pytest.mark.integration


@pytest.fixture
def sealed_store(pg_store_url, kafka_bootstrap):
    ensure_topics(kafka_bootstrap, public_topics())
    settings = load_settings("referral", {"JINGKANG_REFERRAL_STORE": pg_store_url, "JINGKANG_KAFKA": kafka_bootstrap})
    referrals = create_application(settings)
    for i in range(6):
        referrals.open_medical_referral(client_id=uuid.uuid4(), cause_event_id=f"cause-{i}")
        if i == 2:  # a gap in the notification ids, as a rolled-back transaction leaves
            with psycopg.connect(pg_store_url.split("?")[0], autocommit=True) as conn:
                conn.execute(f"SELECT nextval('{schema_of(pg_store_url)}.referral_events_notification_id_seq')")
    relay = create_relay(settings, referrals)
    while relay.publish_batch():
        pass
    relay.producer.close()
    return referrals, pg_store_url


def schema_of(url: str) -> str:
    return url.split("schema=")[1]


def check(referrals, url):
    return verify(all_notifications(referrals), seals_for(url).all())


def sql(url: str, statement: str, *params) -> list:
    """Run SQL as someone with direct database access would; T. is the events table."""
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        cursor = conn.execute(statement.replace("T.", f"{schema_of(url)}.referral_events"), params)
        return cursor.fetchall() if statement.startswith("SELECT") else []


def ids(url):
    return [r[0] for r in sql(url, "SELECT notification_id FROM T. ORDER BY notification_id")]


def test_an_untouched_store_verifies(sealed_store):
    referrals, url = sealed_store
    checked, finding = check(referrals, url)
    assert finding is None and checked == len(ids(url)) >= 18


def test_an_altered_event_is_named(sealed_store):
    referrals, url = sealed_store
    victim = ids(url)[7]
    sql(url, "UPDATE T. SET state = overlay(state placing 'X'::bytea from 5 for 1) WHERE notification_id = %s", victim)
    assert check(referrals, url)[1].position == victim
    assert "altered" in check(referrals, url)[1].problem


def test_a_deleted_event_is_named(sealed_store):
    referrals, url = sealed_store
    victim = ids(url)[4]
    sql(url, "DELETE FROM T. WHERE notification_id = %s", victim)
    assert (check(referrals, url)[1].position, "deleted" in check(referrals, url)[1].problem) == (victim, True)


def test_an_inserted_event_is_named(sealed_store):
    referrals, url = sealed_store
    gap = next(i for i in range(1, max(ids(url))) if i not in ids(url))
    sql(url, "INSERT INTO T. (originator_id, originator_version, topic, state, notification_id) "
             "SELECT %s, 1, topic, state, %s FROM T. WHERE notification_id = 1", uuid.uuid4(), gap)
    finding = check(referrals, url)[1]
    assert (finding.position, "inserted" in finding.problem) == (gap, True)


def test_reordered_events_are_named(sealed_store):
    referrals, url = sealed_store
    a, b = ids(url)[10], ids(url)[11]
    sql(url, "UPDATE T. SET notification_id = -1 WHERE notification_id = %s", a)
    sql(url, "UPDATE T. SET notification_id = %s WHERE notification_id = %s", a, b)
    sql(url, "UPDATE T. SET notification_id = %s WHERE notification_id = -1", b)
    finding = check(referrals, url)[1]
    assert (finding.position, "reordered" in finding.problem) == (a, True)
