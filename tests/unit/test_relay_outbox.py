"""The relay's record in its service's store (shared/outbox.py): what /ready reads, and the
rules of an operator's withholding decision (the relay against real Kafka:
tests/integration/test_relay_blocked.py)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from services.funding.application import create_application
from shared.errors import Conflict, InvalidInput, NotReady
from shared.outbox import RelayOutbox, relay_check
from shared.relayctl import status, withhold
from shared.settings import load_settings

AT = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)


@pytest.fixture
def funding():
    return create_application(load_settings("funding", {"JINGKANG_FUNDING_STORE": "memory://"}))


def block(app, position: int) -> None:
    outbox = RelayOutbox()
    outbox.blocked(position=position, reason="MessageSizeTooLargeError: 1590000 bytes", at=AT)
    app.save(outbox)


def test_ready_names_the_position_reason_and_time_while_blocked_and_clears_on_resume(funding):
    check = relay_check(funding)
    check()  # never blocked: ready
    block(funding, 42)
    with pytest.raises(NotReady, match=r"blocked at position 42 \(MessageSizeTooLargeError: 1590000 bytes\) "
                                       r"since 2026-03-02T08:30:00Z"):
        check()
    outbox = funding.repository.get(RelayOutbox.ID)
    outbox.resumed(position=42)
    funding.save(outbox)
    check()


@pytest.mark.parametrize("position, reason, note, error", [
    (43, "too_large", "issue 10", Conflict),  # not where it is blocked
    (42, "because", "issue 10", InvalidInput),  # not a reason code
    (42, "too_large", "   ", InvalidInput),  # no note
    (42, "too_large", "x" * 501, InvalidInput),
])
def test_only_the_blocked_position_can_be_withheld_with_a_reason_code_and_a_note(funding, position, reason, note, error):
    block(funding, 42)
    before = funding.recorder.max_notification_id()
    with pytest.raises(error):
        withhold(funding, position, reason=reason, note=note, by="ops-001")
    assert funding.recorder.max_notification_id() == before


def test_a_withholding_is_attributed_and_shown_by_status(funding):
    with pytest.raises(Conflict):  # not blocked: nothing to withhold
        withhold(funding, 1, reason="too_large", note="issue 10", by="ops-001")
    block(funding, 42)
    with pytest.raises(ValueError):  # a staff id, never a name
        withhold(funding, 42, reason="too_large", note="issue 10", by="张三 (ops)")
    withhold(funding, 42, reason="too_large", note="issue 10", by="ops-001")
    with pytest.raises(Conflict):
        withhold(funding, 42, reason="too_large", note="again", by="ops-001")
    shown = status(funding)
    assert shown["blocked"]["position"] == 42 and shown["withheld"] == {42: "too_large"}
    [decision] = [funding.mapper.to_domain_event(n) for n in funding.notifications() if n.topic.endswith(".Withheld")]
    assert vars(decision)["_meta"] == {"actor": "ops-001", "role": "operator"}
