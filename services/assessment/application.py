"""The assessment Application: rehabilitation records, assessments, classification, plans,
service sessions and the programme's deadlines. Every command is get -> call -> save; no
HTTP, no Kafka here. Deadlines use shared.deadlines: a command saves the Agenda entries it
starts with the record, and the worker's timer calls `run_deadlines()`."""
from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any, Iterable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from services.assessment.domain import (
    CONTACT_DUE, PLAN_OVERDUE, REASSESSMENT_DUE, REASSESSMENT_OVERDUE, Caseload, ClientRecord, Rules,
)
from services.assessment.settings import rules as rules_from
from shared.clock import Clock, SystemClock
from shared.deadlines import Agenda, Deadlines
from shared.errors import NotFound
from shared.settings import ServiceSettings, store_env
from shared.store import ServiceApplication, command_context, rerun_on_conflict

log = logging.getLogger("jingkang.assessment")

# What each deadline kind asks of the record; every one is a no-op when nothing is due.
REPORTERS = {
    PLAN_OVERDUE: ClientRecord.report_plan_overdue,
    REASSESSMENT_DUE: ClientRecord.report_reassessment_due,
    REASSESSMENT_OVERDUE: ClientRecord.report_reassessment_overdue,
    CONTACT_DUE: ClientRecord.report_contact_due,
}


class Assessments(Deadlines, ServiceApplication):
    name = "assessment"
    # A district's caseload gains an event per client arriving or leaving: snapshots keep it cheap to read.
    snapshotting_intervals = {Caseload: 100}

    def __init__(self, env=None, clock: Clock | None = None, rules: Rules | None = None):
        self.rules = rules or Rules()
        super().__init__(env=env, clock=clock)

    # --- from intake's events -------------------------------------------------------------------

    def open_record(self, *, client_id: UUID, district_code: str, street_code: str, registered_on: date,
                    consent: dict[str, bool] | None = None) -> bool:
        """Learn a newly registered client (from ClientRegistered). False if already known.
        Starts the plan deadline; a registration learned late lands on today's agenda."""
        if client_id in self.repository:
            return False
        record = ClientRecord.open(client_id=client_id, district_code=district_code, street_code=street_code,
                                   registered_on=registered_on, rules=self.rules, consent=consent)
        caseload = self._caseload(district_code)
        caseload.join(client_id)
        self.save(record, caseload,
                  *self.schedule_all([(PLAN_OVERDUE, client_id, record.plan_due_on + timedelta(days=1))]))
        return True

    def relocate_client(self, client_id: UUID, *, district_code: str, street_code: str, relocated_on: date) -> bool:
        record = self.get_record(client_id)
        before = record.district_code
        if not record.relocate(district_code=district_code, street_code=street_code, relocated_on=relocated_on):
            return False
        caseloads = []
        if before != district_code:
            leaving, arriving = self._caseload(before), self._caseload(district_code)
            leaving.leave(client_id)
            arriving.join(client_id)
            caseloads = [leaving, arriving]
        self.save(record, *caseloads)
        return True

    def change_consent(self, client_id: UUID, *, consent: dict[str, bool], changed_on: date) -> bool:
        """A withdrawal (from ConsentWithdrawn): who may read the record changes from now on."""
        record = self.get_record(client_id)
        if not record.change_consent(consent=consent, changed_on=changed_on):
            return False
        self.save(record)
        return True

    def record_exit(self, client_id: UUID, *, reason: str, exited_on: date) -> bool:
        """The client left the programme: sessions, plans and process assessments are refused
        from now on, deadlines stop; the discharge assessment can still be recorded."""
        record = self.get_record(client_id)
        if not record.record_exit(reason=reason, exited_on=exited_on):
            return False
        caseload = self._caseload(record.district_code)
        caseload.leave(client_id)
        self.save(record, caseload)
        return True

    # --- commands (HTTP) ------------------------------------------------------------------------

    @rerun_on_conflict  # the agendas are shared with every other client's deadlines
    def complete_assessment(self, client_id: UUID, *, kind: str, stability: str, risk_level: int, willing: bool,
                            functional_score: int, assessor: str, assessed_on: date | None = None) -> ClientRecord:
        record = self.get_record(client_id)
        record.complete_assessment(kind=kind, stability=stability, risk_level=risk_level, willing=willing,
                                   functional_score=functional_score, assessor=assessor,
                                   assessed_on=assessed_on or self.clock.today(), today=self.clock.today(),
                                   now=self.clock.now(), rules=self.rules)
        # A newer assessment moves the deadlines: earlier agenda entries find nothing due.
        due = [(REASSESSMENT_DUE, client_id, record.reassessment_due_on),
               (REASSESSMENT_OVERDUE, client_id, record.reassessment_overdue_on),
               (CONTACT_DUE, client_id, record.contact_due_on)]
        self.save(record, *self.schedule_all([d for d in due if d[2] is not None]))
        return record

    def agree_plan(self, client_id: UUID, *, goals: list[str], services: list[str], agreed_by: str,
                   agreed_on: date | None = None) -> ClientRecord:
        record = self.get_record(client_id)
        record.agree_plan(goals=goals, services=services, agreed_by=agreed_by,
                          agreed_on=agreed_on or self.clock.today(), today=self.clock.today())
        self.save(record)
        return record

    def record_session(self, client_id: UUID, *, service_type: str, station_id: UUID, session_date: date,
                       minutes: int, mode: str, attendance: str) -> dict[str, Any]:
        """-> the session as the record now holds it (no second read of the record)."""
        record = self.get_record(client_id)
        session_id = record.record_session(service_type=service_type, station_id=station_id,
                                           session_date=session_date, minutes=minutes, mode=mode,
                                           attendance=attendance, today=self.clock.today())
        self.save(record)
        return next(s for s in record.sessions if s["session_id"] == session_id)

    @rerun_on_conflict  # the agenda is shared, as above
    def record_contact(self, client_id: UUID, *, method: str, outcome: str, staff: str,
                       contacted_on: date | None = None) -> ClientRecord:
        record = self.get_record(client_id)
        due_before = record.contact_due_on
        record.record_contact(contacted_on=contacted_on or self.clock.today(), method=method, outcome=outcome,
                              staff=staff, today=self.clock.today())
        # A reached client moves the next contact (the earlier agenda entry then finds nothing
        # due); one not reached leaves it, and its entry is already on the agenda.
        moved = record.contact_due_on != due_before
        self.save(record, *(self.schedule_all([(CONTACT_DUE, client_id, record.contact_due_on)]) if moved else []))
        return record

    def report_relapse(self, client_id: UUID, *, reported_by: str, stability: str | None = None,
                       risk_level: int | None = None) -> tuple[ClientRecord, bool]:
        """-> (record, True if a relapse was detected now; False if an episode was already open)."""
        record = self.get_record(client_id)
        detected = record.report_relapse(reported_by=reported_by, stability=stability, risk_level=risk_level,
                                         now=self.clock.now())
        if detected:
            self.save(record)
        return record, detected

    # --- queries ----------------------------------------------------------------------------------

    def get_record(self, client_id: UUID) -> ClientRecord:
        try:
            record = self.repository.get(client_id)
        except AggregateNotFoundError:
            raise NotFound("client", client_id) from None
        if not isinstance(record, ClientRecord):  # an id of another aggregate (an agenda)
            raise NotFound("client", client_id)
        return record

    def records_in(self, district_code: str) -> list[ClientRecord]:
        """The records of a district's clients in the programme (not exited), in arrival order."""
        if Caseload.id_for(district_code) not in self.repository:
            return []
        return [self.get_record(c) for c in self.repository.get(Caseload.id_for(district_code)).clients]

    def _caseload(self, district_code: str) -> Caseload:
        caseload_id = Caseload.id_for(district_code)
        return self.repository.get(caseload_id) if caseload_id in self.repository else Caseload(district_code)

    # --- deadlines --------------------------------------------------------------------------------

    def run_deadlines(self) -> int:
        """The worker's timer: report everything due up to today (see shared.deadlines)."""
        with command_context(actor="assessment-deadlines", role="system"):
            return self.run_due(self.on_due)

    def on_due(self, kind: str, client_id: UUID, day: date) -> list[Any]:
        """One agenda entry fell due. Idempotent: the record knows what it already reported
        and what has since made the deadline moot (a plan, a newer assessment, an exit)."""
        report = REPORTERS.get(kind)
        if report is None:
            log.warning("unknown deadline kind %r on the agenda of %s", kind, day)
            return []
        try:
            record = self.get_record(client_id)
        except NotFound:
            return []
        if not report(record, self.clock.today()):
            return []
        if kind == CONTACT_DUE:  # follow-up contacts repeat at the client's cadence
            return [record, *self.schedule_all([(CONTACT_DUE, client_id, record.contact_due_on)])]
        return [record]


def create_application(settings: ServiceSettings, clock: Clock | None = None) -> Assessments:
    return Assessments(env=store_env(settings), clock=clock or SystemClock(settings.clock_file),
                       rules=rules_from(settings))
