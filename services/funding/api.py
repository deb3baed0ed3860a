"""funding's HTTP API (FastAPI). Request models validate shape; domain rules raise
domain errors that shared.api turns into 422/404/409. Money is read as Decimal (a JSON
string like "120000.00" or a number with at most two decimals) and written as a string.

Who may call each route is the ACCESS table below (shared/auth.py enforces it, deny by
default); every route also checks the district of the contract, station or purchaser it
concerns. Who acts is the token's holder (`sub`): the second-person rule compares the one
who prepared a settlement with the one who approves it."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Depends, FastAPI, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.funding.application import Funding, create_application
from services.funding.domain import PurchaseContract, PurchaserPlan, StationFunding
from services.funding.contracts import to_public
from shared.audit import install_audit
from shared.api import broker_reachable, create_service_api
from shared.outbox import relay_check
from shared.auth import ANONYMOUS, authority_for, check_district, principal_of
from shared.contract.base import Money
from shared.errors import InvalidInput
from shared.settings import ServiceSettings

# Who may call each route (roles of shared/auth.py). Money is committed by funding officers
# only: signing, paying, approving, declining and subsidies. The district admin registers the
# stations and their capacity (referral); keeping the purchase money from that role keeps
# choosing a provider apart from paying it. A district admin may *prepare* a settlement: its
# performance score comes from the purchaser's supervision assessment of the station, which
# the district's staff run, and a prepared settlement only holds budget — nothing is paid
# until a funding officer, necessarily another person, approves it. District admins and
# auditors read; stations, hospitals and integrations have no part here (integrations get
# the public events).
# District scope: commands on a contract are the purchaser's (its purchaser_code must be in
# the token's districts); a contract is also read by those of the station's district. A
# city purchaser (110000, 320100) is reached by a city-wide token (["*"]) or one naming the
# city's code (which covers the city's counties too): a district's token never reaches the
# city's money, only reads what the city buys in that district.
OFFICERS = ("funding_officer",)
READERS = ("funding_officer", "district_admin", "auditor")
ACCESS: dict[str, tuple[str, ...]] = {
    "POST /v1/contracts": OFFICERS,
    "GET /v1/contracts": READERS,
    "GET /v1/contracts/{contract_id}": READERS,
    "POST /v1/contracts/{contract_id}/payments": OFFICERS,
    "POST /v1/contracts/{contract_id}/settlements": ("funding_officer", "district_admin"),
    "POST /v1/contracts/{contract_id}/settlements/{settlement_id}/approval": OFFICERS,
    "POST /v1/contracts/{contract_id}/settlements/{settlement_id}/decline": OFFICERS,
    "POST /v1/contracts/{contract_id}/settlements/{settlement_id}/payment": OFFICERS,
    "GET /v1/stations/{station_id}": READERS,
    "GET /v1/stations/{station_id}/unfunded-sessions": READERS,
    "POST /v1/stations/{station_id}/subsidies": OFFICERS,
    "GET /v1/purchasers/{purchaser_code}": READERS,
}

DISTRICT = Field(pattern=r"^[0-9]{6}$", description="GB/T 2260 county-level code, e.g. 110105")
PERIOD = Field(pattern=r"^[0-9]{4}-(Q[1-4]|0[1-9]|1[0-2])$", description="a quarter (2026-Q1) or a month (2026-03)")
# max_digits keeps absurd values (1E+99) out before any arithmetic.
MoneyIn = Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=2, description="yuan, at most two decimals",
                                   examples=["120000.00"])]


# Bounds that keep the largest contract's event far under the size budget (README "Size budget").
MAX_UNIT_PRICES = 64  # thirteen service types are known; room for local ones
MAX_FUNDING_SHARES = 3  # each source once
ServiceTypeIn = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", max_length=64,
                                     description="snake_case service type, e.g. medication_training")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FundingShareIn(Strict):
    source: Literal["city_finance", "district_finance", "welfare_lottery"]
    amount: MoneyIn


class ContractIn(Strict):
    station_id: UUID
    district_code: str = DISTRICT
    purchaser_code: str | None = Field(
        default=None, pattern=r"^[0-9]{6}$",
        description="who buys: the district (default) or the city over it, e.g. 110000 or 320100")
    period_start: date
    period_end: date
    budget: MoneyIn
    funding_sources: list[FundingShareIn] = Field(min_length=1, max_length=MAX_FUNDING_SHARES,
                                                  description="must sum to the budget")
    unit_prices: dict[ServiceTypeIn, MoneyIn] = Field(max_length=MAX_UNIT_PRICES,
                                                     description="price per session by service type")


class PaymentIn(Strict):
    amount: MoneyIn
    period: str = PERIOD


class SettlementIn(Strict):
    period: str = PERIOD
    performance_score: Decimal = Field(ge=0, le=1, max_digits=5, decimal_places=4,
                                       description="from the purchaser's supervision assessment, 0 to 1",
                                       examples=["0.92"])
    reasons: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        min_length=1, max_length=20, description="why the score: kept inside funding, never published")


class SubsidyIn(Strict):
    kind: Literal["construction", "operating"]
    amount: MoneyIn
    year: int | None = Field(default=None, description="operating subsidies: the year it is for; "
                                                       "construction: none (it is one-time)")


class ContractCreated(BaseModel):
    contract_id: UUID


class PaymentMade(BaseModel):
    payment_id: UUID
    amount: Money
    paid_total: Money
    remaining: Money


class SettlementPaymentMade(PaymentMade):
    settlement_id: UUID


class FundingShareOut(BaseModel):
    source: str
    amount: Money


class PaymentOut(BaseModel):
    payment_id: UUID
    amount: Money
    period: str
    paid_on: date
    settlement_id: UUID | None = Field(description="the settlement paid; none for a direct payment")


class SettlementOut(BaseModel):
    settlement_id: UUID
    period: str
    accrued: Money = Field(description="priced sessions accrued in the period")
    performance_score: Decimal
    amount: Money = Field(description="accrued × score, rounded half up to the cent")
    reasons: list[str]
    status: Literal["pending", "approved", "declined", "paid"]
    prepared_by: str
    prepared_on: date
    approved_by: str | None
    approved_on: date | None
    declined_by: str | None
    payment_id: UUID | None

    @classmethod
    def of(cls, s: dict[str, Any]) -> "SettlementOut":
        return cls(reasons=s["notes"], **{k: v for k, v in s.items() if k in cls.model_fields})


class LotteryShareOut(BaseModel):
    purchaser_code: str
    lottery: Money
    spending: Money
    share: Decimal
    minimum: Decimal


class BudgetRejectionOut(BaseModel):
    period: str
    accrued: Money
    performance_score: Decimal
    requested: Money
    remaining: Money
    refused_on: date


class ContractOut(BaseModel):
    contract_id: UUID
    station_id: UUID
    district_code: str
    purchaser_code: str
    purchaser_level: Literal["district", "city"]
    period_start: date
    period_end: date
    budget: Money
    accrued: Money = Field(description="every session priced against the contract")
    settled: Money = Field(description="approved settlements, paid or not")
    awaiting_approval: Money = Field(description="prepared settlements; they already hold their share of the budget")
    paid: Money = Field(description="every payment: settlements paid and direct payments")
    remaining: Money = Field(description="budget − direct payments − settlements prepared, approved or paid")
    sessions_accrued: int
    funding_sources: list[FundingShareOut]
    unit_prices: dict[str, Money]
    lottery_share_below_minimum: LotteryShareOut | None = Field(
        description="set when signing left the purchaser's welfare-lottery share below the minimum")
    settlements: list[SettlementOut]
    payments: list[PaymentOut]
    budget_rejections: list[BudgetRejectionOut] = Field(description="settlements refused as over the budget")

    @classmethod
    def of(cls, c: PurchaseContract) -> "ContractOut":
        return cls(contract_id=c.id, station_id=c.station_id, district_code=c.district_code,
                   purchaser_code=c.purchaser_code, purchaser_level=c.purchaser_level, period_start=c.period_start,
                   period_end=c.period_end, budget=c.budget, accrued=c.accrued, settled=c.settled,
                   awaiting_approval=c.awaiting_approval, paid=c.paid_total, remaining=c.remaining,
                   sessions_accrued=len(c.accruals), funding_sources=c.funding_sources, unit_prices=c.unit_prices,
                   lottery_share_below_minimum=c.lottery_share,
                   settlements=[SettlementOut.of(s) for s in c.settlements.values()],
                   payments=c.payments, budget_rejections=c.budget_rejections)


class ContractList(BaseModel):
    purchaser_code: str
    contracts: list[ContractOut]


class UnfundedSessionOut(BaseModel):
    session_id: UUID
    service_type: str
    session_date: date
    reason: Literal["no_contract", "no_unit_price"]
    contract_id: UUID | None = Field(description="the contract of that day, when it has no price for the type")


class UnfundedSessions(BaseModel):
    station_id: UUID
    sessions: list[UnfundedSessionOut]


class StationContractOut(BaseModel):
    contract_id: UUID
    period_start: date
    period_end: date


class SubsidyOut(BaseModel):
    subsidy_id: UUID
    kind: str
    amount: Money
    year: int | None
    granted_on: date


class SubsidyGrantedOut(SubsidyOut):
    station_id: UUID


class StationOut(BaseModel):
    station_id: UUID
    tier: str | None = Field(description="from referral's StationRegistered; none until funding learns it")
    district_code: str | None
    contracts: list[StationContractOut]
    unfunded_sessions: int
    subsidies: list[SubsidyOut]

    @classmethod
    def of(cls, s: StationFunding) -> "StationOut":
        return cls(station_id=s.station_id, tier=s.tier, district_code=s.district_code, contracts=s.contracts,
                   unfunded_sessions=len(s.unfunded), subsidies=s.subsidies)


class PurchaserOut(BaseModel):
    purchaser_code: str
    contracts: int
    spending: Money = Field(description="the budgets of all the purchaser's contracts")
    by_source: dict[str, Money]
    lottery_share: Decimal = Field(description="welfare lottery ÷ spending, rounded down to four places")
    minimum: Decimal
    below_minimum: bool

    @classmethod
    def of(cls, p: PurchaserPlan, minimum: Decimal) -> "PurchaserOut":
        return cls(purchaser_code=p.purchaser_code, contracts=len(p.contract_ids), spending=p.spending,
                   by_source=p.by_source, lottery_share=p.share, minimum=minimum, below_minimum=p.below(minimum))


def acting(request: Request, x_jingkang_actor: str | None = Header(
        default=None, description="who acts, when authorisation is off (development without a key); "
                                  "with a bearer token, its holder acts and this header is ignored")) -> str:
    """Who acts, as recorded in the events: the token's holder; without authorisation, the
    header (cut to the same length)."""
    principal = principal_of(request)
    if principal is not ANONYMOUS:
        return principal.actor
    if not x_jingkang_actor or not x_jingkang_actor.strip():
        raise InvalidInput("X-Jingkang-Actor",
                           "name who acts: a settlement is prepared and approved by two named people")
    return x_jingkang_actor[:64]


def create_app(settings: ServiceSettings, funding: Funding | None = None) -> FastAPI:
    funding = funding or create_application(settings)
    api = create_service_api(
        "Jingkang funding",
        "Government purchase-of-service contracts: sessions accrued, settlements approved by a second person, "
        "payments against the budget, subsidies for demonstration stations.",
        checks={"event_store": funding.ping, "kafka": lambda: broker_reachable(settings.kafka_bootstrap),
                "relay": relay_check(funding)},
        authority=authority_for(settings), access=ACCESS, max_request_bytes=settings.max_request_bytes,
    )
    install_audit(api, settings, funding, to_public)

    def get_funding() -> Funding:
        return funding

    def purchasers_contract(request: Request, contract_id: UUID) -> PurchaseContract:
        """The contract, if the caller acts for its purchaser (403 otherwise)."""
        contract = funding.get_contract(contract_id)
        check_district(principal_of(request), contract.purchaser_code)
        return contract

    def readable_contract(request: Request, contract_id: UUID) -> PurchaseContract:
        """The contract, if the caller acts for its purchaser or for the station's district."""
        contract = funding.get_contract(contract_id)
        if not principal_of(request).covers(contract.district_code):
            check_district(principal_of(request), contract.purchaser_code)
        return contract

    def station_in_district(request: Request, station_id: UUID) -> StationFunding:
        station = funding.get_station(station_id)
        check_district(principal_of(request), station.district_code,
                       unknown="the station's district is not known to funding yet")
        return station

    @api.post("/v1/contracts", status_code=201, response_model=ContractCreated, tags=["contracts"])
    def sign_contract(body: ContractIn, request: Request, funding: Funding = Depends(get_funding)):
        """Sign a purchase contract; its funding sources must sum to the budget, and a station's
        contract periods must not overlap (409). A purchaser whose welfare-lottery share falls
        below the minimum is flagged, not refused."""
        check_district(principal_of(request), body.purchaser_code or body.district_code)
        contract_id = funding.sign_contract(
            station_id=body.station_id, district_code=body.district_code, period_start=body.period_start,
            period_end=body.period_end, budget=body.budget,
            funding_sources=[share.model_dump() for share in body.funding_sources], unit_prices=dict(body.unit_prices),
            purchaser_code=body.purchaser_code,
        )
        return {"contract_id": contract_id}

    @api.post("/v1/contracts/{contract_id}/payments", status_code=201, response_model=PaymentMade, tags=["contracts"])
    def pay_contract(contract_id: UUID, body: PaymentIn, request: Request, funding: Funding = Depends(get_funding)):
        """A direct payment; beyond the remaining budget it is refused (422, field `amount`)."""
        purchasers_contract(request, contract_id)
        return funding.pay_contract(contract_id, amount=body.amount, period=body.period)

    @api.get("/v1/contracts", response_model=ContractList, tags=["contracts"])
    def list_contracts(request: Request, purchaser: str = Query(pattern=r"^[0-9]{6}$", description="who buys"),
                       funding: Funding = Depends(get_funding)):
        """A purchaser's contracts with budget, accrued, settled, paid and remaining, in signing order."""
        check_district(principal_of(request), purchaser)
        return ContractList(purchaser_code=purchaser, contracts=[ContractOut.of(c) for c in funding.contracts_of(purchaser)])

    @api.get("/v1/contracts/{contract_id}", response_model=ContractOut, tags=["contracts"])
    def get_contract(contract_id: UUID, request: Request):
        """Budget, accrued, settled, paid and remaining, and how they came about."""
        return ContractOut.of(readable_contract(request, contract_id))

    @api.post("/v1/contracts/{contract_id}/settlements", status_code=201, response_model=SettlementOut,
              tags=["settlements"])
    def prepare_settlement(contract_id: UUID, body: SettlementIn, request: Request, actor: str = Depends(acting),
                           funding: Funding = Depends(get_funding)):
        """Settle an ended period: its priced accruals × the performance score. Over the
        remaining budget: 422 (field `amount`), no settlement, and BudgetExceededRejected is
        recorded with the figures."""
        purchasers_contract(request, contract_id)
        return SettlementOut.of(funding.prepare_settlement(
            contract_id, period=body.period, performance_score=body.performance_score, reasons=body.reasons,
            prepared_by=actor))

    @api.post("/v1/contracts/{contract_id}/settlements/{settlement_id}/approval", response_model=SettlementOut,
              tags=["settlements"])
    def approve_settlement(contract_id: UUID, settlement_id: UUID, request: Request, actor: str = Depends(acting),
                           funding: Funding = Depends(get_funding)):
        """By a second person: the one who prepared it may not (409)."""
        purchasers_contract(request, contract_id)
        return SettlementOut.of(funding.approve_settlement(contract_id, settlement_id, approved_by=actor))

    @api.post("/v1/contracts/{contract_id}/settlements/{settlement_id}/decline", response_model=SettlementOut,
              tags=["settlements"])
    def decline_settlement(contract_id: UUID, settlement_id: UUID, request: Request, actor: str = Depends(acting),
                           funding: Funding = Depends(get_funding)):
        """A settlement awaiting approval found wrong: its budget is freed and the period may be settled again."""
        purchasers_contract(request, contract_id)
        return SettlementOut.of(funding.decline_settlement(contract_id, settlement_id, declined_by=actor))

    @api.post("/v1/contracts/{contract_id}/settlements/{settlement_id}/payment", status_code=201,
              response_model=SettlementPaymentMade, tags=["settlements"])
    def pay_settlement(contract_id: UUID, settlement_id: UUID, request: Request,
                       funding: Funding = Depends(get_funding)):
        """Pay an approved settlement (409 otherwise): PurchaseContractPaid."""
        purchasers_contract(request, contract_id)
        return funding.pay_settlement(contract_id, settlement_id)

    @api.get("/v1/stations/{station_id}", response_model=StationOut, tags=["stations"])
    def get_station(station_id: UUID, request: Request):
        """The station as funding knows it: tier, contracts, subsidies."""
        return StationOut.of(station_in_district(request, station_id))

    @api.get("/v1/stations/{station_id}/unfunded-sessions", response_model=UnfundedSessions, tags=["stations"])
    def unfunded_sessions(station_id: UUID, request: Request, funding: Funding = Depends(get_funding)):
        """Attended sessions no contract pays for (none that day, or no price for the type), oldest first."""
        station_in_district(request, station_id)
        return UnfundedSessions(station_id=station_id, sessions=funding.unfunded_sessions(station_id))

    @api.post("/v1/stations/{station_id}/subsidies", status_code=201, response_model=SubsidyGrantedOut,
              tags=["stations"])
    def grant_subsidy(station_id: UUID, body: SubsidyIn, request: Request, funding: Funding = Depends(get_funding)):
        """Demonstration sites only (409 otherwise); construction once per station, operating
        once per station and year (409 a second time)."""
        station_in_district(request, station_id)
        subsidy = funding.grant_subsidy(station_id, kind=body.kind, amount=body.amount, year=body.year)
        return SubsidyGrantedOut(station_id=station_id, **subsidy)

    @api.get("/v1/purchasers/{purchaser_code}", response_model=PurchaserOut, tags=["purchasers"])
    def get_purchaser(purchaser_code: str, request: Request, funding: Funding = Depends(get_funding)):
        """The purchaser's spending across its contracts and its welfare-lottery share."""
        check_district(principal_of(request), purchaser_code)
        return PurchaserOut.of(funding.get_purchaser(purchaser_code), funding.lottery_minimum)

    return api
