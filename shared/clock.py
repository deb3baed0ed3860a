"""Injectable clock: every deadline reads time from here, so a test can move a client
31 or 91 days ahead without waiting."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

# Business dates (registered on, due on) are the programme's local dates, not UTC ones.
LOCAL = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...

    def today(self) -> date: ...


class SystemClock:
    """Wall-clock time. In development and end-to-end tests the clock can be moved
    forward for every process at once: `offset_file` holds a number of seconds to add
    (absent file: no offset). Production settings never set it."""

    def __init__(self, offset_file: str | None = None):
        self.offset_file = offset_file

    def now(self) -> datetime:
        now = datetime.now(timezone.utc)
        if self.offset_file:
            try:
                with open(self.offset_file) as f:
                    now += timedelta(seconds=float(f.read().strip() or 0))
            except FileNotFoundError:
                pass
        return now

    def today(self) -> date:
        return self.now().astimezone(LOCAL).date()


class FixedClock:
    """A clock that only moves when told to (tests, replays)."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def today(self) -> date:
        return self.now().astimezone(LOCAL).date()

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now
