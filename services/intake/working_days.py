"""A working-day calendar for the referral rules' time limits ("verified and registered
within 5 working days"). Pure: Monday to Friday are working days, except the public
holidays given, plus the adjusted working days (调休: a weekend day worked in exchange
for a holiday). Settings `JINGKANG_INTAKE_HOLIDAYS` / `JINGKANG_INTAKE_EXTRA_WORKDAYS`
list them as ISO dates or `first..last` ranges, separated by commas."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta


def parse_days(text: str | None) -> frozenset[date]:
    """'2026-10-01..2026-10-07, 2027-01-01' -> those days. ValueError on a bad entry."""
    days: set[date] = set()
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        first, _, last = item.partition("..")
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if last else start
        if end < start:
            raise ValueError(f"range {item!r} ends before it starts")
        days.update(start + timedelta(days=n) for n in range((end - start).days + 1))
    return frozenset(days)


@dataclass(frozen=True)
class WorkingDays:
    holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add(self, start: date, working_days: int) -> date:
        """The `working_days`-th working day after `start` (start itself does not count)."""
        if working_days < 1:
            raise ValueError("count at least one working day")
        day, counted = start, 0
        while counted < working_days:
            day += timedelta(days=1)
            counted += self.is_working_day(day)
        return day
