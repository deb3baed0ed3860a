"""funding's HTTP API (FastAPI). Request models validate shape; domain rules raise
domain errors that shared.api turns into 422/404/409. Money is read as Decimal (a JSON
string like "120000.00" or a number with at most two decimals) and written as a string."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from services.funding.application import Funding, create_application
from shared.api import broker_reachable, create_service_api
from shared.contract.base import Money
from shared.settings import ServiceSettings

DISTRICT = Field(pattern=r"^[0-9]{6}$", description="GB/T 2260 county-level code, e.g. 110105")
# max_digits keeps absurd values (1E+99) out before any arithmetic.
MoneyIn = Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=2, description="yuan, at most two decimals",
                                   examples=["120000.00"])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FundingShareIn(Strict):
    source: Literal["city_finance", "district_finance", "welfare_lottery"]
    amount: MoneyIn


class ContractIn(Strict):
    station_id: UUID
    district_code: str = DISTRICT
    period_start: date
    period_end: date
    budget: MoneyIn
    funding_sources: list[FundingShareIn] = Field(min_length=1, description="must sum to the budget")
    unit_prices: dict[str, MoneyIn] = Field(description="price per session by service type")


class PaymentIn(Strict):
    amount: MoneyIn
    period: str = Field(pattern=r"^[0-9]{4}-(Q[1-4]|0[1-9]|1[0-2])$", description="a quarter (2026-Q1) or a month (2026-03)")


class ContractCreated(BaseModel):
    contract_id: UUID


class PaymentMade(BaseModel):
    payment_id: UUID
    amount: Money
    paid_total: Money
    remaining: Money


class FundingShareOut(BaseModel):
    source: str
    amount: Money


class PaymentOut(BaseModel):
    payment_id: UUID
    amount: Money
    period: str
    paid_on: date


class ContractOut(BaseModel):
    contract_id: UUID
    station_id: UUID
    district_code: str
    period_start: date
    period_end: date
    budget: Money
    paid_total: Money
    remaining: Money
    funding_sources: list[FundingShareOut]
    unit_prices: dict[str, Money]
    payments: list[PaymentOut]


def create_app(settings: ServiceSettings, funding: Funding | None = None) -> FastAPI:
    funding = funding or create_application(settings)
    api = create_service_api(
        "Jingkang funding",
        "Government purchase-of-service contracts and the payments made against their budgets.",
        checks={"event_store": funding.ping, "kafka": lambda: broker_reachable(settings.kafka_bootstrap)},
    )

    def get_funding() -> Funding:
        return funding

    @api.post("/v1/contracts", status_code=201, response_model=ContractCreated, tags=["contracts"])
    def sign_contract(body: ContractIn, funding: Funding = Depends(get_funding)):
        """Sign a purchase contract; its funding sources must sum to the budget."""
        contract_id = funding.sign_contract(
            station_id=body.station_id, district_code=body.district_code, period_start=body.period_start,
            period_end=body.period_end, budget=body.budget,
            funding_sources=[share.model_dump() for share in body.funding_sources], unit_prices=dict(body.unit_prices),
        )
        return {"contract_id": contract_id}

    @api.post("/v1/contracts/{contract_id}/payments", status_code=201, response_model=PaymentMade, tags=["contracts"])
    def pay_contract(contract_id: UUID, body: PaymentIn, funding: Funding = Depends(get_funding)):
        """Pay against the contract; a payment beyond the remaining budget is refused (422, field `amount`)."""
        return funding.pay_contract(contract_id, amount=body.amount, period=body.period)

    @api.get("/v1/contracts/{contract_id}", response_model=ContractOut, tags=["contracts"])
    def get_contract(contract_id: UUID, funding: Funding = Depends(get_funding)):
        c = funding.get_contract(contract_id)
        return ContractOut(contract_id=c.id, station_id=c.station_id, district_code=c.district_code,
                           period_start=c.period_start, period_end=c.period_end, budget=c.budget,
                           paid_total=c.paid_total, remaining=c.remaining,
                           funding_sources=c.funding_sources, unit_prices=c.unit_prices, payments=c.payments)

    return api
