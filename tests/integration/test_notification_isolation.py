"""Failure isolation in notification's deadline tick, with its worker process on real Kafka
and PostgreSQL (issue 10): a subscription whose URL the HTTP client cannot use (stored
before URLs were parsed: a CR LF in it) once raised out of the webhook channel and aborted
every 30-second tick, so other subscribers got nothing and reminders on the same agenda
waited. Now its attempt is recorded as failed, with the reason, and in the same tick the
other subscriber receives the event and the client's reminder is sent."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kafka import KafkaProducer

from services.notification.application import create_application, local_day
from services.notification.domain import DistrictSubscriptions, Subscription
from services.notification.settings import load_settings
from shared.contract.intake import ClientRegistered, ConsentScope
from shared.envelope import encode, to_cloudevent
from shared.topics import ensure_topics, public_topics
from tests.conftest import ROOT
from tests.support import wait_until

pytestmark = pytest.mark.integration
REGISTERED = "jingkang.intake.ClientRegistered.v1"


class Subscriber(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802
        Subscriber.received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def subscriber_url():
    Subscriber.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Subscriber)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/events"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_bad_subscription_delays_neither_another_subscribers_delivery_nor_a_reminder(
        pg_store_url, kafka_bootstrap, subscriber_url, tmp_path):
    env = {"JINGKANG_NOTIFICATION_STORE": pg_store_url, "JINGKANG_KAFKA": kafka_bootstrap,
           "JINGKANG_NOTIFICATION_GROUP": f"t-isolation-{uuid.uuid4().hex[:8]}", "JINGKANG_TICK_SECONDS": "1",
           "JINGKANG_NOTIFICATION_WEBHOOK_NETWORKS": "127.0.0.0/8", "JINGKANG_NOTIFICATION_PLAN_REMINDER_DAYS": "1",
           "JINGKANG_DATA_DIR": str(tmp_path)}
    notifications = create_application(load_settings(env))
    now = notifications.clock.now()
    # Given district 110105's two subscriptions: first the bad one, as it could be stored
    # before URLs were parsed, then a good one
    bad = Subscription(district_code="110105", event_types=[REGISTERED], url="https://district.example/in\r\nX: 1",
                       secret="b" * 16, purpose="district_supervision", registered_at=now)
    district = DistrictSubscriptions(district_code="110105")
    district.add(bad.id)
    notifications.save(bad, district)
    good = notifications.register_subscription(district_code="110105", event_types=[REGISTERED], url=subscriber_url,
                                               secret="g" * 16, purpose="district_supervision")
    # and a client registered two days ago, so its "plan due soon" reminder (1 day) is due now
    client = uuid.uuid4()
    registered = ClientRegistered(
        client_id=client, application_id=uuid.uuid4(), source="community", district_code="110105",
        street_code="110105001", registered_on=local_day(now) - timedelta(days=2), free_service_eligible=False,
        hardship_categories=[], consent=ConsentScope(rehabilitation_services=True, share_with_health=False,
                                                     share_with_disability_and_employment=False))

    ensure_topics(kafka_bootstrap, public_topics())
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "services.notification", "worker"], cwd=ROOT,
                              env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        # When intake's ClientRegistered arrives on Kafka
        ce = to_cloudevent(registered, id=str(uuid.uuid4()), time=datetime.now(timezone.utc), sequence=1)
        producer.send("jingkang.intake.v1", key=str(client).encode(), value=encode(ce)).get(timeout=30)

        # Then the good subscriber receives it, and the reminder is sent, although the bad one fails
        wait_until(lambda: any(e["subject"] == str(client) for e in Subscriber.received), timeout=120, interval=0.5,
                   what="the good subscriber's delivery")
        wait_until(lambda: [n.status for n in notifications.list_for_client(client)] == ["sent"], timeout=60,
                   interval=0.5, what="the client's plan reminder to be sent")
        failed = wait_until(lambda: notifications.list_deliveries("failed", bad.id), timeout=60, interval=0.5,
                            what="the bad subscription's attempt recorded as failed")
        assert failed[0].attempts[-1]["outcome"].startswith("InvalidURL")
        assert notifications.list_deliveries("failed", good.id) == []
    finally:
        producer.close()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
