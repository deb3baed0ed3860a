"""End to end, notification on the running system (deploy/run.py against the test Kafka
broker), through HTTP and events alone: a district integration registers webhook
subscriptions and a real HTTP server started by the test receives, signed, the same
CloudEvents as intake's and referral's topics for a client of its district, as far as the
client's consent allows the purpose. The client's "plan due soon" reminder goes to the
station referral placed them at, 25 days later (every process's clock is moved ahead);
another client's, whose plan was agreed in time, is cancelled."""
from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.e2e.conftest import URL, auth, move_clock
from tests.support import application_body, wait_until

pytestmark = pytest.mark.e2e
WORKER = auth("station_worker", sub="worker-e2e")
ADMIN = auth("district_admin", sub="district-e2e")
INTEGRATION = auth("integration", sub="integration-e2e")
SECRETS = {"/supervision": "supervision-secret-0001", "/health": "health-secret-000000002"}


class Subscriber(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["content-length"]))
        fields = dict(p.split("=", 1) for p in self.headers["X-Jingkang-Signature"].split(","))
        expected = hmac.new(SECRETS[self.path].encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        self.received.append({"path": self.path, "event": json.loads(body),
                              "verified": hmac.compare_digest(expected, fields["v1"])})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def subscriber():
    Subscriber.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Subscriber)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def register_client(street: str) -> str:
    r = httpx.post(URL["intake"] + "/v1/applications", json=application_body(street_code=street),
                   headers=WORKER)
    assert r.status_code == 201, r.text
    application_id = r.json()["application_id"]
    # Consent to rehabilitation services only (intake's default scope): no sharing with health
    r = httpx.post(f"{URL['intake']}/v1/applications/{application_id}/consent", json={"signed_by": "self"},
                   headers=WORKER)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{URL['intake']}/v1/applications/{application_id}/register", headers=WORKER)
    assert r.status_code == 201, r.text
    return r.json()["client_id"]


def assess_community_rehab(client_id: str) -> None:
    wait_until(lambda: httpx.get(f"{URL['assessment']}/v1/clients/{client_id}/record", headers=WORKER).status_code == 200,
               timeout=90, what="assessment to learn the client")
    r = httpx.post(f"{URL['assessment']}/v1/clients/{client_id}/assessments", headers=WORKER,
                   json={"kind": "baseline", "stability": "stable", "risk_level": 1, "willing": True,
                         "functional_score": 60, "assessor": "staff-e2e"})
    assert r.status_code == 201, r.text
    assert r.json()["service_category"] == "community_rehab"


def notifications(client_id: str) -> list[dict]:
    return httpx.get(URL["notification"] + "/v1/notifications", params={"client_id": client_id},
                     headers=WORKER).json()["notifications"]


def test_district_webhooks_by_consent_and_the_plan_reminder_on_the_running_system(system, subscriber):
    # Given a district integration subscribed for supervision and one for health
    for path, purpose in (("/supervision", "district_supervision"), ("/health", "health")):
        r = httpx.post(URL["notification"] + "/v1/subscriptions", headers=INTEGRATION, json={
            "district_code": "110105", "url": subscriber + path, "secret": SECRETS[path], "purpose": purpose,
            "event_types": ["jingkang.intake.ClientRegistered.v1", "jingkang.referral.ClientPlaced.v1"]})
        assert r.status_code == 201, r.text
        assert "secret" not in r.json()
    # and a station serving a street of its own
    street = f"110105{random.randrange(200, 500):03d}"  # referral_loop takes 500-999
    r = httpx.post(URL["referral"] + "/v1/stations", headers=ADMIN, json={
        "name": "朝阳区宁康驿站（提醒测试）", "operator": "朝阳区精神康复协会", "tier": "ningkang_post",
        "district_code": "110105", "streets": [street], "capacity": 5, "services": ["social_skills"]})
    assert r.status_code == 201, r.text
    station_id = r.json()["station_id"]

    # When a client living there is registered and assessed community_rehab (so referral places them)
    client_id = register_client(street)
    assess_community_rehab(client_id)

    # Then the supervision webhook receives ClientRegistered and ClientPlaced, signed, as on the topics
    def received_for_client():
        got = [r for r in Subscriber.received if r["event"]["subject"] == client_id]
        return got if len(got) >= 2 else None

    got = wait_until(received_for_client, timeout=90, what="two webhook deliveries for the client")
    assert {r["path"] for r in got} == {"/supervision"}
    assert all(r["verified"] for r in got)
    assert sorted(r["event"]["type"] for r in got) == ["jingkang.intake.ClientRegistered.v1",
                                                       "jingkang.referral.ClientPlaced.v1"]
    placed = next(r["event"] for r in got if r["event"]["type"] == "jingkang.referral.ClientPlaced.v1")
    assert placed["data"]["station_id"] == station_id and "id_number" not in json.dumps(placed)

    # And a plan-due reminder waits for day 25
    [reminder] = wait_until(lambda: notifications(client_id), timeout=30, what="the plan reminder scheduled")
    assert (reminder["kind"], reminder["status"]) == ("plan_due", "scheduled")

    # Given a second client whose plan is agreed in time
    other = register_client(street)
    assess_community_rehab(other)
    r = httpx.post(f"{URL['assessment']}/v1/clients/{other}/plan", headers=WORKER,
                   json={"goals": ["每周参加两次小组活动"], "services": ["social_skills"], "agreed_by": "client"})
    assert r.status_code == 201, r.text
    wait_until(lambda: [n["status"] for n in notifications(other)] == ["cancelled"], timeout=60,
               what="the second client's reminder cancelled by RehabPlanAgreed")

    # When 25 days pass
    move_clock(system, 25.1)

    # Then the first client's station is told, once; the second client's reminder stays cancelled
    sent = wait_until(lambda: [n for n in notifications(client_id) if n["status"] == "sent"], timeout=60,
                      what="the plan reminder sent")
    assert [(n["kind"], n["recipient"]) for n in sent] == [("plan_due", f"station:{station_id}")]
    assert [n["status"] for n in notifications(other)] == ["cancelled"]
    # And the health subscription received nothing about either client (no consent to share with health)
    assert not [r for r in Subscriber.received if r["path"] == "/health" and r["event"]["subject"] in (client_id, other)]
