"""Webhook subscriptions of district integrations, in memory with a fake HTTP transport
(httpx.MockTransport) and a FixedClock: which subscription gets which event (district,
type, consent for the purpose), the same CloudEvent bytes as the topic, the signature, the
retry schedule and the dead-letter list, and the HTTP API. No network, no wall clock."""
from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi.testclient import TestClient

from services.notification.api import create_app
from services.notification.application import Notifications
from services.notification.channels import SIGNATURE_HEADER, WebhookChannel, signature, verify
from services.notification.contracts import handlers
from services.notification.domain import Delivery, RetryPolicy
from shared.clock import FixedClock
from shared.consumer import EventConsumer
from shared.contract.assessment import AssessmentCompleted
from shared.contract.funding import FundingShare, PurchaseContractPaid, PurchaseContractSigned
from shared.contract.intake import ClientRegistered, ClientRelocated, ConsentScope, ConsentWithdrawn
from shared.contract.referral import ClientPlaced
from shared.envelope import encode, to_cloudevent
from shared.settings import load_settings, store_env

HERE, THERE = "110105", "110106"
ALL = ConsentScope(rehabilitation_services=True, share_with_health=True, share_with_disability_and_employment=True)
REHAB_ONLY = ConsentScope(rehabilitation_services=True, share_with_health=False, share_with_disability_and_employment=False)
NONE = ConsentScope(rehabilitation_services=False, share_with_health=False, share_with_disability_and_employment=False)
REGISTERED = "jingkang.intake.ClientRegistered.v1"
ASSESSED = "jingkang.assessment.AssessmentCompleted.v1"
WITHDRAWN = "jingkang.intake.ConsentWithdrawn.v1"
SECRET = "s3cret-of-district-110105"


class Subscriber:
    """A fake HTTP endpoint per URL: answers from a script (then the last answer forever)
    and records every request."""

    def __init__(self):
        self.script: dict[str, list] = {}
        self.requests: list[httpx.Request] = []

    def answer(self, url: str, *answers) -> None:
        self.script[url] = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.script.get(str(request.url), [200])
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, tuple):
            return httpx.Response(answer[0], headers=answer[1])
        return httpx.Response(answer)

    def to(self, url: str) -> list[httpx.Request]:
        return [r for r in self.requests if str(r.url) == url]


class World:
    """The notification service as its worker runs it, fed CloudEvents as Kafka would."""

    def __init__(self, store: str = "memory://", policy: RetryPolicy | None = None):
        self.settings = load_settings("notification", {"JINGKANG_NOTIFICATION_STORE": store})
        self.clock = FixedClock()
        self.subscriber = Subscriber()
        self.app = Notifications(env=store_env(self.settings), clock=self.clock,
                                 webhook=WebhookChannel(transport=httpx.MockTransport(self.subscriber)),
                                 policy=policy or RetryPolicy(max_attempts=3, backoff_seconds=60, max_backoff_seconds=600))
        self.consumer = EventConsumer(self.app, "notification", handlers(self.app), attempts=1, sleep=lambda _: None)
        self.offset = 0
        self.http = TestClient(create_app(self.settings, self.app))

    def publish(self, event, ce_id: str | None = None) -> bytes:
        """The event arrives on its topic; returns the exact bytes Kafka carried."""
        self.offset += 1
        raw = encode(to_cloudevent(event, id=ce_id or str(uuid.uuid4()), time=self.clock.now(), sequence=self.offset))
        outcome = self.consumer.process(f"jingkang.{type(event).SERVICE}.v1", 0, self.offset, raw)
        assert outcome.status == "processed", outcome.reason
        return raw

    def subscribe(self, url: str, types: list[str], district: str = HERE, purpose: str = "district_supervision") -> str:
        r = self.http.post("/v1/subscriptions", json={"district_code": district, "event_types": types, "url": url,
                                                      "secret": SECRET, "purpose": purpose})
        assert r.status_code == 201, r.text
        return r.json()["subscription_id"]

    def tick(self, **advance) -> None:
        if advance:
            self.clock.advance(**advance)
        self.app.run_deadlines()


def registered(client=None, district=HERE, consent=ALL, source="community") -> ClientRegistered:
    return ClientRegistered(client_id=client or uuid.uuid4(), application_id=uuid.uuid4(), source=source,
                            district_code=district, street_code=district + "001", registered_on=date(2026, 1, 5),
                            free_service_eligible=False, hardship_categories=[], consent=consent)


def assessed(client) -> AssessmentCompleted:
    return AssessmentCompleted(client_id=client, assessment_id=uuid.uuid4(), kind="baseline", stability="stable",
                               risk_level=1, willing=True, service_category="community_rehab",
                               medical_referral_needed=False, assessed_on=date(2026, 1, 6))


@pytest.fixture
def world() -> World:
    return World()


# --- matching ----------------------------------------------------------------------------

def test_a_subscription_gets_the_same_cloudevent_for_its_own_districts_clients_only(world):
    # Given subscriptions of two districts, and one of this district for another type only
    world.subscribe("https://here.example/hook", [REGISTERED, ASSESSED])
    world.subscribe("https://there.example/hook", [REGISTERED], district=THERE)
    world.subscribe("https://here.example/assessed-only", [ASSESSED])

    # When a client of this district is registered (the consumer only schedules) and the timer ticks
    raw = world.publish(registered())
    assert world.subscriber.requests == []
    world.tick()

    # Then exactly this district's subscriber of ClientRegistered got it: the same bytes as on the topic
    [request] = world.subscriber.requests
    assert str(request.url) == "https://here.example/hook"
    assert request.content == raw
    assert request.headers["content-type"] == "application/cloudevents+json"
    assert verify(SECRET, request.headers[SIGNATURE_HEADER], request.content, now=world.clock.now().timestamp())
    assert request.headers["x-jingkang-delivery"]
    # And a later tick sends nothing again
    world.tick(minutes=5)
    assert len(world.subscriber.requests) == 1


def test_a_republished_event_is_delivered_once(world):
    world.subscribe("https://here.example/hook", [REGISTERED])
    event, ce_id = registered(), str(uuid.uuid4())
    world.publish(event, ce_id)
    world.tick()
    # The relay republished the same event (same CloudEvent id) at a later offset
    world.publish(event, ce_id)
    world.tick(minutes=1)
    assert len(world.subscriber.requests) == 1


def test_contract_events_go_to_the_purchasing_district_without_a_consent_check(world):
    world.subscribe("https://here.example/funding", ["jingkang.funding.PurchaseContractSigned.v1",
                                                     "jingkang.funding.PurchaseContractPaid.v1"])
    world.subscribe("https://there.example/funding", ["jingkang.funding.PurchaseContractPaid.v1"], district=THERE)
    contract = uuid.uuid4()
    world.publish(PurchaseContractSigned(contract_id=contract, station_id=uuid.uuid4(), district_code=HERE,
                                         period_start=date(2026, 1, 1), period_end=date(2026, 12, 31),
                                         budget=Decimal("1000.00"),
                                         funding_sources=[FundingShare(source="district_finance", amount=Decimal("1000"))],
                                         unit_prices={"social_skills": Decimal("100")}))
    world.publish(PurchaseContractPaid(contract_id=contract, payment_id=uuid.uuid4(), amount=Decimal("500.00"),
                                       period="2026-01", paid_total=Decimal("500.00"), remaining=Decimal("500.00")))
    world.tick()
    # (Webhook deliveries are not ordered: a subscriber orders by the CloudEvent's time and sequence.)
    assert sorted(json.loads(r.content)["type"] for r in world.subscriber.to("https://here.example/funding")) == [
        "jingkang.funding.PurchaseContractPaid.v1", "jingkang.funding.PurchaseContractSigned.v1"]
    assert world.subscriber.to("https://there.example/funding") == []


def test_a_relocation_goes_to_both_districts_then_only_the_new_one_hears(world):
    old = world.subscribe("https://here.example/hook", [ASSESSED, "jingkang.intake.ClientRelocated.v1"])
    new = world.subscribe("https://there.example/hook", [ASSESSED, "jingkang.intake.ClientRelocated.v1"], district=THERE)
    client = uuid.uuid4()
    world.publish(registered(client))
    world.publish(ClientRelocated(client_id=client, district_code=THERE, street_code=THERE + "002",
                                  relocated_on=date(2026, 2, 1)))
    world.publish(assessed(client))
    world.tick()
    types = {url: [json.loads(r.content)["type"] for r in world.subscriber.to(url)]
             for url in ("https://here.example/hook", "https://there.example/hook")}
    assert types["https://here.example/hook"] == ["jingkang.intake.ClientRelocated.v1"]
    assert sorted(types["https://there.example/hook"]) == [ASSESSED, "jingkang.intake.ClientRelocated.v1"]
    assert old != new


def test_events_that_arrive_before_the_registration_are_held_until_consent_is_known(world):
    # Topics are consumed side by side: assessment's event can overtake intake's
    world.subscribe("https://here.example/hook", [REGISTERED, ASSESSED, "jingkang.referral.ClientPlaced.v1"])
    client = uuid.uuid4()
    world.publish(assessed(client))
    world.publish(ClientPlaced(client_id=client, station_id=uuid.uuid4(), district_code=HERE, placed_on=date(2026, 1, 6)))
    world.tick()
    assert world.subscriber.requests == []  # nothing shared before consent is known

    world.publish(registered(client))
    world.tick()
    assert sorted(json.loads(r.content)["type"] for r in world.subscriber.requests) == sorted(
        [ASSESSED, "jingkang.referral.ClientPlaced.v1", REGISTERED])


# --- consent -----------------------------------------------------------------------------

def test_the_purpose_decides_which_consent_is_needed(world):
    world.subscribe("https://supervision.example/", [REGISTERED], purpose="district_supervision")
    world.subscribe("https://health.example/", [REGISTERED], purpose="health")
    world.subscribe("https://employment.example/", [REGISTERED], purpose="disability_employment")

    world.publish(registered(consent=REHAB_ONLY))
    world.tick()

    assert [str(r.url) for r in world.subscriber.requests] == ["https://supervision.example/"]


def test_a_withdrawal_stops_later_deliveries_without_rewriting_history(world):
    sub = world.subscribe("https://here.example/hook", [REGISTERED, ASSESSED, WITHDRAWN])
    client = uuid.uuid4()
    # Given a delivered registration
    world.publish(registered(client))
    world.tick()
    [first] = world.subscriber.requests

    # When consent is withdrawn, then the notice itself still goes to the district
    world.publish(ConsentWithdrawn(client_id=client, consent=NONE, withdrawn_on=date(2026, 2, 1)))
    world.tick(minutes=1)
    assert json.loads(world.subscriber.requests[-1].content)["type"] == WITHDRAWN

    # And a later event about the client is not delivered
    world.publish(assessed(client))
    world.tick(minutes=1)
    assert len(world.subscriber.requests) == 2
    # And the earlier delivery is still on record as delivered
    first_id = uuid.UUID(first.headers["x-jingkang-delivery"])
    assert world.app.get_delivery(first_id).status == "delivered"
    assert world.http.get(f"/v1/deliveries/{first_id}").json()["subscription_id"] == sub


def test_a_withdrawal_cancels_a_delivery_still_waiting_for_its_retry(world):
    world.subscribe("https://here.example/hook", [ASSESSED])
    world.subscriber.answer("https://here.example/hook", 503, 200)
    client = uuid.uuid4()
    world.publish(registered(client))
    world.publish(assessed(client))
    world.tick()
    [request] = world.subscriber.requests
    delivery_id = uuid.UUID(request.headers["x-jingkang-delivery"])
    assert world.app.get_delivery(delivery_id).status == "failed"

    world.publish(ConsentWithdrawn(client_id=client, consent=NONE, withdrawn_on=date(2026, 2, 1)))
    world.tick(minutes=10)

    assert len(world.subscriber.requests) == 1
    delivery = world.app.get_delivery(delivery_id)
    assert (delivery.status, delivery.reason) == ("cancelled", "consent for district_supervision withdrawn")
    assert world.app.list_deliveries("failed") == []


# --- signature ---------------------------------------------------------------------------

def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    import hashlib
    import hmac

    body = '{"id":"1"}'
    expected = hmac.new(b"0123456789abcdef", b'1767603600.{"id":"1"}', hashlib.sha256).hexdigest()
    assert signature("0123456789abcdef", 1767603600, body) == f"t=1767603600,v1={expected}"
    header = signature("0123456789abcdef", 1767603600, body)
    assert verify("0123456789abcdef", header, body.encode(), now=1767603600 + 299)
    assert not verify("0123456789abcdef", header, body.encode(), now=1767603600 + 301)  # too old: a replay
    assert not verify("another-secret-000", header, body.encode(), now=1767603600)
    assert not verify("0123456789abcdef", header, b'{"id":"2"}', now=1767603600)
    assert not verify("0123456789abcdef", "garbage", body.encode(), now=1767603600)


# --- retries and dead letters -------------------------------------------------------------

def test_failures_are_retried_with_exponential_backoff_then_dead_lettered(world):
    sub = world.subscribe("https://down.example/hook", [REGISTERED])
    world.subscriber.answer("https://down.example/hook", 500)
    t0 = world.clock.now()
    world.publish(registered())

    # Attempt 1 at once; the next waits 60 s
    world.tick()
    [delivery] = world.app.list_deliveries("failed")
    assert (delivery.status, len(delivery.attempts), delivery.next_attempt_at) == ("failed", 1, t0 + timedelta(seconds=60))
    world.tick(seconds=59)
    assert len(world.subscriber.requests) == 1  # not due yet
    # Attempt 2 at 60 s; the next waits 120 s
    world.tick(seconds=1)
    assert world.app.get_delivery(delivery.id).next_attempt_at == t0 + timedelta(seconds=180)
    # Attempt 3 at 180 s is the last (bound 3): a dead letter
    world.tick(seconds=120)
    dead = world.app.get_delivery(delivery.id)
    assert [a["outcome"] for a in dead.attempts] == ["HTTP 500"] * 3
    assert [a["at"] for a in dead.attempts] == [t0, t0 + timedelta(seconds=60), t0 + timedelta(seconds=180)]
    assert (dead.status, dead.reason) == ("dead", "gave up after 3 attempts; last: HTTP 500")
    world.tick(hours=2)
    assert len(world.subscriber.requests) == 3

    # Visible through the API: globally and per subscription
    failed = world.http.get("/v1/deliveries", params={"status": "failed"}).json()
    dead_letters = world.http.get("/v1/deliveries", params={"status": "dead"}).json()["deliveries"]
    assert failed == {"deliveries": []}
    assert [(d["delivery_id"], d["status"], len(d["attempts"])) for d in dead_letters] == [(str(delivery.id), "dead", 3)]
    assert world.http.get(f"/v1/subscriptions/{sub}/deliveries", params={"status": "dead"}).json() == {"deliveries": dead_letters}
    assert dead_letters[0]["attempts"][0] == {"number": 1, "at": "2026-01-05T09:00:00Z", "status_code": 500,
                                              "outcome": "HTTP 500"}


def dead_letter(world, url: str) -> str:
    """A delivery given up after its three attempts (the subscriber answered 500)."""
    world.subscriber.answer(url, 500)
    world.publish(registered())
    for seconds in (0, 60, 120):
        world.tick(seconds=seconds)
    [dead] = world.app.list_deliveries("dead")
    return str(dead.id)


def test_a_dead_letter_is_redriven_with_a_fresh_round_of_attempts(world):
    # Given a dead letter: the subscriber was down for all three attempts
    url = "https://was-down.example/hook"
    sub = world.subscribe(url, [REGISTERED])
    delivery = dead_letter(world, url)
    # When its district re-drives it, after the subscriber came back
    world.subscriber.answer(url, 503, 200)
    r = world.http.post(f"/v1/deliveries/{delivery}/redrive")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reason"], len(r.json()["attempts"])) == ("pending", None, 3)
    assert world.http.get("/v1/deliveries", params={"status": "dead"}).json() == {"deliveries": []}
    # Then the next tick sends it again; one more failure is retried, not dead-lettered at once
    world.tick()
    assert world.app.get_delivery(uuid.UUID(delivery)).status == "failed"
    assert [d["delivery_id"] for d in world.http.get(f"/v1/subscriptions/{sub}/deliveries",
                                                     params={"status": "failed"}).json()["deliveries"]] == [delivery]
    world.tick(seconds=60)
    done = world.app.get_delivery(uuid.UUID(delivery))
    assert (done.status, [a["outcome"] for a in done.attempts]) == ("delivered", ["HTTP 500"] * 3 + ["HTTP 503", "HTTP 200"])
    assert world.app.list_deliveries("failed") == [] and world.app.list_deliveries("dead") == []
    assert len(world.subscriber.to(url)) == 5


def test_a_redriven_delivery_that_fails_its_new_round_is_a_dead_letter_again(world):
    url = "https://still-down.example/hook"
    world.subscribe(url, [REGISTERED])
    delivery = dead_letter(world, url)
    assert world.http.post(f"/v1/deliveries/{delivery}/redrive").status_code == 200
    for seconds in (0, 60, 120):
        world.tick(seconds=seconds)
    again = world.app.get_delivery(uuid.UUID(delivery))
    assert (again.status, len(again.attempts)) == ("dead", 6)
    assert [d.id for d in world.app.list_deliveries("dead")] == [again.id]


def test_only_a_dead_letter_of_an_active_subscription_is_redriven(world):
    url = "https://fine.example/hook"
    sub = world.subscribe(url, [REGISTERED])
    event_id = json.loads(world.publish(registered()))["id"]
    world.tick()
    delivered = world.app.get_delivery(Delivery.id_for(uuid.UUID(sub), event_id))
    assert delivered.status == "delivered"
    r = world.http.post(f"/v1/deliveries/{delivered.id}/redrive")
    assert (r.status_code, r.json()["error"]) == (409, "conflict")
    assert "only a dead letter" in r.json()["detail"]
    # A dead letter of a subscription since deactivated stays dead
    other = "https://gone.example/hook"
    gone = world.subscribe(other, [REGISTERED])
    dead = dead_letter(world, other)
    assert world.http.delete(f"/v1/subscriptions/{gone}").status_code == 200
    stored = world.app.recorder.max_notification_id()
    r = world.http.post(f"/v1/deliveries/{dead}/redrive")
    assert r.status_code == 409 and "inactive" in r.json()["detail"]
    assert world.app.recorder.max_notification_id() == stored  # refused: nothing stored
    assert world.http.post(f"/v1/deliveries/{uuid.uuid4()}/redrive").status_code == 404


def test_a_delivery_that_recovers_leaves_the_failing_list(world):
    world.subscribe("https://flaky.example/hook", [REGISTERED])
    world.subscriber.answer("https://flaky.example/hook", 502, 200)
    world.publish(registered())
    world.tick()
    assert len(world.app.list_deliveries("failed")) == 1
    world.tick(seconds=60)
    assert world.app.list_deliveries("failed") == [] and world.app.list_deliveries("dead") == []
    assert len(world.subscriber.requests) == 2


@pytest.mark.parametrize("answer, status, outcome", [
    (400, "dead", "HTTP 400"),
    (404, "dead", "HTTP 404"),
    (410, "dead", "HTTP 410"),
    (301, "dead", "HTTP 301"),
    (429, "failed", "HTTP 429"),
    (503, "failed", "HTTP 503"),
    (httpx.ReadTimeout("slow"), "failed", "timeout"),
    (httpx.ConnectError("refused"), "failed", "ConnectError: refused"),
])
def test_what_is_retried(world, answer, status, outcome):
    world.subscribe("https://x.example/hook", [REGISTERED])
    world.subscriber.answer("https://x.example/hook", answer)
    world.publish(registered())
    world.tick()
    [request] = world.subscriber.requests
    delivery = world.app.get_delivery(uuid.UUID(request.headers["x-jingkang-delivery"]))
    assert (delivery.status, delivery.attempts[-1]["outcome"]) == (status, outcome)
    if status == "dead":
        assert "not retried" in delivery.reason


def test_a_429_retry_after_is_honoured(world):
    world.subscribe("https://busy.example/hook", [REGISTERED])
    world.subscriber.answer("https://busy.example/hook", (429, {"retry-after": "300"}), 200)
    world.publish(registered())
    world.tick()
    [delivery] = world.app.list_deliveries("failed")
    assert delivery.next_attempt_at == world.clock.now() + timedelta(seconds=300)


def test_a_deactivated_subscription_gets_nothing_more(world):
    sub = world.subscribe("https://here.example/hook", [REGISTERED])
    world.subscriber.answer("https://here.example/hook", 500)
    world.publish(registered())
    world.tick()
    assert world.http.delete(f"/v1/subscriptions/{sub}").json()["active"] is False

    world.tick(minutes=5)
    world.publish(registered())
    world.tick(minutes=5)

    assert len(world.subscriber.requests) == 1
    [request] = world.subscriber.requests
    assert world.app.get_delivery(uuid.UUID(request.headers["x-jingkang-delivery"])).status == "cancelled"
    assert world.app.list_deliveries("failed") == []


def test_deliveries_wait_for_the_timer_and_survive_a_restart(tmp_path):
    store = f"sqlite:///{tmp_path}/notification.sqlite"
    first = World(store)
    first.subscribe("https://here.example/hook", [REGISTERED])
    first.subscriber.answer("https://here.example/hook", 500)
    raw = first.publish(registered())
    first.tick()
    assert len(first.subscriber.requests) == 1

    # The worker restarts; the retry is due tomorrow's first tick
    second = World(store)
    second.clock.advance(days=1)
    second.tick()
    [request] = second.subscriber.requests
    assert request.content == raw


# --- the API -------------------------------------------------------------------------------

GOOD = {"district_code": HERE, "event_types": [REGISTERED], "url": "https://here.example/hook",
        "secret": SECRET, "purpose": "health"}


def test_registering_listing_and_deactivating_a_subscription(world):
    r = world.http.post("/v1/subscriptions", json=GOOD)
    assert r.status_code == 201
    body = r.json()
    assert "secret" not in body and SECRET not in r.text
    assert body | {"subscription_id": None} == {
        "subscription_id": None, "district_code": HERE, "event_types": [REGISTERED], "url": "https://here.example/hook",
        "purpose": "health", "active": True, "registered_at": "2026-01-05T09:00:00Z", "deactivated_at": None}
    sub = body["subscription_id"]

    listed = world.http.get("/v1/subscriptions", params={"district": HERE})
    assert listed.json() == {"subscriptions": [body]} and SECRET not in listed.text
    assert world.http.get("/v1/subscriptions", params={"district": THERE}).json() == {"subscriptions": []}
    assert world.http.get(f"/v1/subscriptions/{sub}").json() == body

    gone = world.http.delete(f"/v1/subscriptions/{sub}")
    assert gone.status_code == 200 and gone.json()["active"] is False and SECRET not in gone.text
    again = world.http.delete(f"/v1/subscriptions/{sub}")
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    assert world.http.get("/v1/subscriptions", params={"district": HERE}).json()["subscriptions"][0]["active"] is False


@pytest.mark.parametrize("change, field", [
    ({"district_code": "1101"}, "district_code"),
    ({"event_types": []}, "event_types"),
    ({"event_types": ["jingkang.intake.Nonsense.v1"]}, "event_types"),
    ({"event_types": ["ClientRegistered"]}, "event_types"),
    ({"event_types": ["jingkang.intake.ApplicationSubmitted.v1"]}, "event_types"),
    ({"url": "ftp://here.example/hook"}, "url"),
    ({"url": "here.example/hook"}, "url"),
    ({"url": "https://user:pw@here.example/hook"}, "url"),
    ({"secret": "too-short"}, "secret"),
    ({"purpose": "marketing"}, "purpose"),
    ({"secret": None}, "secret"),
])
def test_a_bad_subscription_is_422_naming_the_field_and_stores_nothing(world, change, field):
    before = world.app.recorder.max_notification_id()
    r = world.http.post("/v1/subscriptions", json=GOOD | change)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field
    assert world.app.recorder.max_notification_id() == before


def test_subscription_and_delivery_queries_on_bad_or_unknown_input(world):
    assert world.http.get("/v1/subscriptions").status_code == 422
    r = world.http.get("/v1/subscriptions", params={"district": "11"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "district"
    assert world.http.get(f"/v1/subscriptions/{uuid.uuid4()}").status_code == 404
    before = world.app.recorder.max_notification_id()
    assert world.http.delete(f"/v1/subscriptions/{uuid.uuid4()}").status_code == 404
    assert world.app.recorder.max_notification_id() == before
    r = world.http.get("/v1/deliveries")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "status"
    assert world.http.get("/v1/deliveries", params={"status": "delivered"}).status_code == 422
    assert world.http.get("/v1/deliveries", params={"status": "dead"}).json() == {"deliveries": []}
    assert world.http.get(f"/v1/subscriptions/{uuid.uuid4()}/deliveries", params={"status": "dead"}).status_code == 404
    assert world.http.get(f"/v1/deliveries/{uuid.uuid4()}").status_code == 404


# --- where webhooks may point -------------------------------------------------------------------

PRODUCTION = {"JINGKANG_ENV": "production", "JINGKANG_NOTIFICATION_STORE": "postgresql://u:p@db:5432/notification",
              "JINGKANG_OIDC_ISSUER": "https://id.example.gov.cn/realms/jingkang",
              "JINGKANG_NOTIFICATION_CIPHER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}


def test_production_refuses_to_start_without_a_list_of_webhook_hosts():
    from services.notification.settings import load_settings as notification_settings
    from shared.settings import SettingsError

    with pytest.raises(SettingsError, match="JINGKANG_NOTIFICATION_WEBHOOK_HOSTS"):
        notification_settings(PRODUCTION)
    with pytest.raises(SettingsError, match="not a host name"):
        notification_settings({**PRODUCTION, "JINGKANG_NOTIFICATION_WEBHOOK_HOSTS": "gov.cn, http://x/"})
    assert notification_settings({**PRODUCTION, "JINGKANG_NOTIFICATION_WEBHOOK_HOSTS": "gov.cn"}).production


@pytest.mark.parametrize("url, reason", [
    ("http://hooks.district.gov.cn/in", "must be an https URL"),
    ("https://169.254.169.254/latest/meta-data", "host 169.254.169.254 is not on this deployment's list"),
    ("https://localhost:8005/v1/subscriptions", "host localhost is not on this deployment's list"),
    ("https://gov.cn.attacker.example/hook", "host gov.cn.attacker.example is not on this deployment's list"),
    ("https://evilgov.cn/hook", "host evilgov.cn is not on this deployment's list"),
    (None, None),
], ids=["plain http", "cloud metadata", "an internal service", "suffix trick", "not a subdomain", "allowed"])
def test_in_production_a_webhook_points_only_at_listed_https_hosts(url, reason):
    from services.notification.domain import WebhookHosts
    from services.notification.settings import webhook_hosts

    hosts = webhook_hosts(load_settings("notification", {**PRODUCTION, "JINGKANG_NOTIFICATION_WEBHOOK_HOSTS": "gov.cn"}))
    assert hosts == WebhookHosts(allowed=("gov.cn",), https_only=True)
    world = World()
    world.app.webhook_hosts = hosts
    before = world.app.recorder.max_notification_id() or 0
    r = world.http.post("/v1/subscriptions", json={"district_code": HERE, "event_types": [REGISTERED],
                                                   "url": url or "https://Hooks.District.GOV.cn./in", "secret": SECRET,
                                                   "purpose": "district_supervision"})
    if reason is None:
        assert r.status_code == 201, r.text
        return
    assert r.status_code == 422
    [error] = r.json()["errors"]
    assert error["field"] == "url" and error["reason"].startswith(reason)
    assert (world.app.recorder.max_notification_id() or 0) == before
