"""The assessment Application: rehabilitation records, assessments, classification.
Every command is get -> call -> save; no HTTP, no Kafka here."""
from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from services.assessment.domain import ClientRecord
from shared.clock import Clock, SystemClock
from shared.errors import NotFound
from shared.settings import ServiceSettings, store_env
from shared.store import ServiceApplication


class Assessments(ServiceApplication):
    name = "assessment"

    def open_record(self, *, client_id: UUID, district_code: str, street_code: str, registered_on: date) -> bool:
        """Learn a newly registered client (from ClientRegistered). False if already known."""
        if client_id in self.repository:
            return False
        self.save(ClientRecord(client_id=client_id, district_code=district_code, street_code=street_code,
                               registered_on=registered_on))
        return True

    def complete_assessment(self, client_id: UUID, *, kind: str, stability: str, risk_level: int, willing: bool,
                            assessor: str, assessed_on: date | None = None) -> ClientRecord:
        record = self.get_record(client_id)
        record.complete_assessment(kind=kind, stability=stability, risk_level=risk_level, willing=willing,
                                   assessor=assessor, assessed_on=assessed_on or self.clock.today(), now=self.clock.now())
        self.save(record)
        return record

    def get_record(self, client_id: UUID) -> ClientRecord:
        try:
            return self.repository.get(client_id)
        except AggregateNotFoundError:
            raise NotFound("client", client_id) from None

def create_application(settings: ServiceSettings, clock: Clock | None = None) -> Assessments:
    return Assessments(env=store_env(settings), clock=clock or SystemClock(settings.clock_file))
