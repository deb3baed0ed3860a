"""The handover time limit (DESIGN §4): a registered client is handed to a provider within
a further 5 working days. Registration puts the day after the due day on intake's agenda;
the worker learns of the handover from referral's ClientPlaced (through the real consumer
machinery here: CloudEvents bytes in, tracking records stored); the timer then records
DeadlineBreached (deadline `handover`) once, published with the client and application ids.
A waitlisted client has no provider yet: the limit still runs. Time moves on a FixedClock
across the boundary; the SQLite scenarios restart intake between the steps."""
from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.intake.application import Intake, create_application
from services.intake.contracts import handlers, to_public
from services.intake.domain import Client
from services.intake.settings import load_settings as intake_settings
from shared.clock import FixedClock
from shared.consumer import EventConsumer
from shared.contract import PublicEvent
from shared.contract.intake import DeadlineBreached
from shared.contract.referral import ClientPlaced, ClientWaitlisted
from shared.envelope import encode, to_cloudevent
from shared.settings import SettingsError, load_settings
from tests.support import applicant

MONDAY = date(2026, 1, 5)  # FixedClock's first day
DUE = date(2026, 1, 12)  # five working days after Monday the 5th
CONSENT = {"rehabilitation_services": True, "share_with_health": False, "share_with_disability_and_employment": False}


class HandoverScenario:
    store_url = "memory://"

    @pytest.fixture(autouse=True)
    def _world(self):
        self.clock = FixedClock()
        self.offset = 0
        self._opened: list[Intake] = []
        yield
        for intake in self._opened:
            intake.close()

    def intake(self, **extra: str) -> Intake:
        intake = create_application(load_settings("intake", {"JINGKANG_INTAKE_STORE": self.store_url, **extra}),
                                    clock=self.clock)
        self._opened.append(intake)
        return intake

    def register(self, intake: Intake) -> UUID:
        someone = applicant()
        application_id = intake.submit_application(
            source="hospital_discharge", applicant={**someone, "birth_date": date.fromisoformat(someone["birth_date"])},
            district_code="110105", street_code="110105001", hardship_categories=[])
        intake.record_consent(application_id, signed_by="self", scope=CONSENT)
        return intake.register_client(application_id)

    def deliver(self, intake: Intake, event: PublicEvent, offset: int | None = None) -> str:
        """referral's public event, as its relay published it, through intake's consumer."""
        if offset is None:
            self.offset += 1
            offset = self.offset
        raw = encode(to_cloudevent(event, id=str(uuid4()), time=self.clock.now(), sequence=offset))
        consumer = EventConsumer(intake, "intake", handlers(intake), attempts=1, sleep=lambda _: None)
        outcome = consumer.process("jingkang.referral.v1", 0, offset, raw)
        return outcome.status + (f": {outcome.reason}" if outcome.reason else "")

    def placed(self, client_id: UUID, on: date) -> ClientPlaced:
        return ClientPlaced(client_id=client_id, station_id=uuid4(), district_code="110105", placed_on=on)

    def on_day(self, day: date) -> None:
        self.clock.advance(days=(day - self.clock.today()).days)

    @staticmethod
    def breaches(intake: Intake) -> list[Any]:
        return [e for e in map(intake.mapper.to_domain_event, intake.recorder.select_notifications(start=1, limit=1000))
                if isinstance(e, Client.DeadlineBreached)]

    @staticmethod
    def stored(intake: Intake) -> int:
        return intake.recorder.max_notification_id() or 0

    # --- scenarios -----------------------------------------------------------------------

    def test_a_client_placed_in_time_is_no_breach(self):
        intake = self.intake()
        client_id = self.register(intake)
        assert intake.get_client(client_id).handover_due_on == DUE
        self.on_day(date(2026, 1, 9))
        assert self.deliver(intake, self.placed(client_id, date(2026, 1, 9))) == "processed"
        assert intake.get_client(client_id).placed["placed_on"] == date(2026, 1, 9)

        self.on_day(date(2026, 1, 20))
        intake.run_deadlines()

        assert self.breaches(intake) == []

    def test_a_client_not_handed_over_is_reported_the_day_after_the_due_day_once(self):
        intake = self.intake()
        client_id = self.register(intake)
        application_id = intake.get_client(client_id).application_id
        # On the due day it is still in time
        self.on_day(DUE)
        intake.run_deadlines()
        assert self.breaches(intake) == []
        # The day after, the breach is recorded and published with both ids
        self.on_day(date(2026, 1, 13))
        intake.run_deadlines()
        (breach,) = self.breaches(intake)
        assert (breach.kind, breach.due_on, breach.originator_id) == ("handover", DUE, client_id)
        (public,) = to_public(breach)
        assert public == DeadlineBreached(application_id=application_id, client_id=client_id, deadline="handover",
                                          due_on=DUE)
        # Later ticks, and a placement that comes late, do not report it again
        intake.run_deadlines()
        self.on_day(date(2026, 1, 15))
        assert self.deliver(intake, self.placed(client_id, date(2026, 1, 15))) == "processed"
        intake.run_deadlines()
        assert len(self.breaches(intake)) == 1

    def test_waiting_for_a_place_does_not_stop_the_clock(self):
        intake = self.intake()
        client_id = self.register(intake)
        assert self.deliver(intake, ClientWaitlisted(client_id=client_id, district_code="110105",
                                                     waiting_since=date(2026, 1, 6))) == "processed"
        assert intake.get_client(client_id).waitlisted_since == date(2026, 1, 6)
        waitlisted = [e for e in map(intake.mapper.to_domain_event, intake.recorder.select_notifications(start=1, limit=100))
                      if isinstance(e, Client.Waitlisted)]
        assert len(waitlisted) == 1 and list(to_public(waitlisted[0])) == []  # referral publishes placement, not intake

        self.on_day(date(2026, 1, 13))
        intake.run_deadlines()

        assert [b.kind for b in self.breaches(intake)] == ["handover"]

    def test_a_placement_learnt_late_counts_for_the_day_it_happened(self):
        intake = self.intake()
        in_time, too_late = self.register(intake), self.register(intake)
        # The worker was down: both placements arrive after the due day, one dated in time
        self.on_day(date(2026, 1, 14))
        self.deliver(intake, self.placed(in_time, DUE))
        self.deliver(intake, self.placed(too_late, date(2026, 1, 13)))

        intake.run_deadlines()  # the agenda of the 13th fires now

        assert [b.originator_id for b in self.breaches(intake)] == [too_late]

    def test_a_client_who_exited_in_time_is_no_breach(self):
        intake = self.intake()
        client_id = self.register(intake)
        self.on_day(date(2026, 1, 7))
        intake.exit_client(client_id, reason="moved_away")
        self.on_day(date(2026, 1, 30))
        intake.run_deadlines()
        assert self.breaches(intake) == []

    def test_a_repeated_placement_changes_nothing(self):
        intake = self.intake()
        client_id = self.register(intake)
        first = self.placed(client_id, date(2026, 1, 6))
        assert self.deliver(intake, first) == "processed"
        before = self.stored(intake)
        # The same message again (same offset), and a republished copy or a later transfer (new offsets)
        assert self.deliver(intake, first, offset=self.offset) == "duplicate"
        assert self.deliver(intake, first) == "processed"
        assert self.deliver(intake, self.placed(client_id, date(2026, 1, 8))) == "processed"
        assert intake.get_client(client_id).placed["placed_on"] == date(2026, 1, 6)
        # only the tracking records were added: no new event
        assert [type(e).__qualname__ for e in map(intake.mapper.to_domain_event, intake.recorder.select_notifications(
            start=before, limit=100, inclusive_of_start=False))] == []

    def test_a_placement_of_a_client_intake_does_not_know_is_dead_lettered_with_the_reason(self):
        intake = self.intake()
        before = self.stored(intake)
        outcome = self.deliver(intake, self.placed(uuid4(), MONDAY))
        assert outcome.startswith("dead_letter") and "client" in outcome
        assert self.stored(intake) == before

    def test_the_limit_and_the_calendar_come_from_the_settings(self):
        # Two working days, and Wednesday the 7th a holiday: due Thursday the 8th
        intake = self.intake(JINGKANG_INTAKE_HANDOVER_WORKING_DAYS="2", JINGKANG_INTAKE_HOLIDAYS="2026-01-07")
        client_id = self.register(intake)
        assert intake.get_client(client_id).handover_due_on == date(2026, 1, 8)
        self.on_day(date(2026, 1, 8))
        intake.run_deadlines()
        assert self.breaches(intake) == []
        self.on_day(date(2026, 1, 9))
        intake.run_deadlines()
        assert [b.due_on for b in self.breaches(intake)] == [date(2026, 1, 8)]


class TestHandoverInMemory(HandoverScenario):
    pass


class TestHandoverOnSqlite(HandoverScenario):
    @pytest.fixture(autouse=True)
    def _on_sqlite(self, tmp_path):
        self.store_url = f"sqlite:///{tmp_path}/intake.sqlite"

    def test_the_deadline_survives_restarts_and_fires_once(self):
        intake = self.intake()
        client_id = self.register(intake)
        intake.close()
        self._opened.remove(intake)
        # Given intake was down over the due day: a new process fires the deadline
        self.on_day(date(2026, 1, 16))
        restarted = self.intake()
        restarted.run_deadlines()
        assert [b.originator_id for b in self.breaches(restarted)] == [client_id]
        restarted.close()
        self._opened.remove(restarted)
        # And another one, later, does not report it again
        self.on_day(date(2026, 1, 20))
        again = self.intake()
        again.run_deadlines()
        assert len(self.breaches(again)) == 1


def test_the_handover_limit_is_a_positive_number_of_working_days():
    for bad in ("0", "five", "-1"):
        with pytest.raises(SettingsError, match="HANDOVER_WORKING_DAYS"):
            intake_settings({"JINGKANG_INTAKE_HANDOVER_WORKING_DAYS": bad})


def test_a_client_registered_before_the_handover_limit_has_none():
    intake = create_application(load_settings("intake", {"JINGKANG_INTAKE_STORE": "memory://"}), clock=FixedClock())
    client = Client(application_id=uuid4(), source="self", district_code="110105", street_code="110105001",
                    hardship_categories=[], consent=CONSENT, registered_on=MONDAY, handover_due_on=DUE)
    stored = intake.mapper.to_stored_event(client.collect_events()[0])
    state = intake.mapper.transcoder.decode(stored.state)
    del state["handover_due_on"]
    state.pop("class_version", None)
    old = type(stored)(stored.originator_id, stored.originator_version, stored.topic, intake.mapper.transcoder.encode(state))
    upcast = intake.mapper.to_domain_event(old).mutate(None)
    assert upcast.handover_due_on is None
    assert upcast.report_handover_overdue(date(2027, 1, 1)) is False
