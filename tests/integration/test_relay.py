"""The outbox relay on a real PostgreSQL store and a real Kafka broker: what it
publishes equals what was stored, in order, once; a relay killed mid-stream and
restarted loses nothing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date

import pytest

from services.intake.application import create_application
from services.intake.contracts import to_public
from services.intake.relay import create_relay
from shared.relay import POSITION
from shared.settings import load_settings
from shared.topics import ensure_topics, public_topics
from tests.conftest import ROOT
from tests.support import applicant, read_topic, wait_until

pytestmark = pytest.mark.integration


def settings_for(store_url: str, bootstrap: str, **extra: str):
    env = {"JINGKANG_INTAKE_STORE": store_url, "JINGKANG_KAFKA": bootstrap,
           "JINGKANG_INTAKE_CIPHER_KEY": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=", **extra}
    return load_settings("intake", env), env


def register_clients(intake, n: int) -> list[str]:
    subjects = []
    for _ in range(n):
        person = applicant()
        person["birth_date"] = date.fromisoformat(person["birth_date"])
        application_id = intake.submit_application(source="community", applicant=person, district_code="110105",
                                                   street_code="110105002", hardship_categories=[])
        intake.record_consent(application_id, signed_by="self", scope={
            "rehabilitation_services": True, "share_with_health": False, "share_with_disability_and_employment": False})
        client_id = intake.register_client(application_id)
        subjects += [str(application_id), str(client_id)]
    return subjects


def expected_events(intake) -> list[tuple[int, str]]:
    """(log position, public type) of everything stored that has a public form."""
    out = []
    for n in intake.recorder.select_notifications(start=1, limit=100_000):
        for public in to_public(intake.mapper.to_domain_event(n)):
            out.append((n.id, f"jingkang.intake.{public.NAME}.v1"))
    return out


def test_published_equals_stored_in_order_once(pg_store_url, kafka_bootstrap):
    settings, _ = settings_for(pg_store_url, kafka_bootstrap)
    ensure_topics(kafka_bootstrap, public_topics())
    intake = create_application(settings)
    subjects = set(register_clients(intake, 20))
    relay = create_relay(settings, intake)

    while relay.publish_batch():
        pass
    assert relay.lag() == 0
    assert relay.publish_batch() == 0  # nothing new: nothing republished

    expected = expected_events(intake)
    received = read_topic(kafka_bootstrap, "jingkang.intake.v1", lambda ce: ce["subject"] in subjects, len(expected))
    got = [(ce["sequence"], ce["type"]) for _, ce in received]
    assert sorted(got) == sorted(expected)  # everything, once
    assert len({ce["id"] for _, ce in received}) == len(received)
    by_subject: dict[str, list[int]] = {}
    for message, ce in received:
        assert message.key.decode() == ce["subject"]
        by_subject.setdefault(ce["subject"], []).append(ce["sequence"])
    assert all(seqs == sorted(seqs) for seqs in by_subject.values())  # per-key order kept
    relay.producer.close()


def test_each_message_carries_the_trace_of_the_command_that_stored_it(pg_store_url, kafka_bootstrap):
    from opentelemetry import trace

    from shared.store import command_context
    from shared.telemetry import context_from_headers

    settings, _ = settings_for(pg_store_url, kafka_bootstrap)
    ensure_topics(kafka_bootstrap, public_topics())
    intake = create_application(settings)
    traces = {}
    for n in range(3):
        traceparent = f"00-{n + 1:032x}-{n + 1:016x}-01"
        with command_context(traceparent=traceparent):
            for subject in register_clients(intake, 1):
                traces[subject] = traceparent
    relay = create_relay(settings, intake)
    while relay.publish_batch():
        pass
    received = read_topic(kafka_bootstrap, "jingkang.intake.v1", lambda ce: ce["subject"] in traces,
                          len(expected_events(intake)))
    assert received
    for message, ce in received:
        headers = dict(message.headers)
        assert headers["traceparent"].decode() == ce["traceparent"] == traces[ce["subject"]]
        # What a consumer continues from the header: the command's trace.
        parent = trace.get_current_span(context_from_headers(message.headers)).get_span_context()
        assert format(parent.trace_id, "032x") == traces[ce["subject"]].split("-")[1]
    relay.producer.close()


def test_relay_killed_mid_stream_loses_nothing(pg_store_url, kafka_bootstrap):
    settings, env = settings_for(pg_store_url, kafka_bootstrap, JINGKANG_RELAY_BATCH_SIZE="20")
    ensure_topics(kafka_bootstrap, public_topics())
    intake = create_application(settings)
    subjects = set(register_clients(intake, 150))  # 600 stored events
    total = intake.recorder.max_notification_id()
    proc_env = dict(os.environ, **env, PYTHONPATH=str(ROOT))

    def start():
        return subprocess.Popen([sys.executable, "-m", "services.intake", "relay"], cwd=ROOT, env=proc_env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    relay = start()
    try:
        wait_until(lambda: (intake.recorder.max_tracking_id(POSITION) or 0) > 0, timeout=60, what="relay progress")
        relay.send_signal(signal.SIGKILL)
        relay.wait()
        killed_at = intake.recorder.max_tracking_id(POSITION)
        assert killed_at < total, "relay finished before it could be killed; test proves nothing"
        relay = start()
        wait_until(lambda: intake.recorder.max_tracking_id(POSITION) == total, timeout=90, what="relay to catch up")
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=20)

    expected = expected_events(intake)
    received = read_topic(kafka_bootstrap, "jingkang.intake.v1", lambda ce: ce["subject"] in subjects, len(expected))
    assert {(ce["sequence"], ce["type"]) for _, ce in received} == set(expected)  # nothing lost
    first_seen: dict[str, list[int]] = {}
    seen_ids = set()
    for _, ce in received:  # a repeat (at-least-once) has the same id; first occurrences stay in order
        if ce["id"] not in seen_ids:
            seen_ids.add(ce["id"])
            first_seen.setdefault(ce["subject"], []).append(ce["sequence"])
    assert all(seqs == sorted(seqs) for seqs in first_seen.values())


def test_the_sqlite_waiter_wakes_on_a_commit_from_another_connection(tmp_path):
    import sqlite3
    import threading

    from shared.relay import sqlite_waiter

    path = str(tmp_path / "store.sqlite")
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE events (n INTEGER)")
    stop = threading.Event()
    wait = sqlite_waiter(path, poll_seconds=0.2, stop=stop)
    wait(0)  # opens its connection and notes the commit counter
    woke = threading.Event()
    waiter = threading.Thread(target=lambda: (wait(3600), woke.set()), daemon=True)
    waiter.start()
    assert not woke.wait(0.5), "woke with nothing committed"
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO events VALUES (1)")
    waiter.join(60)  # an hour's timeout: only the commit can end this wait
    try:
        assert woke.is_set(), "a commit by another connection did not wake the relay"
    finally:
        stop.set()
