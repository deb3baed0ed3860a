"""A blocked relay retries with exponential backoff, capped, and starts again at the first
step once a batch goes out (the relay against real Kafka: tests/integration/test_relay_blocked.py)."""
from __future__ import annotations

import threading

from services.funding.application import create_application
from services.funding.contracts import to_public
from shared.relay import OutboxRelay, RelayBlocked
from shared.settings import load_settings


class Stop(threading.Event):
    """Records how long the relay asked to wait; stops it after `rounds` waits."""

    def __init__(self, rounds: int):
        super().__init__()
        self.waits: list[float] = []
        self.rounds = rounds

    def wait(self, timeout=None):
        self.waits.append(timeout)
        if len(self.waits) >= self.rounds:
            self.set()
        return self.is_set()


class Outcomes(OutboxRelay):
    """A relay whose batches end as listed: an exception to raise, or a count published."""

    def __init__(self, outcomes):
        app = create_application(load_settings("funding", {"JINGKANG_FUNDING_STORE": "memory://"}))
        super().__init__(app, "funding", to_public, producer=None, max_backoff_seconds=8)
        self.outcomes = list(outcomes)

    def publish_batch(self) -> int:
        outcome = self.outcomes.pop(0) if self.outcomes else 0
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def test_retries_back_off_exponentially_up_to_the_cap_and_reset_after_success():
    blocked = RelayBlocked(7, "MessageSizeTooLargeError")
    outcomes = [blocked] * 6 + [3] + [ConnectionError("broker gone")] * 2
    stop = Stop(rounds=8)
    Outcomes(outcomes).run(stop, wait_for_events=lambda timeout: None)
    assert stop.waits == [1, 2, 4, 8, 8, 8, 1, 2]
