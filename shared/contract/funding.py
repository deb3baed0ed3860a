"""Public events of funding (topic jingkang.funding.v1); keyed by contract id."""
from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from shared.contract.base import DistrictCode, Money, PublicEvent

FundingSourceName = Literal["city_finance", "district_finance", "welfare_lottery"]


class FundingShare(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: FundingSourceName
    amount: Money


class PurchaseContractSigned(PublicEvent):
    SERVICE = "funding"
    NAME = "PurchaseContractSigned"
    SUBJECT = "contract_id"
    contract_id: UUID
    station_id: UUID
    district_code: DistrictCode
    period_start: date
    period_end: date
    budget: Money
    funding_sources: list[FundingShare]
    unit_prices: dict[str, Money]


class PurchaseContractPaid(PublicEvent):
    SERVICE = "funding"
    NAME = "PurchaseContractPaid"
    SUBJECT = "contract_id"
    contract_id: UUID
    payment_id: UUID
    amount: Money
    period: str
    paid_total: Money
    remaining: Money
