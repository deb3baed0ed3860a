"""Performance indicators from public events only (services/supervision/indicators.py):
given a generated population of CloudEvents built from the published contract, when the
auditor computes a district's indicators for a period, then each figure equals the value
worked out by hand below, and lists the CloudEvent ids behind it. Each figure is checked
both ways it is computed: straight from the CloudEvents (`jingkang indicators`) and through
the supervision service's read model (an in-memory SQLite store, fed the events as Kafka
messages, republished copies and unusable messages included). No Kafka here."""
from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

from shared.clock import LOCAL
from shared.contract.assessment import (
    AssessmentCompleted, AssessmentCompletedV2, ReassessmentDue, ReassessmentOverdue, RehabPlanAgreed,
)
from shared.contract.funding import FundingShare, PurchaseContractPaid, PurchaseContractSigned
from shared.contract.intake import ClientExited, ClientRegistered, ClientRelocated, ConsentScope
from shared.contract.referral import (
    ClientPlaced, ReferralAccepted, ReferralCancelled, ReferralCompleted, ReferralDeclined, StationRegistered,
    TransferRequested, WaitlistExceeded,
)
from shared.envelope import to_cloudevent
import pytest

from services.supervision.application import Message, Rules, Supervision
from services.supervision.indicators import collect, compute, figures as figures_of, without_evidence
from services.supervision.readmodel import ReadModel
from shared.envelope import encode

D, OTHER = "110105", "110106"
START, END = date(2026, 1, 1), date(2026, 6, 30)
CONSENT = ConsentScope(rehabilitation_services=True, share_with_health=True, share_with_disability_and_employment=False)


def local(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL)


class Population:
    """CloudEvents as they would be on the topics, with deterministic ids, and the ids
    remembered under a name so a test can check the evidence."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.ids: dict[str, str] = {}
        self._n = itertools.count(1)

    def add(self, event, at: datetime, name: str | None = None) -> dict:
        n = next(self._n)
        ce = to_cloudevent(event, id=str(uuid.UUID(int=n)), time=at, sequence=n)
        self.events.append(ce)
        if name:
            self.ids[name] = ce["id"]
        return ce

    def register(self, client: uuid.UUID, on: date, street: str, district: str = D, name: str | None = None) -> None:
        self.add(ClientRegistered(client_id=client, application_id=uuid.uuid5(client, "application"), source="community",
                                  district_code=district, street_code=street, registered_on=on,
                                  free_service_eligible=False, hardship_categories=[], consent=CONSENT), local(on), name)

    def plan(self, client: uuid.UUID, on: date, name: str | None = None) -> None:
        self.add(RehabPlanAgreed(client_id=client, plan_version=1, services=["social_skills"], agreed_by="client",
                                 agreed_on=on), local(on), name)

    def assess(self, client: uuid.UUID, on: date, kind: str = "process") -> None:
        fields = dict(client_id=client, assessment_id=uuid.uuid5(client, on.isoformat()), kind=kind, stability="stable",
                      risk_level=1, willing=True, service_category="community_rehab", medical_referral_needed=False,
                      assessed_on=on)
        self.add(AssessmentCompleted(**fields), local(on))  # assessment publishes v1 and v2 of each
        self.add(AssessmentCompletedV2(**fields, functional_score=60), local(on))

    def referral(self, client: uuid.UUID, at: datetime, name: str) -> uuid.UUID:
        referral_id = uuid.uuid5(client, name)
        self.add(TransferRequested(client_id=client, referral_id=referral_id, kind="medical", reason="relapse_detected",
                                   requested_at=at, due_by=at + timedelta(days=1)), at, name)
        return referral_id

    def answer(self, cls, client: uuid.UUID, referral_id: uuid.UUID, at: datetime, name: str, **extra) -> dict:
        return self.add(cls(client_id=client, referral_id=referral_id, kind="medical", at=at, **extra), at, name)

    def contract(self, name: str, district: str, start: date, end: date, shares: dict[str, str]) -> uuid.UUID:
        contract_id = uuid.uuid5(uuid.NAMESPACE_OID, name)
        budget = sum(Decimal(v) for v in shares.values())
        self.add(PurchaseContractSigned(contract_id=contract_id, station_id=uuid.uuid5(contract_id, "station"),
                                        district_code=district, period_start=start, period_end=end, budget=budget,
                                        funding_sources=[FundingShare(source=s, amount=Decimal(a)) for s, a in shares.items()],
                                        unit_prices={"social_skills": Decimal("120.00")}),
                 local(start), name)
        return contract_id

    def pay(self, contract_id: uuid.UUID, amount: str, at: datetime, name: str) -> None:
        self.add(PurchaseContractPaid(contract_id=contract_id, payment_id=uuid.uuid5(contract_id, name),
                                      amount=Decimal(amount), period="2026", paid_total=Decimal(amount),
                                      remaining=Decimal("0.00")), at, name)


def client(i: int) -> uuid.UUID:
    return uuid.UUID(int=10_000 + i)


def street(i: int) -> str:
    return f"{D}{i % 5 + 1:03d}"  # streets 110105001..110105005


def twenty_clients() -> Population:
    """Clients 0-9 registered 2025-12-01, clients 10-19 registered 2026-03-01, all in 110105
    on street i % 5 + 1. Plan: i % 4 == 0 at +10 days, == 1 at +40 (late), == 2 at +30 (the
    last day still on time), == 3 never. Baseline assessment on registration; i % 3 == 0 miss
    their first reassessment (ReassessmentDue, then ReassessmentOverdue); the others are
    reassessed 5 days before each due date. Plus referrals, stations, a waitlist and
    contracts, and noise that must not count (another district, after the period)."""
    p = Population()
    for i in range(20):
        c, registered = client(i), date(2025, 12, 1) if i < 10 else date(2026, 3, 1)
        p.register(c, registered, street(i), name=f"registered {i}")
        offset = {0: 10, 1: 40, 2: 30}.get(i % 4)
        if offset is not None:
            p.plan(c, registered + timedelta(days=offset), name=f"plan {i}")
        p.assess(c, registered, kind="baseline")
        due = registered + timedelta(days=90)
        if i % 3 == 0:
            p.add(ReassessmentDue(client_id=c, last_assessed_on=registered, due_on=due), local(due))
            p.add(ReassessmentOverdue(client_id=c, last_assessed_on=registered, due_on=due),
                  local(due + timedelta(days=15)), name=f"overdue {i}")
            continue
        while due <= END:
            assessed = due - timedelta(days=5)
            p.assess(c, assessed)
            due = assessed + timedelta(days=90)

    # Noise: another district's client, one registered after the period, one who left before it.
    p.register(client(100), date(2026, 2, 1), f"{OTHER}001", district=OTHER, name="registered elsewhere")
    p.plan(client(100), date(2026, 2, 5))
    p.register(client(101), date(2026, 7, 5), f"{D}009", name="registered after")
    p.register(client(102), date(2025, 11, 1), street(0))
    p.add(ClientExited(client_id=client(102), reason="moved_away", exited_on=date(2025, 12, 20)), local(date(2025, 12, 20)))

    # Stations: A serves streets 001 and 002; C is recorded after the period; B is elsewhere.
    p.add(StationRegistered(station_id=uuid.UUID(int=1), tier="ningkang_home", district_code=D,
                            streets=[f"{D}001", f"{D}002"], capacity=10), local(date(2025, 11, 20)), "station A")
    p.add(StationRegistered(station_id=uuid.UUID(int=3), tier="ningkang_post", district_code=D,
                            streets=[f"{D}006"], capacity=5), local(date(2026, 7, 15)), "station C")
    p.add(StationRegistered(station_id=uuid.UUID(int=2), tier="ningkang_post", district_code=OTHER,
                            streets=[f"{OTHER}001"], capacity=5), local(date(2025, 11, 20)), "station B")
    p.add(ClientPlaced(client_id=client(7), station_id=uuid.UUID(int=1), district_code=D, placed_on=date(2026, 2, 1)),
          local(date(2026, 2, 1)), "placed 7")  # client 7 lives on street 003
    p.add(ClientPlaced(client_id=client(8), station_id=uuid.UUID(int=1), district_code=D, placed_on=date(2026, 7, 10)),
          local(date(2026, 7, 10)), "placed 8 after")

    # Referrals (Shanghai times).
    r = p.referral(client(0), local(date(2026, 1, 10), 9), "request 0")
    p.answer(ReferralAccepted, client(0), r, local(date(2026, 1, 10), 13), "accepted 0")              # 4 h
    p.answer(ReferralCompleted, client(0), r, local(date(2026, 1, 20)), "completed 0")
    r = p.referral(client(1), local(date(2026, 2, 1), 10), "request 1")
    p.answer(ReferralAccepted, client(1), r, local(date(2026, 2, 2), 10), "accepted 1")               # 24 h, still open
    r = p.referral(client(2), local(date(2026, 3, 1), 8), "request 2")
    p.answer(ReferralDeclined, client(2), r, local(date(2026, 3, 2), 8), "declined 2", reason="no_capacity")
    r = p.referral(client(3), local(date(2026, 4, 1), 8), "request 3")
    p.answer(ReferralCancelled, client(3), r, local(date(2026, 4, 3), 8), "cancelled 3", reason="duplicate")
    r = p.referral(client(4), local(date(2026, 6, 29), 8), "request 4")
    p.answer(ReferralAccepted, client(4), r, local(date(2026, 6, 29), 10), "accepted 4")              # 2 h
    p.answer(ReferralCompleted, client(4), r, local(date(2026, 7, 5)), "completed 4 after")
    r = p.referral(client(5), local(date(2025, 12, 20), 8), "request 5 before")
    p.answer(ReferralAccepted, client(5), r, local(date(2025, 12, 20), 9), "accepted 5")
    p.answer(ReferralCompleted, client(5), r, local(date(2026, 1, 5)), "completed 5")
    r = p.referral(client(6), local(date(2026, 5, 1), 8), "request 6")
    accepted_6 = p.answer(ReferralAccepted, client(6), r, local(date(2026, 5, 3), 8), "accepted 6")  # 48 h
    p.answer(ReferralCompleted, client(6), r, local(date(2026, 5, 10)), "completed 6")
    p.referral(client(8), local(date(2026, 7, 1), 0, 30), "request 8 after")  # June 30 16:30 UTC, but July 1 here
    p.referral(client(9), local(date(2026, 1, 1), 0, 30), "request 9")         # Dec 31 16:30 UTC, but Jan 1 here
    p.referral(client(100), local(date(2026, 3, 1)), "request elsewhere")

    # Waitlist over 90 days: the wait passes 90 days on waiting_since + 91.
    p.add(WaitlistExceeded(client_id=client(11), district_code=D, waiting_since=date(2026, 1, 15)),
          local(date(2026, 4, 16)), "waited 11")                                   # passed on 2026-04-16
    p.add(WaitlistExceeded(client_id=client(13), district_code=D, waiting_since=date(2025, 9, 1)),
          local(date(2025, 12, 1)), "waited 13 before")                            # passed on 2025-12-01
    p.add(WaitlistExceeded(client_id=client(15), district_code=D, waiting_since=date(2026, 4, 15)),
          local(date(2026, 7, 15)), "waited 15 after")                             # passed on 2026-07-15
    p.add(WaitlistExceeded(client_id=client(17), district_code=D, waiting_since=date(2026, 1, 1)),
          local(date(2026, 4, 2)), "waited 17")                                    # passed on 2026-04-02
    p.add(WaitlistExceeded(client_id=client(17), district_code=D, waiting_since=date(2026, 2, 1)),
          local(date(2026, 5, 3)), "waited 17 again")                              # re-verified, waited again

    # Contracts and payments.
    k1 = p.contract("K1", D, date(2026, 1, 1), date(2026, 12, 31),
                    {"district_finance": "70000.00", "welfare_lottery": "30000.00"})
    k2 = p.contract("K2", D, date(2025, 7, 1), date(2026, 1, 31),
                    {"city_finance": "45000.00", "welfare_lottery": "5000.00"})
    k3 = p.contract("K3 elsewhere", OTHER, date(2026, 1, 1), date(2026, 12, 31), {"district_finance": "80000.00"})
    k4 = p.contract("K4 last year", D, date(2025, 1, 1), date(2025, 12, 31), {"district_finance": "40000.00"})
    p.pay(k1, "20000.00", local(date(2026, 3, 31)), "paid K1 March")
    p.pay(k1, "15000.00", datetime.fromisoformat("2026-06-30T15:00:00+00:00"), "paid K1 June")      # 23:00 June 30 here
    p.pay(k1, "10000.00", datetime.fromisoformat("2026-06-30T16:30:00+00:00"), "paid K1 July")      # 00:30 July 1 here
    p.pay(k2, "25000.00", local(date(2025, 12, 31)), "paid K2")
    p.pay(k3, "80000.00", local(date(2026, 3, 1)), "paid K3")
    p.pay(k4, "40000.00", local(date(2025, 12, 1)), "paid K4")

    # Republished copies (same CloudEvent id) and a type this code does not know.
    p.events.append(dict(accepted_6))
    p.events.append(dict(p.events[0]))
    p.events.append({"id": "unknown-1", "type": "jingkang.intake.SomethingNew.v9", "time": "2026-01-02T00:00:00Z",
                     "data": {}})
    return p


def supervision_of(events: list[dict], main_districts=()) -> Supervision:
    """The supervision service's read model fed `events` as messages of one partition."""
    supervision = Supervision(ReadModel("memory://"), Rules(main_districts=tuple(main_districts)))
    messages = [Message("jingkang.any.v1", 0, offset, encode(ce) if "specversion" in ce else b"not a CloudEvent")
                for offset, ce in enumerate(events)]
    supervision.store(supervision.prepare(messages, supervision.model.positions()))
    return supervision


def through_read_model(events: list[dict], *, district: str, start: date, end: date, main_districts=()) -> dict:
    supervision = supervision_of(events, main_districts)
    return figures_of(collect(supervision.model.facts_of(district, end)), district=district, start=start, end=end,
                      main_districts=main_districts)


WAYS = {"from the topics": compute, "through the read model": through_read_model}


@pytest.fixture(params=list(WAYS))
def way(request):
    return WAYS[request.param]


def test_indicators_of_a_generated_population_match_the_hand_computed_values(way):
    # Given twenty clients with a known pattern, and noise that must not count
    p = twenty_clients()

    # When the auditor computes 110105 (a main district) for the first half of 2026
    result = way(p.events, district=D, start=START, end=END, main_districts=[D, OTHER])
    figures = result["indicators"]

    def check(name, value, numerator, denominator, target=None, met=None):
        f = figures[name]
        assert (f["value"], f["numerator"], f["denominator"], f["target"], f["met"]) == (
            value, numerator, denominator, target, met), name

    # Then each figure is the hand-computed one.
    # Plan within 30 days: all 20 are settled (deadlines 2025-12-31 and 2026-03-31 <= June 30);
    # on time are i % 4 in {0, 2}: 0,2,4,6,8,10,12,14,16,18 -> 10 / 20 = 0.5
    check("plan_within_30_days", Decimal("0.5000"), 10, 20)
    # Reassessment: every client has a due date in the period (2026-03-01 for 0-9, 2026-05-30
    # for 10-19); overdue are i % 3 == 0: 0,3,6,9,12,15,18 -> (20 - 7) / 20 = 0.65
    check("reassessment_on_time", Decimal("0.6500"), 13, 20)
    # Standardised: plan on time minus overdue = {0,2,4,6,8,10,12,14,16,18} - {0,6,12,18}
    # = {2,4,8,10,14,16} -> 6 / 20 = 0.3, below the 45% target
    check("standardised_service", Decimal("0.3000"), 6, 20, Decimal("0.45"), False)
    # Streets known: 001-005 (clients; 001, 002 also station A) = 5; 006 (station C, after the
    # period) and 009 (client registered after it) are not known yet.
    # Reached: 001, 002 (station A) + 003 (client 7 placed) = 3 -> 3 / 5 = 0.6 >= 50% (main)
    check("street_coverage", Decimal("0.6000"), 3, 5, Decimal("0.50"), True)
    # Referrals requested in the period (Shanghai dates) by 110105's clients: 0, 1, 2, 3, 4,
    # 6, 9 = 7 (5 in December; 8 on July 1); closed by June 30: 0 completed,
    # 2 declined, 3 cancelled, 6 completed = 4 (4 completed in July) -> 4 / 7 = 0.5714
    check("referral_closure", Decimal("0.5714"), 4, 7)
    # Time to accept: 0 -> 4 h, 1 -> 24 h, 4 -> 2 h, 6 -> 48 h (its republished copy once);
    # sorted 2, 4, 24, 48 -> median (4 + 24) / 2 = 14 h
    check("median_time_to_accept", Decimal("14.00"), None, 4)
    # Waits passing 90 days in the period: client 11 (April 16), client 17 (April 2 and
    # May 3, one client) -> 2; client 13 passed in December, client 15 in July
    check("waiting_over_90_days", 2, 2, None)
    # Contracts of 110105 overlapping the period: K1 (100,000) and K2 (50,000) = 150,000;
    # paid by June 30 (Shanghai): K1 20,000 + 15,000, K2 25,000 = 60,000 -> 0.4
    check("funds_paid_against_budget", Decimal("0.4000"), Decimal("60000.00"), Decimal("150000.00"))
    # Welfare lottery: K1 30,000 + K2 5,000 = 35,000 / 150,000 = 0.2333 >= 20%
    check("welfare_lottery_share", Decimal("0.2333"), Decimal("35000.00"), Decimal("150000.00"), Decimal("0.20"), True)

    # And the two republished copies counted once, the unknown type skipped, not guessed at
    if way is compute:
        assert result["events"]["duplicates"] == 2 and result["events"]["skipped"] == 1

    # And each figure names the events behind it, never one that did not count
    ids = p.ids
    closure = set(figures["referral_closure"]["evidence"])
    assert {ids[f"request {i}"] for i in (0, 1, 2, 3, 4, 6, 9)} <= closure
    assert {ids["completed 0"], ids["declined 2"], ids["cancelled 3"], ids["completed 6"]} <= closure
    assert not {ids["request 5 before"], ids["request 8 after"], ids["completed 4 after"], ids["request elsewhere"]} & closure
    assert figures["waiting_over_90_days"]["evidence"] == sorted([ids["waited 11"], ids["waited 17"], ids["waited 17 again"]])
    assert figures["funds_paid_against_budget"]["evidence"] == sorted(
        [ids["K1"], ids["K2"], ids["paid K1 March"], ids["paid K1 June"], ids["paid K2"]])
    assert figures["welfare_lottery_share"]["evidence"] == sorted([ids["K1"], ids["K2"]])
    plan = set(figures["plan_within_30_days"]["evidence"])
    assert {ids["registered 19"], ids["plan 1"], ids["plan 18"]} <= plan and ids["registered elsewhere"] not in plan
    assert {ids["overdue 3"], ids["overdue 18"]} <= set(figures["reassessment_on_time"]["evidence"])
    coverage = set(figures["street_coverage"]["evidence"])
    assert {ids["station A"], ids["placed 7"]} <= coverage
    assert not {ids["station C"], ids["station B"], ids["placed 8 after"], ids["registered after"]} & coverage
    every_id = {ce["id"] for ce in p.events}
    assert all(set(f["evidence"]) <= every_id for f in figures.values())


def test_a_district_that_is_not_a_main_one_is_held_to_forty_percent_coverage(way):
    p = twenty_clients()
    coverage = way(p.events, district=D, start=START, end=END)["indicators"]["street_coverage"]
    assert (coverage["target"], coverage["met"]) == (Decimal("0.40"), True)


def test_the_order_the_topics_are_read_in_does_not_matter():
    p = twenty_clients()
    forward = compute(p.events, district=D, start=START, end=END)
    backward = compute(list(reversed(p.events)), district=D, start=START, end=END)
    assert forward == backward


def test_no_clients_no_events_gives_no_rates_rather_than_a_division_error(way):
    result = way([], district=D, start=START, end=END)
    figures = result["indicators"]
    for name in ("standardised_service", "plan_within_30_days", "reassessment_on_time", "street_coverage",
                 "referral_closure", "median_time_to_accept", "funds_paid_against_budget", "welfare_lottery_share"):
        assert figures[name]["value"] is None and figures[name]["met"] is None and figures[name]["evidence"] == [], name
    assert figures["waiting_over_90_days"]["value"] == 0
    assert figures["funds_paid_against_budget"]["numerator"] == Decimal("0.00")


def test_a_client_who_moved_out_mid_period_counts_where_they_live_and_their_earlier_referral_stays(way):
    # Given a client registered in 110105, with a plan on time and a referral in February,
    # who moved to 110106 on April 1
    p = Population()
    mover = client(1)
    p.register(mover, date(2026, 1, 5), f"{D}001", name="registered")
    p.plan(mover, date(2026, 1, 20), name="plan")
    p.referral(mover, local(date(2026, 2, 1)), "request in February")
    p.add(ClientRelocated(client_id=mover, district_code=OTHER, street_code=f"{OTHER}002", relocated_on=date(2026, 4, 1)),
          local(date(2026, 4, 1)), "relocated")
    p.referral(mover, local(date(2026, 5, 1)), "request in May")

    old = way(p.events, district=D, start=START, end=END)["indicators"]
    new = way(p.events, district=OTHER, start=START, end=END)["indicators"]

    # Then the client is one of 110106's clients for the period, not 110105's as well
    assert (old["plan_within_30_days"]["numerator"], old["plan_within_30_days"]["denominator"]) == (0, 0)
    assert old["plan_within_30_days"]["value"] is None
    assert (new["plan_within_30_days"]["value"], new["plan_within_30_days"]["denominator"]) == (Decimal("1.0000"), 1)
    assert {p.ids["registered"], p.ids["relocated"], p.ids["plan"]} <= set(new["plan_within_30_days"]["evidence"])
    # And each referral belongs to the district the client lived in when it was requested
    assert old["referral_closure"]["denominator"] == 1 and p.ids["request in February"] in old["referral_closure"]["evidence"]
    assert new["referral_closure"]["denominator"] == 1 and p.ids["request in May"] in new["referral_closure"]["evidence"]
    # And both districts know the streets the client lived on
    assert old["street_coverage"]["denominator"] == 1 and new["street_coverage"]["denominator"] == 1


def test_a_plan_not_yet_due_or_a_client_gone_before_it_was_due_is_not_judged(way):
    # Given, late in the period: one client with a plan already (counted, on time), one still
    # inside their 30 days without a plan (pending), and one who died on day 10 without one
    p = Population()
    p.register(client(1), date(2026, 6, 20), f"{D}001")
    p.plan(client(1), date(2026, 6, 25))
    p.register(client(2), date(2026, 6, 20), f"{D}001")
    p.register(client(3), date(2026, 3, 1), f"{D}001")
    p.add(ClientExited(client_id=client(3), reason="died", exited_on=date(2026, 3, 11)), local(date(2026, 3, 11)))

    plan = way(p.events, district=D, start=START, end=END)["indicators"]["plan_within_30_days"]

    assert (plan["value"], plan["numerator"], plan["denominator"]) == (Decimal("1.0000"), 1, 1)


def test_a_republished_acceptance_counts_once():
    # Given a referral accepted after 3 hours, whose ReferralAccepted reached the topic twice
    p = Population()
    p.register(client(1), date(2026, 1, 5), f"{D}001")
    r = p.referral(client(1), local(date(2026, 2, 1), 9), "request")
    accepted = p.answer(ReferralAccepted, client(1), r, local(date(2026, 2, 1), 12), "accepted")
    p.events.append(dict(accepted))

    result = compute(p.events, district=D, start=START, end=END)

    # Then it is one acceptance of 3 hours, and the copy is reported as a duplicate
    median = result["indicators"]["median_time_to_accept"]
    assert (median["value"], median["denominator"]) == (Decimal("3.00"), 1)
    assert result["events"]["duplicates"] == 1


def test_without_evidence_keeps_the_figures_and_counts_the_events():
    p = twenty_clients()
    result = compute(p.events, district=D, start=START, end=END)
    short = without_evidence(result)["indicators"]["waiting_over_90_days"]
    assert "evidence" not in short and short["evidence_count"] == 3 and short["value"] == 2


