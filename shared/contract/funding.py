"""Public events of funding (topic jingkang.funding.v1); keyed by contract id."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
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


class SessionAccrued(PublicEvent):
    """A delivered session was priced against the station's active contract."""

    SERVICE = "funding"
    NAME = "SessionAccrued"
    SUBJECT = "contract_id"
    contract_id: UUID
    session_id: UUID
    service_type: str
    session_date: date
    amount: Money


class SettlementApproved(PublicEvent):
    """A period's accruals, priced and weighted by the performance score, approved by a second person."""

    SERVICE = "funding"
    NAME = "SettlementApproved"
    SUBJECT = "contract_id"
    contract_id: UUID
    settlement_id: UUID
    period: str
    accrued: Money
    performance_score: Decimal
    amount: Money


class BudgetExceededRejected(PublicEvent):
    """A settlement or payment was refused because it would exceed the remaining budget."""

    SERVICE = "funding"
    NAME = "BudgetExceededRejected"
    SUBJECT = "contract_id"
    contract_id: UUID
    requested: Money
    remaining: Money


class SubsidyGranted(PublicEvent):
    """One-time construction or operating subsidy for a demonstration station."""

    SERVICE = "funding"
    NAME = "SubsidyGranted"
    SUBJECT = "station_id"
    station_id: UUID
    kind: Literal["construction", "operating"]
    amount: Money
    granted_on: date
