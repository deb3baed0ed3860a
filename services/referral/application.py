"""The referral Application: opening and answering referrals. Every command is
get -> call -> save; no HTTP, no Kafka here."""
from __future__ import annotations

from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from services.referral.domain import ClientReferrals, Referral
from shared.clock import Clock, SystemClock
from shared.errors import NotFound
from shared.settings import ServiceSettings, store_env
from shared.store import ServiceApplication


class Referrals(ServiceApplication):
    name = "referral"

    def request_referral(self, *, client_id: UUID, kind: str, reason: str, cause_event_id: str | None = None) -> UUID | None:
        """Open a referral (None if this cause already opened one: events can repeat)."""
        index = self._index(client_id)
        if cause_event_id and cause_event_id in index.causes:
            return None
        referral = Referral.request(client_id=client_id, kind=kind, reason=reason, now=self.clock.now(),
                                    cause_event_id=cause_event_id)
        index.add(referral.id, cause_event_id)
        self.save(referral, index)
        return referral.id

    def open_medical_referral(self, *, client_id: UUID, cause_event_id: str) -> UUID | None:
        """Green channel: a detected relapse goes to hospital without waiting for anyone."""
        return self.request_referral(client_id=client_id, kind="medical", reason="relapse detected",
                                     cause_event_id=cause_event_id)

    def accept_referral(self, referral_id: UUID) -> Referral:
        return self._answer(referral_id, lambda r: r.accept(at=self.clock.now()))

    def decline_referral(self, referral_id: UUID, reason: str) -> Referral:
        return self._answer(referral_id, lambda r: r.decline(reason=reason, at=self.clock.now()))

    def complete_referral(self, referral_id: UUID) -> Referral:
        return self._answer(referral_id, lambda r: r.complete(at=self.clock.now()))

    def cancel_referral(self, referral_id: UUID, reason: str) -> Referral:
        return self._answer(referral_id, lambda r: r.cancel(reason=reason, at=self.clock.now()))

    def get_referral(self, referral_id: UUID) -> Referral:
        try:
            referral = self.repository.get(referral_id)
        except AggregateNotFoundError:
            raise NotFound("referral", referral_id) from None
        if not isinstance(referral, Referral):
            raise NotFound("referral", referral_id)
        return referral

    def referrals_of(self, client_id: UUID) -> list[Referral]:
        index_id = ClientReferrals.id_for(client_id)
        if index_id not in self.repository:
            return []
        return [self.get_referral(r) for r in self.repository.get(index_id).referral_ids]

    def _answer(self, referral_id: UUID, command) -> Referral:
        referral = self.get_referral(referral_id)
        command(referral)
        self.save(referral)
        return referral

    def _index(self, client_id: UUID) -> ClientReferrals:
        index_id = ClientReferrals.id_for(client_id)
        if index_id in self.repository:
            return self.repository.get(index_id)
        return ClientReferrals(client_id=client_id)


def create_application(settings: ServiceSettings, clock: Clock | None = None) -> Referrals:
    return Referrals(env=store_env(settings), clock=clock or SystemClock(settings.clock_file))
