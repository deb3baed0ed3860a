"""supervision's own facts: when a district's figure for a closed month missed its target.
Pure, no I/O. Everything else supervision knows is other services' public events (its
read model, readmodel.py; the indicator definitions, indicators.py).

- `IndicatorReview`: one district, one indicator, one calendar month. Created once (its id
  is derived from the three), so the IndicatorBelowTarget it leads to is published once.
- A month is closed `close_after_days` after its last day: facts of a period can arrive
  late (an overdue reassessment is published after the assessment service's grace)."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

NAMESPACE = uuid5(NAMESPACE_URL, "https://jingkang.example/supervision/reviews")


class IndicatorReview(Aggregate):
    """A district's figure for a closed month, below its target."""

    @staticmethod
    def create_id(district: str, indicator: str, period: str, **_) -> UUID:
        return uuid5(NAMESPACE, f"{district}/{indicator}/{period}")

    @event("BelowTarget")
    def __init__(self, district: str, indicator: str, period: str, value: Decimal | None, target: Decimal | None,
                 numerator: object, denominator: object):
        self.district = district
        self.indicator = indicator
        self.period = period
        self.value = value
        self.target = target
        self.numerator = None if numerator is None else str(numerator)
        self.denominator = None if denominator is None else str(denominator)


def month_of(day: date) -> str:
    return day.strftime("%Y-%m")


def closed_months(today: date, close_after_days: int, review_months: int, since: date) -> list[tuple[date, date]]:
    """The calendar months closed by `today` (their last day at least close_after_days ago),
    at most the last `review_months` of them, none before the month of `since`; oldest first."""
    out: list[tuple[date, date]] = []
    last = today.replace(day=1) - timedelta(days=1)  # last day of the previous month
    while len(out) < review_months and last >= since.replace(day=1):
        first = last.replace(day=1)
        if (today - last).days >= close_after_days:
            out.append((first, last))
        last = first - timedelta(days=1)
    return sorted(out)
