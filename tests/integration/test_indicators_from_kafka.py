"""An auditor computes a district's indicators from the real topics: a small population is
published to the test Kafka as the services' relays would (CloudEvents, keyed by subject,
on jingkang.<service>.v1), under a district code no other test uses; then the CLI's
function reads the five topics from the beginning with a fresh consumer and returns the
hand-computed figures (what `jingkang indicators` prints).
tests/integration/test_supervision.py checks the supervision service gives the same."""
from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from kafka import KafkaProducer

from services.supervision.consumers import indicators_from_topics as indicators
from shared.clock import LOCAL
from shared.contract.assessment import AssessmentCompleted, ReassessmentOverdue, RehabPlanAgreed
from shared.contract.funding import FundingShare, PurchaseContractPaid, PurchaseContractSigned
from shared.contract.intake import ClientRegistered, ConsentScope
from shared.contract.referral import (
    ReferralAccepted, ReferralCompleted, ReferralDeclined, StationRegistered, TransferRequested, WaitlistExceeded,
)
from shared.envelope import CONTENT_TYPE, encode, to_cloudevent
from shared.topics import ensure_topics, public_topics

pytestmark = pytest.mark.integration

START, END = date(2026, 1, 1), date(2026, 6, 30)
CONSENT = ConsentScope(rehabilitation_services=True, share_with_health=True, share_with_disability_and_employment=True)


def local(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=LOCAL)


class Publisher:
    """Publishes public events the way a relay does: CloudEvents JSON, key = subject."""

    def __init__(self, bootstrap: str):
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self.sequence = 0
        self.sent: list[dict] = []

    def send(self, event, at: datetime) -> dict:
        self.sequence += 1
        ce = to_cloudevent(event, id=str(uuid.uuid4()), time=at, sequence=self.sequence)
        self.resend(ce)
        return ce

    def resend(self, ce: dict) -> None:
        self.producer.send(f"jingkang.{ce['source'].split('/')[1]}.v1", key=ce["subject"].encode(), value=encode(ce),
                           headers=[("content-type", CONTENT_TYPE.encode())])
        self.sent.append(ce)

    def flush(self) -> None:
        self.producer.flush(timeout=30)


def publish_population(pub: Publisher, district: str) -> dict[str, uuid.UUID]:
    """Clients a, b, c, d registered 2026-01-10 on streets 001-004 with a baseline that day
    (reassessment due 2026-04-10). Plans: a +10 days, b +45 (late), c none, d +20; d's
    reassessment is overdue. One station serves 001 and 002. Referrals: a accepted after 6 h
    and completed, b declined, c accepted after 24 h. c's wait passed 90 days in April. One
    contract: 150,000 district + 50,000 lottery; 80,000 paid."""
    clients = {name: uuid.uuid4() for name in "abcd"}
    registered = date(2026, 1, 10)
    for n, (name, c) in enumerate(clients.items(), start=1):
        pub.send(ClientRegistered(client_id=c, application_id=uuid.uuid4(), source="community", district_code=district,
                                  street_code=f"{district}{n:03d}", registered_on=registered,
                                  free_service_eligible=True, hardship_categories=["marginal"], consent=CONSENT),
                 local(registered))
        pub.send(AssessmentCompleted(client_id=c, assessment_id=uuid.uuid4(), kind="baseline", stability="stable",
                                     risk_level=1, willing=True, service_category="community_rehab",
                                     medical_referral_needed=False, assessed_on=registered), local(registered))
        offset = {"a": 10, "b": 45, "d": 20}.get(name)
        if offset:
            agreed = registered + timedelta(days=offset)
            pub.send(RehabPlanAgreed(client_id=c, plan_version=1, services=["peer_support"], agreed_by="client",
                                     agreed_on=agreed), local(agreed))
    due = registered + timedelta(days=90)
    pub.send(ReassessmentOverdue(client_id=clients["d"], last_assessed_on=registered, due_on=due),
             local(due + timedelta(days=15)))

    pub.send(StationRegistered(station_id=uuid.uuid4(), tier="ningkang_post", district_code=district,
                               streets=[f"{district}001", f"{district}002"], capacity=8), local(date(2026, 1, 2)))

    def referral(c: uuid.UUID, at: datetime) -> uuid.UUID:
        r = uuid.uuid4()
        pub.send(TransferRequested(client_id=c, referral_id=r, kind="professional", reason="station_full",
                                   requested_at=at, due_by=at + timedelta(days=5)), at)
        return r

    def answer(cls, c: uuid.UUID, r: uuid.UUID, at: datetime, **extra) -> dict:
        return pub.send(cls(client_id=c, referral_id=r, kind="professional", at=at, **extra), at)

    r = referral(clients["a"], local(date(2026, 2, 1), 10))
    accepted = answer(ReferralAccepted, clients["a"], r, local(date(2026, 2, 1), 16))
    answer(ReferralCompleted, clients["a"], r, local(date(2026, 2, 10)))
    r = referral(clients["b"], local(date(2026, 3, 1)))
    answer(ReferralDeclined, clients["b"], r, local(date(2026, 3, 2)), reason="not_suitable")
    r = referral(clients["c"], local(date(2026, 3, 5), 9))
    answer(ReferralAccepted, clients["c"], r, local(date(2026, 3, 6), 9))
    pub.resend(accepted)  # a relay repeating itself after a crash: same id

    pub.send(WaitlistExceeded(client_id=clients["c"], district_code=district, waiting_since=date(2026, 1, 11)),
             local(date(2026, 4, 12)))

    contract = uuid.uuid4()
    pub.send(PurchaseContractSigned(contract_id=contract, station_id=uuid.uuid4(), district_code=district,
                                    period_start=date(2026, 1, 1), period_end=date(2026, 12, 31),
                                    budget=Decimal("200000.00"),
                                    funding_sources=[FundingShare(source="district_finance", amount=Decimal("150000.00")),
                                                     FundingShare(source="welfare_lottery", amount=Decimal("50000.00"))],
                                    unit_prices={"peer_support": Decimal("80.00")}, purchaser_code=district),
             local(date(2026, 1, 1)))
    pub.send(PurchaseContractPaid(contract_id=contract, payment_id=uuid.uuid4(), amount=Decimal("80000.00"),
                                  period="2026-Q1", paid_total=Decimal("80000.00"), remaining=Decimal("120000.00")),
             local(date(2026, 5, 31)))
    pub.flush()
    return {**clients, "referral c": r}


def test_the_cli_computes_a_district_s_indicators_from_the_topics(kafka_bootstrap):
    ensure_topics(kafka_bootstrap, public_topics())
    district = str(random.randrange(100000, 1000000))  # other tests' events do not touch it
    pub = Publisher(kafka_bootstrap)
    try:
        publish_population(pub, district)
    finally:
        pub.producer.close()

    result = indicators(kafka_bootstrap, district=district, start=START, end=END, main_districts=[district],
                        evidence=True)
    figures = {name: (f["value"], f["numerator"], f["denominator"]) for name, f in result["indicators"].items()}

    # plan: a (+10) and d (+20) on time of 4 settled -> 2/4; reassessment: all due 2026-04-10,
    # d overdue -> 3/4; standardised: a only (d overdue) -> 1/4
    assert figures["plan_within_30_days"] == (Decimal("0.5000"), 2, 4)
    assert figures["reassessment_on_time"] == (Decimal("0.7500"), 3, 4)
    assert figures["standardised_service"] == (Decimal("0.2500"), 1, 4)
    # streets known 001-004, reached by the station 001, 002 -> 2/4 (a main district: 50%, met)
    assert figures["street_coverage"] == (Decimal("0.5000"), 2, 4)
    assert result["indicators"]["street_coverage"]["met"] is True
    # referrals a (completed), b (declined), c (open) -> 2/3; accepted after 6 h and 24 h -> 15 h
    assert figures["referral_closure"] == (Decimal("0.6667"), 2, 3)
    assert figures["median_time_to_accept"] == (Decimal("15.00"), None, 2)
    # c waited since 2026-01-11: 90 days passed on 2026-04-12
    assert figures["waiting_over_90_days"] == (1, 1, None)
    # 80,000 paid of 200,000; lottery 50,000 of 200,000
    assert figures["funds_paid_against_budget"] == (Decimal("0.4000"), Decimal("80000.00"), Decimal("200000.00"))
    assert figures["welfare_lottery_share"] == (Decimal("0.2500"), Decimal("50000.00"), Decimal("200000.00"))
    # every figure's evidence is events this test published; the repeated acceptance once
    published = {ce["id"] for ce in pub.sent}
    assert all(set(f["evidence"]) <= published for f in result["indicators"].values())
    assert result["events"]["duplicates"] >= 1
