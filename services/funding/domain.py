"""funding's aggregates (pure: no I/O):

- `PurchaseContract` (政府购买服务合同): a purchaser (the station's district, or the city
  over it) buys services from a station operator: period, budget, funding sources, unit
  prices by service type. Delivered sessions accrue against it; a settlement of a period
  prices them and weighs them by the supervision score, is approved by a second person and
  paid; direct payments are still possible. Nothing is ever committed beyond the budget.
- `StationFunding`: one station as funding knows it (an id derived from the station id):
  its tier (from referral's StationRegistered), its contracts by period (which one a
  session accrues to), the sessions no contract pays for, and its subsidies.
- `PurchaserPlan`: one purchaser's contracts and their funding sources, from which the
  welfare-lottery share of its disability spending follows.

Money is Decimal quantized to 0.01 yuan everywhere: a float cannot hold 0.10 exactly,
and three payments of 0.10 must leave exactly 0.30 paid."""
from __future__ import annotations

import calendar
import re
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event

from shared.errors import Conflict, InvalidInput, NotFound

SOURCES = ("city_finance", "district_finance", "welfare_lottery")
LOTTERY = "welfare_lottery"
# The welfare-lottery fund's share of disability spending is at least this (DESIGN.md §4);
# configurable per city (JINGKANG_FUNDING_LOTTERY_MINIMUM).
LOTTERY_MINIMUM = Decimal("0.20")
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
SCORE_PLACES = 4  # a supervision score like 0.925 is kept as entered
SHARE = Decimal("0.0001")
DISTRICT = re.compile(r"^[0-9]{6}$")
SERVICE_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# A payment or settlement covers a quarter ("2026-Q1") or a month ("2026-03").
PERIOD = re.compile(r"^(?P<year>[1-9][0-9]{3})-(?:Q(?P<quarter>[1-4])|(?P<month>0[1-9]|1[0-2]))$")
TIERS = ("ningkang_home", "provincial_demo", "ningkang_post")
# Subsidies go to demonstration sites (省级示范点). A 宁康家园 is a provincial demonstration
# site that also meets the city's higher standard (policy/000: 省级示范点中符合南京市…标准的为
# 宁康家园), so it is one too; a 宁康驿站 is not.
DEMONSTRATION_TIERS = ("provincial_demo", "ningkang_home")
SUBSIDY_KINDS = ("construction", "operating")
REASONS_MAX, REASON_LENGTH = 20, 500


def to_money(value: Any, field: str, *, allow_zero: bool = False) -> Decimal:
    """A positive amount of yuan with at most two decimals, as a Decimal quantized to 0.01."""
    if isinstance(value, (float, bool)):  # a float is already inexact; refuse rather than guess
        raise InvalidInput(field, "must be a decimal amount, not a float")
    try:
        amount = Decimal(value)
        exact = amount.is_finite() and amount == amount.quantize(CENT)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(field, "must be a decimal amount") from None
    if not exact:
        raise InvalidInput(field, "must be a finite amount with at most two decimals")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidInput(field, "must be greater than 0")
    return amount.quantize(CENT)


def to_score(value: Any) -> Decimal:
    """A performance score from 0 to 1 with at most four decimals (0.92, 0.925)."""
    field = "performance_score"
    if isinstance(value, (float, bool)):
        raise InvalidInput(field, "must be a decimal number, not a float")
    try:
        score = Decimal(value)
        finite = score.is_finite()
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(field, "must be a decimal number from 0 to 1") from None
    if not finite or not Decimal(0) <= score <= Decimal(1):
        raise InvalidInput(field, "must be from 0 to 1")
    if score != score.quantize(Decimal(1).scaleb(-SCORE_PLACES)):
        raise InvalidInput(field, f"at most {SCORE_PLACES} decimals")
    return score


def period_dates(period: str) -> tuple[date, date]:
    """First and last day of a period ("2026-Q1" or "2026-03")."""
    m = PERIOD.match(period) if isinstance(period, str) else None
    if not m:
        raise InvalidInput("period", "must be a quarter like 2026-Q1 or a month like 2026-03")
    year = int(m["year"])
    first, last = (3 * int(m["quarter"]) - 2, 3 * int(m["quarter"])) if m["quarter"] else (int(m["month"]),) * 2
    return date(year, first, 1), date(year, last, calendar.monthrange(year, last)[1])


def purchaser_level(purchaser_code: str, district_code: str) -> str:
    """"district" when the station's district buys, "city" when the city over it does (its
    code with the last two digits 00, or the last four for a municipality like 110000)."""
    if not isinstance(purchaser_code, str) or not DISTRICT.match(purchaser_code):
        raise InvalidInput("purchaser_code", "must be a 6-digit GB/T 2260 code")
    if purchaser_code == district_code:
        return "district"
    if purchaser_code in (district_code[:4] + "00", district_code[:2] + "0000"):
        return "city"
    raise InvalidInput("purchaser_code", f"must be the district {district_code} or the city over it "
                                         f"({district_code[:4]}00, or {district_code[:2]}0000 for a municipality)")


def _reasons(reasons: Any) -> list[str]:
    """The supervision assessment's reasons: free text, so it stays inside funding (stored
    under `notes`, which the audit CLI redacts) and never goes on a public event."""
    if not isinstance(reasons, (list, tuple)) or not reasons:
        raise InvalidInput("reasons", "give the reasons for the performance score (at least one)")
    if len(reasons) > REASONS_MAX:
        raise InvalidInput("reasons", f"at most {REASONS_MAX}")
    cleaned = []
    for i, reason in enumerate(reasons):
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput(f"reasons.{i}", "must be a non-blank text")
        if len(reason) > REASON_LENGTH:
            raise InvalidInput(f"reasons.{i}", f"at most {REASON_LENGTH} characters")
        cleaned.append(reason.strip())
    return cleaned


class BudgetExceeded(InvalidInput):
    """A settlement would exceed the remaining budget. Unlike other refusals the refusal
    itself is a fact (BudgetExceededRejected): the contract holds that one event, the
    application saves it and re-raises. No settlement is created."""

    def __init__(self, requested: Decimal, remaining: Decimal):
        super().__init__("amount", f"the settlement of {requested:.2f} exceeds the remaining budget of {remaining:.2f}")
        self.requested = requested
        self.remaining = remaining


class PurchaseContract(Aggregate):
    class Signed(Aggregate.Created):
        """v2 names the purchaser; a contract signed before was bought by its own district."""

        class_version = 2
        station_id: UUID
        district_code: str
        purchaser_code: str
        period_start: date
        period_end: date
        budget: Decimal
        funding_sources: list[dict[str, Any]]
        unit_prices: dict[str, Decimal]
        signed_on: date

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["purchaser_code"] = state["district_code"]

    @event(Signed)
    def __init__(
        self,
        station_id: UUID,
        district_code: str,
        purchaser_code: str,
        period_start: date,
        period_end: date,
        budget: Decimal,
        funding_sources: list[dict[str, Any]],
        unit_prices: dict[str, Decimal],
        signed_on: date,
    ):
        self.station_id = station_id
        self.district_code = district_code
        self.purchaser_code = purchaser_code
        self.period_start = period_start
        self.period_end = period_end
        self.budget = budget
        self.funding_sources = funding_sources
        self.unit_prices = unit_prices
        self.signed_on = signed_on
        self.paid_total = ZERO  # every payment, direct or of a settlement
        self.paid_directly = ZERO
        self.payments: list[dict[str, Any]] = []
        self.accruals: dict[str, dict[str, Any]] = {}  # session id -> service_type, session_date, amount
        self.accrued = ZERO
        self.settlements: dict[str, dict[str, Any]] = {}  # settlement id -> the settlement
        self.lottery_share: dict[str, Any] | None = None  # the flag, if signing left the share too low
        self.budget_rejections: list[dict[str, Any]] = []

    @classmethod
    def sign(cls, *, station_id: UUID, district_code: str, period_start: date, period_end: date, budget: Any,
             funding_sources: list[dict[str, Any]], unit_prices: dict[str, Any], today: date,
             purchaser_code: str | None = None) -> "PurchaseContract":
        if not isinstance(district_code, str) or not DISTRICT.match(district_code):
            raise InvalidInput("district_code", "must be a 6-digit GB/T 2260 code")
        purchaser_code = district_code if purchaser_code is None else purchaser_code
        purchaser_level(purchaser_code, district_code)
        if period_end <= period_start:
            raise InvalidInput("period_end", "must be after period_start")
        budget = to_money(budget, "budget")
        sources = []
        for i, share in enumerate(funding_sources):
            if share.get("source") not in SOURCES:
                raise InvalidInput(f"funding_sources.{i}.source", f"must be one of {', '.join(SOURCES)}")
            if share["source"] in (s["source"] for s in sources):
                raise InvalidInput(f"funding_sources.{i}.source", "is listed twice")
            sources.append({"source": share["source"], "amount": to_money(share.get("amount"), f"funding_sources.{i}.amount")})
        funded = sum((s["amount"] for s in sources), ZERO)
        if funded != budget:
            raise InvalidInput("funding_sources", f"sum to {funded:.2f}, which is not the budget of {budget:.2f}")
        prices = {}
        for service_type, price in unit_prices.items():
            if not SERVICE_TYPE.match(service_type):
                raise InvalidInput("unit_prices", f"service type {service_type!r} must be snake_case")
            prices[service_type] = to_money(price, f"unit_prices.{service_type}")
        return cls(station_id=station_id, district_code=district_code, purchaser_code=purchaser_code,
                   period_start=period_start, period_end=period_end, budget=budget, funding_sources=sources,
                   unit_prices=prices, signed_on=today)

    # -- the figures (all follow from the events) ------------------------------------------

    @property
    def purchaser_level(self) -> str:
        return purchaser_level(self.purchaser_code, self.district_code)

    @property
    def settled(self) -> Decimal:
        """Approved settlements (paid or not)."""
        return self._settlements_total("approved", "paid")

    @property
    def awaiting_approval(self) -> Decimal:
        """Prepared settlements not yet approved: they hold their share of the budget."""
        return self._settlements_total("pending")

    @property
    def committed(self) -> Decimal:
        return self.paid_directly + self._settlements_total("pending", "approved", "paid")

    @property
    def remaining(self) -> Decimal:
        """What is still free for a settlement or a direct payment."""
        return self.budget - self.committed

    def _settlements_total(self, *statuses: str) -> Decimal:
        return sum((s["amount"] for s in self.settlements.values() if s["status"] in statuses), ZERO)

    def covers(self, day: date) -> bool:
        return self.period_start <= day <= self.period_end

    def _check_period(self, period: str) -> tuple[date, date]:
        first, last = period_dates(period)
        if last < self.period_start or first > self.period_end:
            raise InvalidInput("period", f"is outside the contract period {self.period_start} to {self.period_end}")
        return first, last

    # -- the purchaser's lottery share -------------------------------------------------------

    def flag_lottery_share(self, *, lottery: Decimal, spending: Decimal, minimum: Decimal) -> None:
        share = (lottery / spending).quantize(SHARE, ROUND_FLOOR)  # floor: 0.19995 must not read 0.2000
        self._lottery_share_below_minimum(purchaser_code=self.purchaser_code, lottery=lottery, spending=spending,
                                          share=share, minimum=minimum)

    @event("LotteryShareBelowMinimum")
    def _lottery_share_below_minimum(self, purchaser_code: str, lottery: Decimal, spending: Decimal, share: Decimal,
                                     minimum: Decimal) -> None:
        self.lottery_share = {"purchaser_code": purchaser_code, "lottery": lottery, "spending": spending,
                              "share": share, "minimum": minimum}

    # -- direct payments ---------------------------------------------------------------------

    def pay(self, amount: Any, period: str, today: date) -> dict[str, Any]:
        """Pay `amount` for `period`; never beyond the remaining budget. Returns the payment.
        A direct payment over budget is a wrong amount typed in: refused, nothing recorded."""
        amount = to_money(amount, "amount")
        self._check_period(period)
        if amount > self.remaining:
            raise InvalidInput("amount", f"exceeds the remaining budget of {self.remaining:.2f}")
        # The id is made here and stored in the event, so a replay yields the same payment.
        self._paid(payment_id=uuid4(), amount=amount, period=period, paid_on=today,
                   paid_total=self.paid_total + amount, remaining=self.remaining - amount)
        return self.payments[-1]

    @event("Paid")
    def _paid(self, payment_id: UUID, amount: Decimal, period: str, paid_on: date,
              paid_total: Decimal, remaining: Decimal) -> None:
        # Running totals ride in the event so the public PurchaseContractPaid needs no replay.
        self.paid_total = paid_total
        self.paid_directly += amount
        self.payments.append({"payment_id": payment_id, "amount": amount, "period": period, "paid_on": paid_on,
                              "paid_total": paid_total, "remaining": remaining, "settlement_id": None})

    # -- accrual -------------------------------------------------------------------------------

    def has_accrued(self, session_id: UUID) -> bool:
        return str(session_id) in self.accruals

    def prices(self, service_type: str) -> bool:
        return service_type in self.unit_prices

    def accrue(self, *, session_id: UUID, service_type: str, session_date: date) -> bool:
        """Price an attended session at the contract's unit price; False if it already accrued."""
        if self.has_accrued(session_id):
            return False
        if not self.covers(session_date):
            raise Conflict(f"the session on {session_date} is outside the contract period")
        if not self.prices(service_type):
            raise Conflict(f"the contract has no unit price for {service_type}")
        self._accrued(session_id=session_id, service_type=service_type, session_date=session_date,
                      amount=self.unit_prices[service_type])
        return True

    @event("SessionAccrued")
    def _accrued(self, session_id: UUID, service_type: str, session_date: date, amount: Decimal) -> None:
        self.accruals[str(session_id)] = {"service_type": service_type, "session_date": session_date, "amount": amount}
        self.accrued += amount

    def accrued_between(self, first: date, last: date) -> Decimal:
        return sum((a["amount"] for a in self.accruals.values() if first <= a["session_date"] <= last), ZERO)

    # -- settlements -----------------------------------------------------------------------------

    def prepare_settlement(self, *, period: str, performance_score: Any, reasons: Any, prepared_by: str,
                           today: date) -> UUID:
        """Settle a period that has ended: its priced accruals times the supervision score,
        rounded half up to the cent. Over the remaining budget: BudgetExceeded, with the
        refusal recorded (and nothing else)."""
        first, last = self._check_period(period)
        score = to_score(performance_score)
        notes = _reasons(reasons)
        if last >= today:
            raise Conflict(f"{period} ends on {last}: a period is settled after it ends")
        for s in self.settlements.values():
            if s["status"] != "declined" and s["first_day"] <= last and first <= s["last_day"]:
                raise Conflict(f"{period} overlaps the settlement of {s['period']}, which is {s['status']}")
        accrued = self.accrued_between(first, last)
        if accrued == ZERO:
            raise Conflict(f"no priced session accrued in {period}: nothing to settle")
        amount = (accrued * score).quantize(CENT, ROUND_HALF_UP)
        remaining = self.remaining
        if amount > remaining:
            self._budget_exceeded(period=period, accrued=accrued, performance_score=score, requested=amount,
                                  remaining=remaining, refused_on=today)
            raise BudgetExceeded(amount, remaining)
        settlement_id = uuid4()
        self._settlement_prepared(settlement_id=settlement_id, period=period, first_day=first, last_day=last,
                                  accrued=accrued, performance_score=score, amount=amount, notes=notes,
                                  prepared_by=prepared_by, prepared_on=today)
        return settlement_id

    @event("BudgetExceeded")
    def _budget_exceeded(self, period: str, accrued: Decimal, performance_score: Decimal, requested: Decimal,
                         remaining: Decimal, refused_on: date) -> None:
        self.budget_rejections.append({"period": period, "accrued": accrued, "performance_score": performance_score,
                                       "requested": requested, "remaining": remaining, "refused_on": refused_on})

    @event("SettlementPrepared")
    def _settlement_prepared(self, settlement_id: UUID, period: str, first_day: date, last_day: date,
                             accrued: Decimal, performance_score: Decimal, amount: Decimal, notes: list[str],
                             prepared_by: str, prepared_on: date) -> None:
        self.settlements[str(settlement_id)] = {
            "settlement_id": settlement_id, "period": period, "first_day": first_day, "last_day": last_day,
            "accrued": accrued, "performance_score": performance_score, "amount": amount, "notes": notes,
            "status": "pending", "prepared_by": prepared_by, "prepared_on": prepared_on, "approved_by": None,
            "approved_on": None, "declined_by": None, "payment_id": None,
        }

    def settlement(self, settlement_id: UUID) -> dict[str, Any]:
        try:
            return self.settlements[str(settlement_id)]
        except KeyError:
            raise NotFound("settlement", settlement_id) from None

    def approve_settlement(self, settlement_id: UUID, *, approved_by: str, today: date) -> bool:
        """False (nothing new) when the same person approved it already."""
        s = self.settlement(settlement_id)
        if s["status"] == "approved" and s["approved_by"] == approved_by:
            return False
        if s["status"] != "pending":
            raise Conflict(f"the settlement is {s['status']}: only one awaiting approval can be approved")
        if approved_by == s["prepared_by"]:
            raise Conflict("a settlement is approved by a second person, not by the one who prepared it")
        # The figures ride in the event so the public SettlementApproved needs no replay.
        self._settlement_approved(settlement_id=settlement_id, approved_by=approved_by, approved_on=today,
                                  period=s["period"], accrued=s["accrued"], performance_score=s["performance_score"],
                                  amount=s["amount"])
        return True

    @event("SettlementApproved")
    def _settlement_approved(self, settlement_id: UUID, approved_by: str, approved_on: date, period: str,
                             accrued: Decimal, performance_score: Decimal, amount: Decimal) -> None:
        self.settlements[str(settlement_id)].update(status="approved", approved_by=approved_by, approved_on=approved_on)

    def decline_settlement(self, settlement_id: UUID, *, declined_by: str, today: date) -> bool:
        """A prepared settlement found wrong: it frees its share of the budget and its
        period may be settled again. False (nothing new) when the same person declined it already."""
        s = self.settlement(settlement_id)
        if s["status"] == "declined" and s["declined_by"] == declined_by:
            return False
        if s["status"] != "pending":
            raise Conflict(f"the settlement is {s['status']}: only one awaiting approval can be declined")
        self._settlement_declined(settlement_id=settlement_id, declined_by=declined_by, declined_on=today)
        return True

    @event("SettlementDeclined")
    def _settlement_declined(self, settlement_id: UUID, declined_by: str, declined_on: date) -> None:
        self.settlements[str(settlement_id)].update(status="declined", declined_by=declined_by)

    def pay_settlement(self, settlement_id: UUID, *, today: date) -> dict[str, Any]:
        """Pay an approved settlement. Its amount was held against the budget when it was
        prepared, so paying it never goes beyond the budget."""
        s = self.settlement(settlement_id)
        if s["status"] != "approved":
            raise Conflict(f"the settlement is {s['status']}: only an approved settlement is paid")
        if s["amount"] == ZERO:
            raise Conflict("the settlement's amount is 0.00: nothing to pay")
        self._settlement_paid(settlement_id=settlement_id, payment_id=uuid4(), amount=s["amount"], period=s["period"],
                              paid_on=today, paid_total=self.paid_total + s["amount"], remaining=self.remaining)
        return self.payments[-1]

    @event("SettlementPaid")
    def _settlement_paid(self, settlement_id: UUID, payment_id: UUID, amount: Decimal, period: str, paid_on: date,
                         paid_total: Decimal, remaining: Decimal) -> None:
        self.paid_total = paid_total
        self.settlements[str(settlement_id)].update(status="paid", payment_id=payment_id)
        self.payments.append({"payment_id": payment_id, "amount": amount, "period": period, "paid_on": paid_on,
                              "paid_total": paid_total, "remaining": remaining, "settlement_id": settlement_id})


class StationFunding(Aggregate):
    """One station as funding knows it, fetched by an id derived from the station id."""

    @staticmethod
    def id_for(station_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"jingkang:funding:station:{station_id}")

    @staticmethod
    def create_id(station_id: UUID) -> UUID:
        return StationFunding.id_for(station_id)

    @event("Started")
    def __init__(self, station_id: UUID):
        self.station_id = station_id
        self.tier: str | None = None
        self.district_code: str | None = None
        self.contracts: list[dict[str, Any]] = []  # contract_id, period_start, period_end
        self.unfunded: dict[str, dict[str, Any]] = {}  # session id -> the session and why
        self.subsidies: list[dict[str, Any]] = []

    def learn(self, *, tier: str, district_code: str) -> bool:
        """From referral's StationRegistered; False for a repeated message."""
        if (tier, district_code) == (self.tier, self.district_code):
            return False
        self._registered(tier=tier, district_code=district_code)
        return True

    @event("Registered")
    def _registered(self, tier: str, district_code: str) -> None:
        self.tier = tier
        self.district_code = district_code

    # -- contracts ---------------------------------------------------------------------------

    def add_contract(self, *, contract_id: UUID, district_code: str, period_start: date, period_end: date) -> None:
        """One active contract per day, so a session accrues to exactly one."""
        if self.district_code is not None and district_code != self.district_code:
            raise InvalidInput("district_code", f"the station is in district {self.district_code}")
        for c in self.contracts:
            if c["period_start"] <= period_end and period_start <= c["period_end"]:
                raise Conflict(f"the station already has contract {c['contract_id']} from {c['period_start']} "
                               f"to {c['period_end']}; contract periods of a station must not overlap")
        self._contract_added(contract_id=contract_id, period_start=period_start, period_end=period_end)

    @event("ContractAdded")
    def _contract_added(self, contract_id: UUID, period_start: date, period_end: date) -> None:
        self.contracts.append({"contract_id": contract_id, "period_start": period_start, "period_end": period_end})

    def contract_on(self, day: date) -> UUID | None:
        return next((c["contract_id"] for c in self.contracts if c["period_start"] <= day <= c["period_end"]), None)

    # -- sessions no contract pays for ---------------------------------------------------------

    def is_unfunded(self, session_id: UUID) -> bool:
        return str(session_id) in self.unfunded

    def record_unfunded(self, *, session_id: UUID, service_type: str, session_date: date,
                        contract_id: UUID | None) -> bool:
        """Kept, not dropped: no contract on that day, or the contract has no price for the
        service type. False if already recorded."""
        if self.is_unfunded(session_id):
            return False
        reason = "no_contract" if contract_id is None else "no_unit_price"
        self._session_unfunded(session_id=session_id, service_type=service_type, session_date=session_date,
                               reason=reason, contract_id=contract_id)
        return True

    @event("SessionUnfunded")
    def _session_unfunded(self, session_id: UUID, service_type: str, session_date: date, reason: str,
                          contract_id: UUID | None) -> None:
        self.unfunded[str(session_id)] = {"session_id": session_id, "service_type": service_type,
                                          "session_date": session_date, "reason": reason, "contract_id": contract_id}

    # -- subsidies ---------------------------------------------------------------------------

    def grant_subsidy(self, *, kind: str, amount: Any, year: int | None, today: date) -> dict[str, Any]:
        """One-time construction subsidy, and operating subsidies by year, for
        demonstration sites only."""
        if kind not in SUBSIDY_KINDS:
            raise InvalidInput("kind", f"must be one of {', '.join(SUBSIDY_KINDS)}")
        amount = to_money(amount, "amount")
        if kind == "construction" and year is not None:
            raise InvalidInput("year", "the construction subsidy is one-time: it has no year")
        if kind == "operating" and (isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100):
            raise InvalidInput("year", "an operating subsidy is for a year, e.g. 2026")
        if self.tier is None:
            raise Conflict("funding has not learned this station's tier yet (referral's StationRegistered)")
        if self.tier not in DEMONSTRATION_TIERS:
            raise Conflict(f"subsidies are for demonstration sites ({', '.join(DEMONSTRATION_TIERS)}); "
                           f"this station is {self.tier}")
        for s in self.subsidies:
            if s["kind"] == kind and s["year"] == year:
                raise Conflict(f"the station's {kind} subsidy{f' for {year}' if year else ''} was granted on "
                               f"{s['granted_on']}" + ("; it is one-time" if kind == "construction" else ""))
        self._subsidy_granted(subsidy_id=uuid4(), station_id=self.station_id, kind=kind, amount=amount, year=year,
                              granted_on=today)
        return self.subsidies[-1]

    @event("SubsidyGranted")
    def _subsidy_granted(self, subsidy_id: UUID, station_id: UUID, kind: str, amount: Decimal, year: int | None,
                         granted_on: date) -> None:
        self.subsidies.append({"subsidy_id": subsidy_id, "kind": kind, "amount": amount, "year": year,
                               "granted_on": granted_on})


class PurchaserPlan(Aggregate):
    """One purchaser's contracts and what funds them: the welfare-lottery share of its
    disability spending, across all its contracts."""

    @staticmethod
    def id_for(purchaser_code: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"jingkang:funding:purchaser:{purchaser_code}")

    @staticmethod
    def create_id(purchaser_code: str) -> UUID:
        return PurchaserPlan.id_for(purchaser_code)

    @event("Started")
    def __init__(self, purchaser_code: str):
        self.purchaser_code = purchaser_code
        self.contract_ids: list[UUID] = []
        self.by_source: dict[str, Decimal] = {source: ZERO for source in SOURCES}

    @event("ContractCounted")
    def count(self, contract_id: UUID, funding_sources: list[dict[str, Any]]) -> None:
        self.contract_ids.append(contract_id)
        for share in funding_sources:
            self.by_source[share["source"]] += share["amount"]

    @property
    def spending(self) -> Decimal:
        return sum(self.by_source.values(), ZERO)

    @property
    def lottery(self) -> Decimal:
        return self.by_source[LOTTERY]

    @property
    def share(self) -> Decimal:
        """Rounded down to four places, for reading; `below` compares exactly."""
        return (self.lottery / self.spending).quantize(SHARE, ROUND_FLOOR) if self.spending else Decimal("0.0000")

    def below(self, minimum: Decimal) -> bool:
        return self.spending > 0 and self.lottery < self.spending * minimum
