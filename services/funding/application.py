"""The funding Application: commands and queries over purchase contracts.
Every command is get -> call -> save; no HTTP, no Kafka here."""
from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from services.funding.domain import PurchaseContract
from shared.clock import Clock, SystemClock
from shared.errors import NotFound
from shared.settings import ServiceSettings, store_env
from shared.store import ServiceApplication


class Funding(ServiceApplication):
    name = "funding"

    def sign_contract(self, *, station_id: UUID, district_code: str, period_start: date, period_end: date,
                      budget: Any, funding_sources: list[dict[str, Any]], unit_prices: dict[str, Any]) -> UUID:
        contract = PurchaseContract.sign(
            station_id=station_id, district_code=district_code, period_start=period_start, period_end=period_end,
            budget=budget, funding_sources=funding_sources, unit_prices=unit_prices, today=self.clock.today(),
        )
        self.save(contract)
        return contract.id

    def pay_contract(self, contract_id: UUID, *, amount: Any, period: str) -> dict[str, Any]:
        """Pay against the contract; refused (and nothing saved) beyond the remaining budget."""
        contract = self.get_contract(contract_id)
        payment = contract.pay(amount, period, today=self.clock.today())
        self.save(contract)
        return payment

    def get_contract(self, contract_id: UUID) -> PurchaseContract:
        try:
            contract = self.repository.get(contract_id)
        except AggregateNotFoundError:
            raise NotFound("contract", contract_id) from None
        if not isinstance(contract, PurchaseContract):
            raise NotFound("contract", contract_id)
        return contract


def create_application(settings: ServiceSettings, clock: Clock | None = None) -> Funding:
    return Funding(env=store_env(settings), clock=clock or SystemClock(settings.clock_file))
