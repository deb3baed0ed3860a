"""Webhook deliveries to real HTTP servers started by this test on 127.0.0.1 (http.server
in a thread), through the real WebhookChannel (httpx over sockets) and a SQLite event
store: each request's signature is checked by the server the way the README tells a
subscriber to; a server answering 500 twice then 200 has the event on the 3rd attempt;
one that always answers 500, and one where nobody listens, end in the dead-letter list
after the bound. The clock is a FixedClock moved past each backoff; no Kafka is needed
(the consumer machinery is fed the CloudEvent bytes a topic would carry)."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import uuid
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from services.notification.api import create_app
from services.notification.application import create_application
from services.notification.contracts import handlers
from services.notification.settings import load_settings
from shared.clock import FixedClock
from shared.consumer import EventConsumer
from shared.contract.intake import ClientRegistered, ConsentScope
from shared.envelope import encode, to_cloudevent

pytestmark = pytest.mark.integration

SECRETS = {"/flaky": "flaky-subscriber-secret-1", "/down": "down-subscriber-secret-22", "/nobody": "nobody-listens-secret-333"}
ATTEMPTS, BACKOFF = 4, 30


class Subscriber(BaseHTTPRequestHandler):
    """Verifies every delivery's signature, then answers from its path's script."""

    received: list[dict] = []
    script = {"/flaky": [500, 500, 200], "/down": [500]}
    clock: FixedClock

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["content-length"]))
        # What a subscriber does (README): parse t and v1, recompute, compare in constant time, check age.
        fields = dict(part.split("=", 1) for part in self.headers["X-Jingkang-Signature"].split(","))
        expected = hmac.new(SECRETS[self.path].encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        verified = hmac.compare_digest(expected, fields["v1"]) and abs(self.clock.now().timestamp() - int(fields["t"])) < 300
        answers = self.script[self.path]
        status = answers.pop(0) if len(answers) > 1 else answers[0]
        self.received.append({"path": self.path, "verified": verified, "body": body, "status": status,
                              "content_type": self.headers["content-type"],
                              "delivery": self.headers["X-Jingkang-Delivery"]})
        self.send_response(status if verified else 401)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def server():
    clock = FixedClock()
    Subscriber.clock, Subscriber.received = clock, []
    Subscriber.script = {"/flaky": [500, 500, 200], "/down": [500]}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Subscriber)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", clock
    finally:
        httpd.shutdown()
        httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_signed_deliveries_are_retried_with_backoff_and_dead_lettered_after_the_bound(server, tmp_path):
    base, clock = server
    settings = load_settings({"JINGKANG_NOTIFICATION_STORE": f"sqlite:///{tmp_path}/notification.sqlite",
                              "JINGKANG_NOTIFICATION_WEBHOOK_ATTEMPTS": str(ATTEMPTS),
                              "JINGKANG_NOTIFICATION_WEBHOOK_BACKOFF_SECONDS": str(BACKOFF),
                              "JINGKANG_NOTIFICATION_WEBHOOK_TIMEOUT_SECONDS": "2",
                              "JINGKANG_NOTIFICATION_WEBHOOK_NETWORKS": "127.0.0.0/8"})  # the subscribers run here
    notifications = create_application(settings, clock=clock)
    http = TestClient(create_app(settings, notifications))
    consumer = EventConsumer(notifications, "notification", handlers(notifications), attempts=1)

    # Given three subscriptions of district 110105 to ClientRegistered: one flaky, one down,
    # one whose server is gone
    urls = {"/flaky": base + "/flaky", "/down": base + "/down", "/nobody": f"http://127.0.0.1:{free_port()}/nobody"}
    subs = {}
    for path, url in urls.items():
        r = http.post("/v1/subscriptions", json={"district_code": "110105", "event_types": ["jingkang.intake.ClientRegistered.v1"],
                                                 "url": url, "secret": SECRETS[path], "purpose": "district_supervision"})
        assert r.status_code == 201, r.text
        subs[path] = r.json()["subscription_id"]

    # When a client of the district is registered (as intake's topic carries it)
    consent = ConsentScope(rehabilitation_services=True, share_with_health=False, share_with_disability_and_employment=False)
    event = ClientRegistered(client_id=uuid.uuid4(), application_id=uuid.uuid4(), source="community",
                             district_code="110105", street_code="110105001", registered_on=date(2026, 1, 5),
                             free_service_eligible=False, hardship_categories=[], consent=consent)
    raw = encode(to_cloudevent(event, id=str(uuid.uuid4()), time=clock.now(), sequence=1))
    assert consumer.process("jingkang.intake.v1", 0, 1, raw).status == "processed"
    assert Subscriber.received == []  # the consumer only schedules; the worker's timer delivers

    # And the worker's timer ticks past each backoff (30 s, 60 s, 120 s)
    notifications.run_deadlines()
    for wait in (BACKOFF, 2 * BACKOFF, 4 * BACKOFF):
        clock.advance(seconds=wait - 1)
        notifications.run_deadlines()  # not due yet: nothing is sent
        clock.advance(seconds=1)
        notifications.run_deadlines()

    # Then every request carried a valid signature and exactly the topic's bytes
    assert Subscriber.received and all(r["verified"] for r in Subscriber.received)
    assert {r["body"] for r in Subscriber.received} == {raw}
    assert {r["content_type"] for r in Subscriber.received} == {"application/cloudevents+json"}
    assert json.loads(raw)["subject"] == str(event.client_id)

    # The flaky server had it on the 3rd attempt, and was not called again
    flaky = [r for r in Subscriber.received if r["path"] == "/flaky"]
    assert [r["status"] for r in flaky] == [500, 500, 200]
    delivered = http.get(f"/v1/deliveries/{flaky[0]['delivery']}").json()
    assert delivered["status"] == "delivered"
    assert [a["outcome"] for a in delivered["attempts"]] == ["HTTP 500", "HTTP 500", "HTTP 200"]

    # The server that always fails was tried up to the bound, then dead-lettered
    down = [r for r in Subscriber.received if r["path"] == "/down"]
    assert [r["status"] for r in down] == [500] * ATTEMPTS
    dead = http.get("/v1/deliveries", params={"status": "dead"}).json()["deliveries"]
    by_sub = {d["subscription_id"]: d for d in dead}
    assert set(by_sub) == {subs["/down"], subs["/nobody"]}
    assert by_sub[subs["/down"]]["reason"] == f"gave up after {ATTEMPTS} attempts; last: HTTP 500"
    # Nobody listening is a connection error: retried the same way, then dead
    nobody = by_sub[subs["/nobody"]]
    assert len(nobody["attempts"]) == ATTEMPTS and all(a["status_code"] is None for a in nobody["attempts"])
    assert http.get(f"/v1/subscriptions/{subs['/flaky']}/deliveries", params={"status": "dead"}).json() == {"deliveries": []}
    assert http.get("/v1/deliveries", params={"status": "failed"}).json() == {"deliveries": []}

    # And more ticks send nothing more
    clock.advance(hours=3)
    notifications.run_deadlines()
    assert len(Subscriber.received) == 3 + ATTEMPTS
