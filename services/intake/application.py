"""The intake Application: commands and queries over applications and clients.
Every command is get -> call -> save; no HTTP, no Kafka here."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from services.intake.domain import Application, Client
from shared.clock import Clock, SystemClock
from shared.errors import NotFound
from shared.settings import ServiceSettings, store_env
from shared.store import ServiceApplication


class Intake(ServiceApplication):
    name = "intake"

    def submit_application(self, *, source: str, applicant: dict[str, Any], district_code: str, street_code: str,
                           hardship_categories: list[str]) -> UUID:
        application = Application.submit(
            source=source, applicant=applicant, district_code=district_code, street_code=street_code,
            hardship_categories=hardship_categories, today=self.clock.today(),
        )
        self.save(application)
        return application.id

    def record_consent(self, application_id: UUID, *, signed_by: str, scope: dict[str, bool]) -> None:
        application = self.get_application(application_id)
        application.record_consent(signed_by=signed_by, scope=scope, today=self.clock.today())
        self.save(application)

    def register_client(self, application_id: UUID) -> UUID:
        application = self.get_application(application_id)
        client = application.register(today=self.clock.today())
        self.save(application, client)
        return client.id

    def withdraw_consent(self, client_id: UUID, *, scopes: list[str]) -> Client:
        client = self.get_client(client_id)
        client.withdraw_consent(scopes=scopes, today=self.clock.today())
        self.save(client)
        return client

    def relocate_client(self, client_id: UUID, *, district_code: str, street_code: str) -> Client:
        client = self.get_client(client_id)
        client.relocate(district_code=district_code, street_code=street_code, today=self.clock.today())
        self.save(client)
        return client

    def exit_client(self, client_id: UUID, *, reason: str) -> Client:
        client = self.get_client(client_id)
        client.leave(reason=reason, today=self.clock.today())
        self.save(client)
        return client

    def get_application(self, application_id: UUID) -> Application:
        try:
            application = self.repository.get(application_id)
        except AggregateNotFoundError:
            raise NotFound("application", application_id) from None
        if not isinstance(application, Application):
            raise NotFound("application", application_id)
        return application

    def get_client(self, client_id: UUID) -> Client:
        try:
            client = self.repository.get(client_id)
        except AggregateNotFoundError:
            raise NotFound("client", client_id) from None
        if not isinstance(client, Client):
            raise NotFound("client", client_id)
        return client


def create_application(settings: ServiceSettings, clock: Clock | None = None) -> Intake:
    return Intake(env=store_env(settings), clock=clock or SystemClock(settings.clock_file))
