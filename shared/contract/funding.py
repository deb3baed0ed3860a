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
    # Added after v1 was published, so optional: who buys, the station's district or the
    # city over it (a code ending in 00). Every contract funding publishes names it.
    purchaser_code: DistrictCode | None = None


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
    """A settlement was refused because it would exceed the remaining budget (no settlement
    was created). `period`, `accrued` and `performance_score` say how the refused amount was
    computed: priced accruals of the period times the score."""

    SERVICE = "funding"
    NAME = "BudgetExceededRejected"
    SUBJECT = "contract_id"
    contract_id: UUID
    requested: Money
    remaining: Money
    period: str | None = None
    accrued: Money | None = None
    performance_score: Decimal | None = None


class SubsidyGranted(PublicEvent):
    """One-time construction or operating subsidy for a demonstration station."""

    SERVICE = "funding"
    NAME = "SubsidyGranted"
    SUBJECT = "station_id"
    station_id: UUID
    kind: Literal["construction", "operating"]
    amount: Money
    granted_on: date
    year: int | None = None  # the year an operating subsidy is for; none for the one-time construction subsidy


class LotteryShareBelowMinimum(PublicEvent):
    """Signing this contract left its purchaser's welfare-lottery share of disability
    spending (across all the purchaser's contracts) below the minimum (default 20%).
    Flagged for supervision; the contract stands."""

    SERVICE = "funding"
    NAME = "LotteryShareBelowMinimum"
    SUBJECT = "contract_id"
    contract_id: UUID
    purchaser_code: DistrictCode
    lottery: Money
    spending: Money
    share: Decimal
    minimum: Decimal
