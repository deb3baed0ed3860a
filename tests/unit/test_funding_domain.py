"""Scenarios for the PurchaseContract aggregate: given a signed contract, when a
payment is made, then the new event (or the domain error). Pure: no store, no I/O."""
from datetime import date
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from services.funding.domain import PurchaseContract
from shared.errors import InvalidInput

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
