"""The funding Application: purchase contracts, the sessions that accrue against them,
settlements and payments, subsidies for demonstration stations. Every command is
get -> call -> save, with one save (so the aggregates it changed and, in a consumer, the
Kafka position are stored together); no HTTP, no Kafka here."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID


from services.funding.domain import LOTTERY_MINIMUM, BudgetExceeded, PurchaseContract, PurchaserPlan, StationFunding
from shared.clock import Clock, SystemClock
from shared.settings import ServiceSettings, SettingsError, store_env
from shared.store import ServiceApplication


class Funding(ServiceApplication):
    name = "funding"
    # A contract gains an event per session delivered, a station per unfunded one: snapshots
    # keep loading them cheap as the year goes on.
    snapshotting_intervals = {PurchaseContract: 100, StationFunding: 100}

    def __init__(self, env: dict[str, str] | None = None, clock: Clock | None = None,
                 lottery_minimum: Decimal = LOTTERY_MINIMUM):
        self.lottery_minimum = lottery_minimum
        super().__init__(env=env, clock=clock)

    # -- contracts ---------------------------------------------------------------------------

    def sign_contract(self, *, station_id: UUID, district_code: str, period_start: date, period_end: date,
                      budget: Any, funding_sources: list[dict[str, Any]], unit_prices: dict[str, Any],
                      purchaser_code: str | None = None) -> UUID:
        """Sign, count it in the purchaser's plan and, if that leaves the purchaser's
        welfare-lottery share below the minimum, flag it (the contract stands)."""
        contract = PurchaseContract.sign(
            station_id=station_id, district_code=district_code, period_start=period_start, period_end=period_end,
            budget=budget, funding_sources=funding_sources, unit_prices=unit_prices, today=self.clock.today(),
            purchaser_code=purchaser_code,
        )
        station = self._station(station_id)
        station.add_contract(contract_id=contract.id, district_code=district_code, period_start=period_start,
                             period_end=period_end)
        plan = self._plan(contract.purchaser_code)
        plan.count(contract_id=contract.id, funding_sources=contract.funding_sources)
        if plan.below(self.lottery_minimum):
            contract.flag_lottery_share(lottery=plan.lottery, spending=plan.spending, minimum=self.lottery_minimum)
        self.save(contract, station, plan)
        return contract.id

    def pay_contract(self, contract_id: UUID, *, amount: Any, period: str) -> dict[str, Any]:
        """A direct payment; refused (and nothing saved) beyond the remaining budget."""
        contract = self.get_contract(contract_id)
        payment = contract.pay(amount, period, today=self.clock.today())
        self.save(contract)
        return payment

    def get_contract(self, contract_id: UUID) -> PurchaseContract:
        return self.get_aggregate(contract_id, PurchaseContract, "contract")

    # -- accrual (assessment's ServiceSessionDelivered) ----------------------------------------

    def accrue_session(self, *, session_id: UUID, station_id: UUID, service_type: str, session_date: date,
                       attendance: str) -> str:
        """An attended session accrues to the station's contract for its date at the unit
        price of its type; without one it is recorded as unfunded. A session seen before
        (however it comes back) changes nothing. -> accrued | unfunded | duplicate | no_show."""
        if attendance != "attended":
            return "no_show"
        station = self._station(station_id)
        if station.is_unfunded(session_id):
            return "duplicate"
        contract_id = station.contract_on(session_date)
        contract = self.get_contract(contract_id) if contract_id else None
        if contract is not None and contract.has_accrued(session_id):
            return "duplicate"
        if contract is not None and contract.prices(service_type):
            contract.accrue(session_id=session_id, service_type=service_type, session_date=session_date)
            self.save(contract)
            return "accrued"
        station.record_unfunded(session_id=session_id, service_type=service_type, session_date=session_date,
                                contract_id=contract_id)
        self.save(station)
        return "unfunded"

    # -- settlements -------------------------------------------------------------------------

    def prepare_settlement(self, contract_id: UUID, *, period: str, performance_score: Any, reasons: Any,
                           prepared_by: str) -> dict[str, Any]:
        """Settle an ended period. Over the remaining budget the settlement is not created,
        but the refusal is a fact and is kept (BudgetExceededRejected) before the 422."""
        contract = self.get_contract(contract_id)
        try:
            settlement_id = contract.prepare_settlement(period=period, performance_score=performance_score,
                                                        reasons=reasons, prepared_by=prepared_by,
                                                        today=self.clock.today())
        except BudgetExceeded:
            self.save(contract)  # holds only the BudgetExceeded event
            raise
        self.save(contract)
        return contract.settlement(settlement_id)

    def approve_settlement(self, contract_id: UUID, settlement_id: UUID, *, approved_by: str) -> dict[str, Any]:
        contract = self.get_contract(contract_id)
        contract.approve_settlement(settlement_id, approved_by=approved_by, today=self.clock.today())
        self.save(contract)
        return contract.settlement(settlement_id)

    def decline_settlement(self, contract_id: UUID, settlement_id: UUID, *, declined_by: str) -> dict[str, Any]:
        contract = self.get_contract(contract_id)
        contract.decline_settlement(settlement_id, declined_by=declined_by, today=self.clock.today())
        self.save(contract)
        return contract.settlement(settlement_id)

    def pay_settlement(self, contract_id: UUID, settlement_id: UUID) -> dict[str, Any]:
        contract = self.get_contract(contract_id)
        payment = contract.pay_settlement(settlement_id, today=self.clock.today())
        self.save(contract)
        return payment

    # -- stations (referral's StationRegistered) and subsidies ---------------------------------

    def learn_station(self, *, station_id: UUID, tier: str, district_code: str) -> None:
        station = self._station(station_id)
        if station.learn(tier=tier, district_code=district_code):
            self.save(station)

    def grant_subsidy(self, station_id: UUID, *, kind: str, amount: Any, year: int | None = None) -> dict[str, Any]:
        station = self.get_station(station_id)
        subsidy = station.grant_subsidy(kind=kind, amount=amount, year=year, today=self.clock.today())
        self.save(station)
        return subsidy

    def get_station(self, station_id: UUID) -> StationFunding:
        """A station funding has heard of (registered, contracted, or had sessions)."""
        return self.get_aggregate(StationFunding.id_for(station_id), StationFunding, "station", shown_id=station_id)

    def unfunded_sessions(self, station_id: UUID) -> list[dict[str, Any]]:
        """Oldest session first."""
        return sorted(self.get_station(station_id).unfunded.values(), key=lambda s: s["session_date"])

    # -- purchasers ----------------------------------------------------------------------------

    def get_purchaser(self, purchaser_code: str) -> PurchaserPlan:
        return self.get_aggregate(PurchaserPlan.id_for(purchaser_code), PurchaserPlan, "purchaser", shown_id=purchaser_code)

    def contracts_of(self, purchaser_code: str) -> list[PurchaseContract]:
        """The purchaser's contracts, in signing order (none for a purchaser that signed none)."""
        return [self.get_contract(c) for c in self._plan(purchaser_code).contract_ids]

    # -- helpers -------------------------------------------------------------------------------

    def _station(self, station_id: UUID) -> StationFunding:
        index_id = StationFunding.id_for(station_id)
        if index_id in self.repository:
            return self.repository.get(index_id)
        return StationFunding(station_id=station_id)

    def _plan(self, purchaser_code: str) -> PurchaserPlan:
        plan_id = PurchaserPlan.id_for(purchaser_code)
        if plan_id in self.repository:
            return self.repository.get(plan_id)
        return PurchaserPlan(purchaser_code=purchaser_code)


def lottery_minimum(settings: ServiceSettings) -> Decimal:
    """JINGKANG_FUNDING_LOTTERY_MINIMUM (a fraction, default 0.20): configurable per city."""
    raw = settings.extra.get("LOTTERY_MINIMUM")
    if not raw:
        return LOTTERY_MINIMUM
    try:
        value = Decimal(raw)
    except ArithmeticError:
        raise SettingsError("JINGKANG_FUNDING_LOTTERY_MINIMUM must be a fraction like 0.20") from None
    if not value.is_finite() or not Decimal(0) < value <= Decimal(1):
        raise SettingsError("JINGKANG_FUNDING_LOTTERY_MINIMUM must be above 0 and at most 1")
    return value


def create_application(settings: ServiceSettings, clock: Clock | None = None) -> Funding:
    return Funding(env=store_env(settings), clock=clock or SystemClock(settings.clock_file),
                   lottery_minimum=lottery_minimum(settings))

