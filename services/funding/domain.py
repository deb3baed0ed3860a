"""funding's aggregate: a PurchaseContract (政府购买服务合同) between a district (or the
city) and a station operator, and the payments made against its budget. Pure: no I/O.

Money is Decimal quantized to 0.01 yuan everywhere: a float cannot hold 0.10 exactly,
and three payments of 0.10 must leave exactly 0.30 paid."""
from __future__ import annotations

import calendar
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from shared.errors import InvalidInput

SOURCES = ("city_finance", "district_finance", "welfare_lottery")
CENT = Decimal("0.01")
DISTRICT = re.compile(r"^[0-9]{6}$")
SERVICE_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# A payment covers a quarter ("2026-Q1") or a month ("2026-03").
PERIOD = re.compile(r"^(?P<year>[0-9]{4})-(?:Q(?P<quarter>[1-4])|(?P<month>0[1-9]|1[0-2]))$")


def to_money(value: Any, field: str) -> Decimal:
    """A positive amount of yuan with at most two decimals, as a Decimal quantized to 0.01."""
    if isinstance(value, (float, bool)):  # a float is already inexact; refuse rather than guess
        raise InvalidInput(field, "must be a decimal amount, not a float")
    try:
        amount = Decimal(value)
        exact = amount.is_finite() and amount == amount.quantize(CENT)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(field, "must be a decimal amount") from None
    if not exact:
        raise InvalidInput(field, "must be a finite amount with at most two decimals")
    if amount <= 0:
        raise InvalidInput(field, "must be greater than 0")
    return amount.quantize(CENT)


def period_dates(period: str) -> tuple[date, date]:
    """First and last day of a payment period ("2026-Q1" or "2026-03")."""
    m = PERIOD.match(period) if isinstance(period, str) else None
    if not m:
        raise InvalidInput("period", "must be a quarter like 2026-Q1 or a month like 2026-03")
    year = int(m["year"])
    first, last = (3 * int(m["quarter"]) - 2, 3 * int(m["quarter"])) if m["quarter"] else (int(m["month"]),) * 2
    return date(year, first, 1), date(year, last, calendar.monthrange(year, last)[1])


class PurchaseContract(Aggregate):
    @event("Signed")
    def __init__(
        self,
        station_id: UUID,
        district_code: str,
        period_start: date,
        period_end: date,
        budget: Decimal,
        funding_sources: list[dict[str, Any]],
        unit_prices: dict[str, Decimal],
        signed_on: date,
    ):
        self.station_id = station_id
        self.district_code = district_code
        self.period_start = period_start
        self.period_end = period_end
        self.budget = budget
        self.funding_sources = funding_sources
        self.unit_prices = unit_prices
        self.signed_on = signed_on
        self.paid_total = Decimal("0.00")
        self.payments: list[dict[str, Any]] = []

    @classmethod
    def sign(cls, *, station_id: UUID, district_code: str, period_start: date, period_end: date, budget: Any,
             funding_sources: list[dict[str, Any]], unit_prices: dict[str, Any], today: date) -> "PurchaseContract":
        if not DISTRICT.match(district_code):
            raise InvalidInput("district_code", "must be a 6-digit GB/T 2260 code")
        if period_end <= period_start:
            raise InvalidInput("period_end", "must be after period_start")
        budget = to_money(budget, "budget")
        sources = []
        for i, share in enumerate(funding_sources):
            if share.get("source") not in SOURCES:
                raise InvalidInput(f"funding_sources.{i}.source", f"must be one of {', '.join(SOURCES)}")
            if share["source"] in (s["source"] for s in sources):
                raise InvalidInput(f"funding_sources.{i}.source", "is listed twice")
            sources.append({"source": share["source"], "amount": to_money(share.get("amount"), f"funding_sources.{i}.amount")})
        funded = sum((s["amount"] for s in sources), Decimal("0.00"))
        if funded != budget:
            raise InvalidInput("funding_sources", f"sum to {funded:.2f}, which is not the budget of {budget:.2f}")
        prices = {}
        for service_type, price in unit_prices.items():
            if not SERVICE_TYPE.match(service_type):
                raise InvalidInput("unit_prices", f"service type {service_type!r} must be snake_case")
            prices[service_type] = to_money(price, f"unit_prices.{service_type}")
        return cls(station_id, district_code, period_start, period_end, budget, sources, prices, today)

    @property
    def remaining(self) -> Decimal:
        return self.budget - self.paid_total

    def pay(self, amount: Any, period: str, today: date) -> dict[str, Any]:
        """Pay `amount` for `period`; never beyond the remaining budget. Returns the payment."""
        amount = to_money(amount, "amount")
        first, last = period_dates(period)
        if last < self.period_start or first > self.period_end:
            raise InvalidInput("period", f"is outside the contract period {self.period_start} to {self.period_end}")
        if amount > self.remaining:
            raise InvalidInput("amount", f"exceeds the remaining budget of {self.remaining:.2f}")
        # The id is made here and stored in the event, so a replay yields the same payment.
        self._paid(payment_id=uuid4(), amount=amount, period=period, paid_on=today,
                   paid_total=self.paid_total + amount, remaining=self.remaining - amount)
        return self.payments[-1]

    @event("Paid")
    def _paid(self, payment_id: UUID, amount: Decimal, period: str, paid_on: date,
              paid_total: Decimal, remaining: Decimal) -> None:
        # Running totals ride in the event so the public PurchaseContractPaid needs no replay.
        self.paid_total = paid_total
        self.payments.append({"payment_id": payment_id, "amount": amount, "period": period, "paid_on": paid_on,
                              "paid_total": paid_total, "remaining": remaining})
