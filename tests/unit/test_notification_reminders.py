"""Reminders from events and deadlines, through the real consumer machinery on an in-memory
store with a FixedClock: who is told (station, district, guardian), once per cause, a
"plan due soon" reminder on day 25 that an agreed plan cancels, and one that survives a
restart. No network, no wall clock."""
from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from services.notification.api import create_app
from services.notification.application import create_application
from services.notification.contracts import handlers, to_public
from shared.clock import FixedClock
from shared.consumer import EventConsumer
from shared.contract.assessment import (
    DynamicCareContactDue, PlanOverdue, ReassessmentDue, ReassessmentOverdue, RehabPlanAgreed,
)
from shared.contract.funding import FundingShare, PurchaseContractPaid, PurchaseContractSigned
from shared.contract.intake import ClientExited, ClientRegistered, ConsentRecorded, ConsentScope
from shared.contract.notification import NotificationSent
from shared.contract.referral import ClientPlaced, ClientWaitlisted, ReferralOverdue, WaitlistExceeded
from shared.envelope import encode, to_cloudevent
from shared.settings import load_settings

DISTRICT = "110105"
STATION = uuid.UUID("5f0c1e8a-7d4b-4b7e-9a51-3d0c2f6e9b11")
CONSENT = ConsentScope(rehabilitation_services=True, share_with_health=False, share_with_disability_and_employment=False)
START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)  # 17:00 in Shanghai, Monday 2026-01-05
TODAY = date(2026, 1, 5)


class Service:
    def __init__(self, store: str = "memory://"):
        settings = load_settings("notification", {"JINGKANG_NOTIFICATION_STORE": store})
        self.clock = FixedClock(START)
        self.app = create_application(settings, clock=self.clock)
        self.consumer = EventConsumer(self.app, "notification", handlers(self.app), attempts=1, sleep=lambda _: None)
        self.http = TestClient(create_app(settings, self.app))
        self.offset = 0

    def publish(self, event, ce_id: str | None = None) -> str:
        self.offset += 1
        ce_id = ce_id or str(uuid.uuid4())
        raw = encode(to_cloudevent(event, id=ce_id, time=self.clock.now(), sequence=self.offset))
        outcome = self.consumer.process(f"jingkang.{type(event).SERVICE}.v1", 0, self.offset, raw)
        assert outcome.status == "processed", outcome.reason
        return ce_id

    def day(self, n: int) -> None:
        """Move to day n after registration and let the worker's timer tick."""
        self.clock.advance(seconds=(START + timedelta(days=n) - self.clock.now()).total_seconds())
        self.app.run_deadlines()

    def notifications(self, client_id) -> list[tuple[str, str, str]]:
        return [(n.kind, n.recipient, n.status) for n in self.app.list_for_client(client_id)]

    def published(self) -> list:
        return [p for n in self.app.recorder.select_notifications(start=1, limit=10_000)
                for p in to_public(self.app.mapper.to_domain_event(n))]


def registered(client, source="community", application_id=None) -> ClientRegistered:
    return ClientRegistered(client_id=client, application_id=application_id or uuid.uuid4(), source=source,
                            district_code=DISTRICT, street_code="110105001", registered_on=TODAY,
                            free_service_eligible=True, hardship_categories=[], consent=CONSENT)


def placed(client, station=STATION) -> ClientPlaced:
    return ClientPlaced(client_id=client, station_id=station, district_code=DISTRICT, placed_on=TODAY)


@pytest.fixture
def service() -> Service:
    return Service()


# --- plan due soon: scheduled at registration, sent on day 25, cancelled by a plan -----------

def test_a_plan_due_reminder_goes_to_the_station_on_day_25_once(service, caplog):
    client = uuid.uuid4()
    # Given a client registered today, placed at a station afterwards
    service.publish(registered(client))
    [(kind, recipient, status)] = service.notifications(client)
    assert (kind, recipient, status) == ("plan_due", f"district:{DISTRICT}", "scheduled")
    service.publish(placed(client))

    # When the days pass, then nothing until day 25
    service.day(24)
    assert service.notifications(client)[0][2] == "scheduled"
    # On day 25 the station it is placed at now is told, once
    with caplog.at_level(logging.INFO, logger="jingkang.notification.channel"):
        service.day(25)
        service.day(25)
        service.day(26)
    assert service.notifications(client) == [("plan_due", f"station:{STATION}", "sent")]
    [n] = service.app.list_for_client(client)
    assert (n.send_on, n.due_on) == (TODAY + timedelta(days=25), TODAY + timedelta(days=30))
    assert len([r for r in caplog.records if r.name == "jingkang.notification.channel"]) == 1
    # And NotificationSent names the kind and the station
    [sent] = service.published()
    assert sent == NotificationSent(client_id=client, notification_id=n.id, kind="plan_due", channel="log",
                                    recipient=f"station:{STATION}", sent_at=n.sent_at)


def test_an_agreed_plan_cancels_the_plan_due_reminder(service):
    client = uuid.uuid4()
    service.publish(registered(client))
    service.day(10)
    service.publish(RehabPlanAgreed(client_id=client, plan_version=1, services=["peer_support"], agreed_by="client",
                                    agreed_on=TODAY + timedelta(days=10)))
    service.day(25)
    service.day(40)
    [n] = service.app.list_for_client(client)
    assert (n.status, n.cancel_reason, n.sent_at) == ("cancelled", "plan agreed", None)
    assert service.published() == []
    # Visible through the API
    [out] = service.http.get("/v1/notifications", params={"client_id": str(client)}).json()["notifications"]
    assert (out["status"], out["send_on"], out["due_on"]) == ("cancelled", "2026-01-30", "2026-02-04")


def test_a_plan_agreed_before_the_registration_arrives_schedules_no_plan_reminder(service):
    # The two come on different topics (assessment, intake): either may be processed first.
    client = uuid.uuid4()
    service.publish(RehabPlanAgreed(client_id=client, plan_version=1, services=["peer_support"], agreed_by="client",
                                    agreed_on=TODAY))
    service.publish(registered(client))
    service.day(25)
    service.day(40)
    assert service.notifications(client) == []
    assert service.published() == []


def test_an_exit_cancels_the_waiting_reminders(service):
    client = uuid.uuid4()
    service.publish(registered(client))
    service.publish(ClientExited(client_id=client, reason="moved_away", exited_on=TODAY + timedelta(days=3)))
    service.day(25)
    assert service.notifications(client) == [("plan_due", f"district:{DISTRICT}", "cancelled")]


def test_a_registration_learned_after_the_plan_deadline_schedules_no_plan_reminder(service):
    client = uuid.uuid4()
    service.clock.advance(days=31)
    service.publish(registered(client))  # registered_on is 31 days ago: PlanOverdue speaks for it
    assert service.notifications(client) == []


def test_a_plan_due_reminder_survives_a_restart(tmp_path):
    store = f"sqlite:///{tmp_path}/notification.sqlite"
    client = uuid.uuid4()
    Service(store).publish(registered(client))
    # The worker restarts before the day comes
    later = Service(store)
    later.day(25)
    assert later.notifications(client) == [("plan_due", f"district:{DISTRICT}", "sent")]


# --- reminders caused by events: sent at once, once per cause -------------------------------

def test_plan_overdue_tells_station_and_district_once_and_supersedes_the_soft_reminder(service):
    client = uuid.uuid4()
    service.publish(registered(client))
    service.publish(placed(client))
    overdue = PlanOverdue(client_id=client, registered_on=TODAY, due_on=TODAY + timedelta(days=30))

    # When assessment says the plan is overdue (the day-25 tick never ran: the worker was down)
    ce_id = service.publish(overdue)
    # And the relay republishes it (same id), and a second report of the same due date arrives
    service.publish(overdue, ce_id)
    service.publish(overdue)
    service.day(31)

    assert service.notifications(client) == [
        ("plan_due", f"district:{DISTRICT}", "cancelled"),
        ("plan_overdue", f"station:{STATION}", "sent"),
        ("plan_overdue", f"district:{DISTRICT}", "sent"),
    ]
    assert service.app.list_for_client(client)[0].cancel_reason == "superseded by plan_overdue"


def guardian_client(service: Service, how: str) -> uuid.UUID:
    client, application = uuid.uuid4(), uuid.uuid4()
    consent = ConsentRecorded(application_id=application, signed_by="guardian", scope=CONSENT)
    if how == "applied_by_guardian":
        service.publish(registered(client, source="guardian", application_id=application))
    elif how == "consent_first":
        service.publish(consent)
        service.publish(registered(client, application_id=application))
    else:  # the consent event overtaken by the registration (another partition)
        service.publish(registered(client, application_id=application))
        service.publish(consent)
    return client


@pytest.mark.parametrize("how", ["applied_by_guardian", "consent_first", "consent_after"])
def test_a_dynamic_care_contact_tells_the_station_or_district_and_the_guardian(service, how):
    client = guardian_client(service, how)
    service.publish(DynamicCareContactDue(client_id=client, due_on=TODAY + timedelta(days=14), cadence_days=14))
    assert service.notifications(client)[1:] == [("contact_due", f"district:{DISTRICT}", "sent"),
                                                  ("contact_due", "guardian", "sent")]


def test_no_guardian_no_guardian_reminder(service):
    client = uuid.uuid4()
    service.publish(registered(client))
    service.publish(placed(client))
    service.publish(DynamicCareContactDue(client_id=client, due_on=TODAY + timedelta(days=30), cadence_days=30))
    assert service.notifications(client)[1:] == [("contact_due", f"station:{STATION}", "sent")]


@pytest.mark.parametrize("event, expected", [
    (lambda c: ReassessmentDue(client_id=c, last_assessed_on=TODAY, due_on=TODAY + timedelta(days=90)),
     [("reassessment_due", f"station:{STATION}")]),
    (lambda c: ReassessmentOverdue(client_id=c, last_assessed_on=TODAY, due_on=TODAY + timedelta(days=104)),
     [("reassessment_overdue", f"station:{STATION}"), ("reassessment_overdue", f"district:{DISTRICT}")]),
    (lambda c: ReferralOverdue(client_id=c, referral_id=uuid.uuid4(), kind="medical", due_by=START),
     [("referral_overdue", f"district:{DISTRICT}")]),
])
def test_who_is_told_what(service, event, expected):
    client = uuid.uuid4()
    service.publish(registered(client))
    service.publish(placed(client))
    e = event(client)
    service.publish(e)
    service.publish(e)  # another copy, another id: the kind + client + occurrence key still holds
    assert [(k, r) for k, r, s in service.notifications(client)[1:]] == expected
    assert {s for _, _, s in service.notifications(client)[1:]} == {"sent"}


def test_two_overdue_referrals_of_one_client_on_one_day_are_two_reminders(service):
    client = uuid.uuid4()
    service.publish(registered(client))
    for _ in range(2):
        service.publish(ReferralOverdue(client_id=client, referral_id=uuid.uuid4(), kind="professional", due_by=START))
    assert [k for k, _, _ in service.notifications(client)].count("referral_overdue") == 2


def test_a_waitlist_over_90_days_tells_the_district_once_per_stay(service):
    client = uuid.uuid4()
    service.publish(registered(client))
    service.publish(ClientWaitlisted(client_id=client, district_code=DISTRICT, waiting_since=TODAY))
    exceeded = WaitlistExceeded(client_id=client, district_code=DISTRICT, waiting_since=TODAY)
    service.publish(exceeded)
    service.publish(exceeded)
    assert service.notifications(client)[1:] == [("waitlist_exceeded", f"district:{DISTRICT}", "sent")]


def test_a_payment_tells_the_paid_station_and_the_purchasing_district(service):
    contract, payment = uuid.uuid4(), uuid.uuid4()
    service.publish(PurchaseContractSigned(contract_id=contract, station_id=STATION, district_code=DISTRICT,
                                           period_start=date(2026, 1, 1), period_end=date(2026, 12, 31),
                                           budget=Decimal("1000.00"),
                                           funding_sources=[FundingShare(source="city_finance", amount=Decimal("1000"))],
                                           unit_prices={"peer_support": Decimal("80")}))
    paid = PurchaseContractPaid(contract_id=contract, payment_id=payment, amount=Decimal("400.00"), period="2026-01",
                                paid_total=Decimal("400.00"), remaining=Decimal("600.00"))
    ce_id = service.publish(paid)
    service.publish(paid, ce_id)

    listed = service.http.get("/v1/notifications", params={"contract_id": str(contract)}).json()["notifications"]
    assert [(n["kind"], n["recipient"], n["status"], n["contract_id"], n["client_id"]) for n in listed] == [
        ("payment_made", f"station:{STATION}", "sent", str(contract), None),
        ("payment_made", f"district:{DISTRICT}", "sent", str(contract), None)]
    assert service.app.get_notification(uuid.UUID(listed[0]["notification_id"])).reference_id == payment
    # NotificationSent@v1 needs a client id: a contract's notifications stay internal
    assert service.published() == []


def test_listing_needs_exactly_one_of_client_or_contract(service):
    for params in ({}, {"client_id": str(uuid.uuid4()), "contract_id": str(uuid.uuid4())}):
        r = service.http.get("/v1/notifications", params=params)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "client_id"
    assert service.http.get("/v1/notifications", params={"contract_id": str(uuid.uuid4())}).json() == {"notifications": []}
