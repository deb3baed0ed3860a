"""Scenarios for funding's aggregates: given a signed contract (a station, a purchaser's
plan), when a payment, an accrual, a settlement or a subsidy, then the new events (or the
domain error, with nothing recorded). Pure: no store, no I/O."""
from datetime import date
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from services.funding.domain import LOTTERY_MINIMUM, BudgetExceeded, PurchaseContract, PurchaserPlan, StationFunding
from shared.errors import Conflict, InvalidInput, NotFound

TODAY = date(2026, 1, 5)


def sign(budget="1000.00", sources=None, **overrides) -> PurchaseContract:
    terms = dict(
        station_id=uuid4(), district_code="110105", period_start=date(2026, 1, 1), period_end=date(2026, 12, 31),
        budget=Decimal(budget),
        funding_sources=sources or [{"source": "district_finance", "amount": Decimal("800.00")},
                                    {"source": "welfare_lottery", "amount": Decimal("200.00")}],
        unit_prices={"medication_training": Decimal("80.00")}, today=TODAY,
    )
    return PurchaseContract.sign(**{**terms, **overrides})


def new_events(contract: PurchaseContract):
    return contract.collect_events()


def test_signed_contract_then_payment_within_budget():
    # given a contract of 1000.00
    contract = sign()
    [signed] = new_events(contract)
    assert isinstance(signed, PurchaseContract.Signed) and signed.budget == Decimal("1000.00")
    # when 250.50 is paid for Q1
    payment = contract.pay(Decimal("250.5"), "2026-Q1", today=TODAY)
    # then one Paid event with the running totals
    [paid] = new_events(contract)
    assert isinstance(paid, PurchaseContract.Paid)
    assert isinstance(paid.payment_id, UUID) and paid.payment_id == payment["payment_id"]
    assert (paid.amount, paid.period, paid.paid_total, paid.remaining) == (
        Decimal("250.50"), "2026-Q1", Decimal("250.50"), Decimal("749.50"))
    assert contract.remaining == Decimal("749.50") and len(contract.payments) == 1


def test_paying_exactly_the_remaining_budget_is_allowed():
    contract = sign()
    contract.pay(Decimal("600.00"), "2026-03", today=TODAY)
    contract.pay(Decimal("400.00"), "2026-04", today=TODAY)
    assert contract.paid_total == Decimal("1000.00") and contract.remaining == Decimal("0.00")


def test_paying_one_cent_over_the_remaining_budget_is_refused_and_changes_nothing():
    # given 600.00 of 1000.00 already paid
    contract = sign()
    contract.pay(Decimal("600.00"), "2026-Q1", today=TODAY)
    new_events(contract)
    # when 400.01 is paid
    with pytest.raises(InvalidInput) as refused:
        contract.pay(Decimal("400.01"), "2026-Q2", today=TODAY)
    # then the error names the amount and the remaining budget, and no event or state change follows
    assert refused.value.field == "amount"
    assert refused.value.reason == "exceeds the remaining budget of 400.00"
    assert new_events(contract) == []
    assert contract.paid_total == Decimal("600.00") and len(contract.payments) == 1


def test_funding_sources_must_sum_to_the_budget():
    with pytest.raises(InvalidInput) as refused:
        sign(budget="1000.00", sources=[{"source": "city_finance", "amount": Decimal("999.99")}])
    assert refused.value.field == "funding_sources"
    assert "999.99" in refused.value.reason and "1000.00" in refused.value.reason


@pytest.mark.parametrize("sources, field", [
    ([{"source": "lottery", "amount": Decimal("1000.00")}], "funding_sources.0.source"),
    ([{"source": "city_finance", "amount": Decimal("500.00")},
      {"source": "city_finance", "amount": Decimal("500.00")}], "funding_sources.1.source"),
    ([{"source": "city_finance", "amount": Decimal("-1.00")}], "funding_sources.0.amount"),
])
def test_each_funding_source_is_known_positive_and_listed_once(sources, field):
    with pytest.raises(InvalidInput) as refused:
        sign(sources=sources)
    assert refused.value.field == field


@pytest.mark.parametrize("overrides, field", [
    ({"budget": Decimal("0")}, "budget"),
    ({"budget": Decimal("1000.001")}, "budget"),
    ({"period_end": date(2026, 1, 1)}, "period_end"),
    ({"district_code": "1101"}, "district_code"),
    ({"unit_prices": {"peer_support": Decimal("0.00")}}, "unit_prices.peer_support"),
])
def test_contract_terms_are_validated(overrides, field):
    with pytest.raises(InvalidInput) as refused:
        sign(**overrides)
    assert refused.value.field == field


def test_decimal_arithmetic_is_exact():
    # given a contract of 0.30; when three payments of 0.10; then exactly 0.30 paid, 0.00 left
    contract = sign(budget="0.30", sources=[{"source": "city_finance", "amount": Decimal("0.30")}])
    for month in ("2026-01", "2026-02", "2026-03"):
        contract.pay(Decimal("0.10"), month, today=TODAY)
    assert contract.paid_total == Decimal("0.30") and contract.remaining == Decimal("0.00")
    # and a further cent is over budget
    with pytest.raises(InvalidInput):
        contract.pay(Decimal("0.01"), "2026-04", today=TODAY)


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-5.00"), Decimal("1.005"), 0.1, "abc"])
def test_payment_amount_must_be_positive_with_two_decimals(amount):
    with pytest.raises(InvalidInput) as refused:
        sign().pay(amount, "2026-Q1", today=TODAY)
    assert refused.value.field == "amount"


@pytest.mark.parametrize("period", ["2026-Q5", "2026-13", "2026", "Q1-2026", "2027-Q1", "2025-12"])
def test_invalid_or_out_of_contract_period_is_refused(period):
    contract = sign()
    with pytest.raises(InvalidInput) as refused:
        contract.pay(Decimal("10.00"), period, today=TODAY)
    assert refused.value.field == "period"
    assert contract.collect_events()[1:] == []  # only the Signed event was ever recorded


# -- purchaser -------------------------------------------------------------------------------

@pytest.mark.parametrize("purchaser, level", [(None, "district"), ("110105", "district"), ("110100", "city"),
                                              ("110000", "city")])
def test_the_purchaser_is_the_district_or_the_city_over_it(purchaser, level):
    contract = sign(purchaser_code=purchaser)
    assert contract.purchaser_code == (purchaser or "110105") and contract.purchaser_level == level


@pytest.mark.parametrize("purchaser", ["110106", "320100", "1101", "abcdef"])
def test_a_purchaser_that_is_neither_is_refused(purchaser):
    with pytest.raises(InvalidInput) as refused:
        sign(purchaser_code=purchaser)
    assert refused.value.field == "purchaser_code"


# -- accrual and settlement -------------------------------------------------------------------

AFTER_Q1 = date(2026, 4, 2)
REASONS = ["records complete", "two outcome indicators below target"]


def signed(budget="100000.00", prices=None) -> PurchaseContract:
    contract = sign(budget=budget, sources=[{"source": "welfare_lottery", "amount": Decimal(budget)}],
                    unit_prices=prices or {"medication_training": Decimal("80.00"), "peer_support": Decimal("45.50")})
    contract.collect_events()
    return contract


def accrue(contract: PurchaseContract, times: int, service_type="medication_training", day=date(2026, 2, 10)):
    for _ in range(times):
        assert contract.accrue(session_id=uuid4(), service_type=service_type, session_date=day)


def settle(contract: PurchaseContract, score="0.92", period="2026-Q1", by="officer-a", today=AFTER_Q1) -> UUID:
    return contract.prepare_settlement(period=period, performance_score=Decimal(score), reasons=REASONS,
                                       prepared_by=by, today=today)


def test_a_session_accrues_once_at_the_unit_price_of_its_type():
    contract = signed()
    session = uuid4()
    assert contract.accrue(session_id=session, service_type="peer_support", session_date=date(2026, 3, 3))
    assert not contract.accrue(session_id=session, service_type="peer_support", session_date=date(2026, 3, 3))
    [accrued] = contract.collect_events()
    assert isinstance(accrued, PurchaseContract.SessionAccrued)
    assert (accrued.session_id, accrued.amount, contract.accrued) == (session, Decimal("45.50"), Decimal("45.50"))


def test_settlement_is_the_periods_priced_accruals_times_the_score():
    # given 3 × 80.00 in February, 1 × 45.50 in March, and a session in April (another period)
    contract = signed()
    accrue(contract, 3)
    accrue(contract, 1, "peer_support", date(2026, 3, 31))
    accrue(contract, 1, day=date(2026, 4, 1))
    contract.collect_events()
    # when Q1 is settled with a score of 0.925
    settlement_id = settle(contract, score="0.925")
    # then 285.50 × 0.925 = 264.0875, rounded half up to 264.09, held against the budget
    [prepared] = contract.collect_events()
    assert isinstance(prepared, PurchaseContract.SettlementPrepared) and prepared.settlement_id == settlement_id
    assert (prepared.accrued, prepared.performance_score, prepared.amount) == (
        Decimal("285.50"), Decimal("0.925"), Decimal("264.09"))
    assert (contract.awaiting_approval, contract.settled, contract.remaining) == (
        Decimal("264.09"), Decimal("0.00"), Decimal("99735.91"))


@pytest.mark.parametrize("price, score, amount", [
    ("1.05", "0.5", "0.53"),      # 0.525: half a cent rounds up, not to the even 0.52
    ("0.10", "1", "0.10"),        # a float would have made 0.1 × 1 something else
    ("33.33", "0.3333", "11.11"),  # 11.108889
    ("80.00", "0", "0.00"),       # a failed supervision: nothing is due
])
def test_settlement_arithmetic_is_decimal_and_rounds_half_up_to_the_cent(price, score, amount):
    contract = signed(prices={"medication_training": Decimal(price)})
    accrue(contract, 1)
    settle(contract, score=score)
    [settlement] = contract.settlements.values()
    assert settlement["amount"] == Decimal(amount) and str(settlement["amount"]) == amount


def test_a_settlement_over_the_remaining_budget_is_refused_and_only_the_refusal_is_recorded():
    # given a budget of 1000.00 and 13 sessions × 80.00 = 1040.00 delivered in Q1
    contract = signed(budget="1000.00")
    accrue(contract, 13)
    contract.collect_events()
    # when Q1 is settled with a full score
    with pytest.raises(BudgetExceeded) as refused:
        settle(contract, score="1")
    # then 422-worthy, naming the figures; the one new event is the refusal, no settlement exists
    assert refused.value.field == "amount"
    assert refused.value.reason == "the settlement of 1040.00 exceeds the remaining budget of 1000.00"
    [rejected] = contract.collect_events()
    assert isinstance(rejected, PurchaseContract.BudgetExceeded)
    assert (rejected.requested, rejected.remaining, rejected.accrued, rejected.performance_score, rejected.period) == (
        Decimal("1040.00"), Decimal("1000.00"), Decimal("1040.00"), Decimal("1"), "2026-Q1")
    assert contract.settlements == {} and contract.remaining == Decimal("1000.00")
    # and with a lower score it fits
    settle(contract, score="0.9615")  # 999.96
    assert contract.remaining == Decimal("0.04")


def test_a_settlement_of_exactly_the_remaining_budget_is_allowed():
    contract = signed(budget="1000.00")
    contract.pay(Decimal("40.00"), "2026-01", today=TODAY)
    accrue(contract, 12)  # 960.00
    settle(contract, score="1")
    assert contract.remaining == Decimal("0.00")


def test_a_settlement_awaiting_approval_holds_its_share_of_the_budget():
    contract = signed(budget="1000.00")
    accrue(contract, 10)
    settle(contract, score="1")  # 800.00 awaiting approval
    with pytest.raises(InvalidInput) as refused:
        contract.pay(Decimal("200.01"), "2026-04", today=AFTER_Q1)
    assert refused.value.reason == "exceeds the remaining budget of 200.00"


def test_approval_needs_a_second_person_and_payment_needs_approval():
    contract = signed()
    accrue(contract, 10)
    settlement_id = settle(contract, by="officer-a")
    contract.collect_events()
    with pytest.raises(Conflict, match="second person"):
        contract.approve_settlement(settlement_id, approved_by="officer-a", today=AFTER_Q1)
    with pytest.raises(Conflict, match="pending"):
        contract.pay_settlement(settlement_id, today=AFTER_Q1)
    assert contract.collect_events() == []

    contract.approve_settlement(settlement_id, approved_by="officer-b", today=AFTER_Q1)
    [approved] = contract.collect_events()
    assert isinstance(approved, PurchaseContract.SettlementApproved)
    assert (approved.period, approved.accrued, approved.performance_score, approved.amount, approved.approved_by) == (
        "2026-Q1", Decimal("800.00"), Decimal("0.92"), Decimal("736.00"), "officer-b")
    assert (contract.settled, contract.awaiting_approval) == (Decimal("736.00"), Decimal("0.00"))
    with pytest.raises(Conflict):
        contract.approve_settlement(settlement_id, approved_by="officer-c", today=AFTER_Q1)

    payment = contract.pay_settlement(settlement_id, today=AFTER_Q1)
    [paid] = contract.collect_events()
    assert isinstance(paid, PurchaseContract.SettlementPaid) and paid.payment_id == payment["payment_id"]
    assert (paid.amount, paid.period, paid.paid_total, paid.remaining) == (
        Decimal("736.00"), "2026-Q1", Decimal("736.00"), Decimal("99264.00"))
    assert contract.settlement(settlement_id)["status"] == "paid"
    with pytest.raises(Conflict, match="paid"):
        contract.pay_settlement(settlement_id, today=AFTER_Q1)


def test_a_declined_settlement_frees_its_budget_and_its_period():
    contract = signed(budget="1000.00")
    accrue(contract, 10)
    first = settle(contract, score="1")
    with pytest.raises(Conflict, match="overlaps"):
        settle(contract, period="2026-02")
    contract.decline_settlement(first, declined_by="officer-b", today=AFTER_Q1)
    assert contract.remaining == Decimal("1000.00")
    second = settle(contract, score="0.5")
    assert contract.settlement(second)["amount"] == Decimal("400.00")
    with pytest.raises(Conflict, match="declined"):
        contract.approve_settlement(first, approved_by="officer-b", today=AFTER_Q1)


@pytest.mark.parametrize("kwargs, error, field", [
    ({"period": "2026-Q2"}, Conflict, None),              # not over yet on 2026-04-02
    ({"period": "2026-04"}, Conflict, None),
    ({"period": "2027-Q1", "today": date(2027, 5, 1)}, InvalidInput, "period"),  # outside the contract
    ({"period": "2026-Q9"}, InvalidInput, "period"),
    ({"score": "1.01"}, InvalidInput, "performance_score"),
    ({"score": "-0.1"}, InvalidInput, "performance_score"),
    ({"score": "0.12345"}, InvalidInput, "performance_score"),
    ({"score": "NaN"}, InvalidInput, "performance_score"),
])
def test_settlement_input_and_timing_are_checked_before_anything_is_recorded(kwargs, error, field):
    contract = signed()
    accrue(contract, 3)
    contract.collect_events()
    with pytest.raises(error) as refused:
        settle(contract, **kwargs)
    if field:
        assert refused.value.field == field
    assert contract.collect_events() == [] and contract.settlements == {}


@pytest.mark.parametrize("reasons, field", [([], "reasons"), (None, "reasons"), (["  "], "reasons.0"),
                                            (["x" * 501], "reasons.0"), (["ok"] * 21, "reasons")])
def test_a_score_comes_with_its_reasons(reasons, field):
    contract = signed()
    accrue(contract, 1)
    with pytest.raises(InvalidInput) as refused:
        contract.prepare_settlement(period="2026-Q1", performance_score=Decimal("0.9"), reasons=reasons,
                                    prepared_by="a", today=AFTER_Q1)
    assert refused.value.field == field


def test_a_period_with_nothing_accrued_has_nothing_to_settle():
    contract = signed()
    accrue(contract, 1, day=date(2026, 5, 5))
    with pytest.raises(Conflict, match="nothing to settle"):
        settle(contract)


def test_an_approved_settlement_of_nothing_is_not_paid():
    contract = signed()
    accrue(contract, 1)
    settlement_id = settle(contract, score="0")
    contract.approve_settlement(settlement_id, approved_by="officer-b", today=AFTER_Q1)
    with pytest.raises(Conflict, match="nothing to pay"):
        contract.pay_settlement(settlement_id, today=AFTER_Q1)


def test_unknown_settlement_is_not_found():
    with pytest.raises(NotFound):
        signed().approve_settlement(uuid4(), approved_by="b", today=AFTER_Q1)


# -- the station: contracts by period, unfunded sessions, subsidies -----------------------------

def station(tier: str | None = "provincial_demo") -> StationFunding:
    s = StationFunding(station_id=uuid4())
    if tier:
        s.learn(tier=tier, district_code="110105")
    s.collect_events()
    return s


def test_a_station_has_one_contract_per_day():
    s = station()
    first = uuid4()
    s.add_contract(contract_id=first, district_code="110105", period_start=date(2026, 1, 1),
                   period_end=date(2026, 6, 30))
    with pytest.raises(Conflict, match="must not overlap"):
        s.add_contract(contract_id=uuid4(), district_code="110105", period_start=date(2026, 6, 30),
                       period_end=date(2026, 12, 31))
    second = uuid4()
    s.add_contract(contract_id=second, district_code="110105", period_start=date(2026, 7, 1),
                   period_end=date(2026, 12, 31))
    assert (s.contract_on(date(2026, 6, 30)), s.contract_on(date(2026, 7, 1)), s.contract_on(date(2027, 1, 1))) == (
        first, second, None)
    with pytest.raises(InvalidInput) as refused:  # funding learned the station is in 110105
        s.add_contract(contract_id=uuid4(), district_code="110106", period_start=date(2027, 1, 1),
                       period_end=date(2027, 12, 31))
    assert refused.value.field == "district_code"


def test_an_unfunded_session_is_recorded_once_with_its_reason():
    s = station()
    session, contract = uuid4(), uuid4()
    assert s.record_unfunded(session_id=session, service_type="peer_support", session_date=date(2026, 3, 1),
                             contract_id=None)
    assert not s.record_unfunded(session_id=session, service_type="peer_support", session_date=date(2026, 3, 1),
                                 contract_id=None)
    s.record_unfunded(session_id=uuid4(), service_type="home_service", session_date=date(2026, 3, 2),
                      contract_id=contract)
    assert [(u["reason"], u["contract_id"]) for u in s.unfunded.values()] == [
        ("no_contract", None), ("no_unit_price", contract)]
    assert len(s.collect_events()) == 2


def test_the_construction_subsidy_is_granted_once_to_a_demonstration_site():
    s = station("provincial_demo")
    granted = s.grant_subsidy(kind="construction", amount=Decimal("200000.00"), year=None, today=TODAY)
    [event] = s.collect_events()
    assert isinstance(event, StationFunding.SubsidyGranted)
    assert (event.station_id, event.kind, event.amount, event.granted_on) == (
        s.station_id, "construction", Decimal("200000.00"), TODAY)
    assert granted["subsidy_id"] == event.subsidy_id
    with pytest.raises(Conflict, match="one-time"):
        s.grant_subsidy(kind="construction", amount=Decimal("1.00"), year=None, today=TODAY)


def test_operating_subsidies_are_by_year():
    s = station("ningkang_home")  # a 宁康家园 is a provincial demonstration site too
    s.grant_subsidy(kind="operating", amount=Decimal("50000.00"), year=2026, today=TODAY)
    with pytest.raises(Conflict, match="2026"):
        s.grant_subsidy(kind="operating", amount=Decimal("50000.00"), year=2026, today=TODAY)
    s.grant_subsidy(kind="operating", amount=Decimal("50000.00"), year=2027, today=TODAY)
    assert [x["year"] for x in s.subsidies] == [2026, 2027]


@pytest.mark.parametrize("tier, kwargs, error, field", [
    ("ningkang_post", {}, Conflict, None),
    (None, {}, Conflict, None),
    ("provincial_demo", {"kind": "operating"}, InvalidInput, "year"),
    ("provincial_demo", {"year": 2026}, InvalidInput, "year"),
    ("provincial_demo", {"kind": "bonus"}, InvalidInput, "kind"),
    ("provincial_demo", {"amount": Decimal("0")}, InvalidInput, "amount"),
])
def test_subsidies_refused(tier, kwargs, error, field):
    s = station(tier)
    terms = {"kind": "construction", "amount": Decimal("1000.00"), "year": None, **kwargs}
    with pytest.raises(error) as refused:
        s.grant_subsidy(**terms, today=TODAY)
    if field:
        assert refused.value.field == field
    assert s.collect_events() == [] and s.subsidies == []


# -- the purchaser's welfare-lottery share -------------------------------------------------------

@pytest.mark.parametrize("lottery, total, share, below", [
    ("20000.00", "100000.00", "0.2000", False),   # exactly the minimum is enough
    ("19999.99", "100000.00", "0.1999", True),    # rounded down for reading, compared exactly
    ("0.00", "100000.00", "0.0000", True),
])
def test_the_lottery_share_is_across_the_purchasers_contracts(lottery, total, share, below):
    plan = PurchaserPlan(purchaser_code="110000")
    rest = Decimal(total) - Decimal(lottery)
    plan.count(contract_id=uuid4(), funding_sources=[{"source": "city_finance", "amount": rest / 2}])
    plan.count(contract_id=uuid4(), funding_sources=[{"source": "district_finance", "amount": rest / 2},
                                                     {"source": "welfare_lottery", "amount": Decimal(lottery)}])
    assert (plan.spending, plan.lottery, plan.share, plan.below(LOTTERY_MINIMUM)) == (
        Decimal(total), Decimal(lottery), Decimal(share), below)
