"""Performance indicators of one district for one period (DESIGN.md §5), computed from the
public events only: the CloudEvents as they are on the five Kafka topics, never a service's
counters or tables. So any subscriber can recompute every figure, and every figure lists
the CloudEvent ids it was computed from (`evidence`).

`compute(events, district=, start=, end=)` is pure: give it CloudEvent dicts (attributes and
`data`) in any order; `python -m shared.audit indicators` feeds it the topics.

How the events are read
- A CloudEvent id counts once: a republished copy (same id) is a duplicate and ignored.
- Only the event types below are used; a type this code does not know, or data that does
  not match its published schema, is skipped and counted in `events.skipped`.
- Business dates are the ones in the data (registered_on, agreed_on, due_on, ...). Times
  (requested_at, at) count on their Asia/Shanghai date. The two events without a business
  date, StationRegistered and PurchaseContractPaid, count on the Shanghai date of the
  CloudEvent `time` (when the service recorded them).
- The period is `start` to `end`, both days included.

Which clients belong to the district
- A client lives where their ClientRegistered put them, until a ClientRelocated (from its
  relocated_on) moves them. A fact about a client (a referral request) belongs to the
  district the client lived in on the day it happened.
- The district's clients of the period are those registered on or before `end`, not exited
  (ClientExited) before `start`, and living in the district at `end`: a client who moved
  out during the period is counted by the district they moved to, not twice.

The figures (value, numerator, denominator, target where the policy sets one, `met`,
`unit`, `evidence`; a rate with nothing to count is None, never a division error)
- plan_within_30_days: of the district's clients whose plan question is settled by `end`
  (a RehabPlanAgreed on or before `end`, or 30 days since registration have run out by
  `end`), those whose first plan was agreed within 30 days of registered_on. A client who
  exited before the 30 days ran out without a plan is not counted either way.
- reassessment_on_time: of the district's clients with a process assessment due in the
  period (90 days after any AssessmentCompleted, or the due_on of a ReassessmentDue or
  ReassessmentOverdue, falling in the period and not after the client's exit), those with
  no ReassessmentOverdue whose due_on is in the period. Overdue is published only after the
  assessment service's grace period, so for a period that ended less than that ago the
  figure can still fall.
- standardised_service (target >= 45%): of the clients counted for plan_within_30_days,
  those with the plan within 30 days AND no ReassessmentOverdue due in the period.
- street_coverage (target >= 50% in a main district, >= 40% elsewhere; the main districts
  are a parameter): streets the district's stations reach ÷ the district's streets known
  from events. Known streets: the streets of the district's StationRegistered (recorded by
  `end`) and the street codes where the district's clients lived (ClientRegistered,
  ClientRelocated, by `end`). Reached: streets a station serves, and streets of clients
  placed at a station (ClientPlaced by `end`). Streets with neither a station nor a client
  never appear in an event, so the denominator can be smaller than the district's true
  street count.
- referral_closure: of the referrals requested in the period (TransferRequested) for the
  district's clients, those completed, declined or cancelled on or before `end`.
- median_time_to_accept (hours): over the same referrals accepted on or before `end`, the
  median of ReferralAccepted.at minus TransferRequested.requested_at; denominator = how
  many were accepted.
- waiting_over_90_days (clients): distinct clients of a WaitlistExceeded for the district
  whose wait passed 90 days in the period (waiting_since + 91 days falls in the period).
- funds_paid_against_budget: the district's purchase contracts (PurchaseContractSigned with
  the district's code and a contract period overlapping the period); payments to them
  recorded by `end` (PurchaseContractPaid, each payment once) ÷ their budgets. Yuan as Decimal.
- welfare_lottery_share (target >= 20%, funding's minimum): the welfare_lottery funding
  shares of the same contracts ÷ their budgets.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable

from pydantic import ValidationError

from shared.auth import area_prefix
from shared.clock import LOCAL
from shared.contract import PublicEvent, lookup
from shared.contract.assessment import AssessmentCompleted, ReassessmentDue, ReassessmentOverdue, RehabPlanAgreed
from shared.contract.funding import PurchaseContractPaid, PurchaseContractSigned
from shared.contract.intake import ClientExited, ClientRegistered, ClientRelocated
from shared.contract.referral import (
    ClientPlaced, ReferralAccepted, ReferralCancelled, ReferralCompleted, ReferralDeclined, StationRegistered,
    TransferRequested, WaitlistExceeded,
)

STANDARDISED_TARGET = Decimal("0.45")
COVERAGE_TARGET_MAIN = Decimal("0.50")
COVERAGE_TARGET_OTHER = Decimal("0.40")
LOTTERY_SHARE_TARGET = Decimal("0.20")
RATE = Decimal("0.0001")
CENT = Decimal("0.01")

USED = (ClientRegistered, ClientRelocated, ClientExited, RehabPlanAgreed, AssessmentCompleted, ReassessmentDue,
        ReassessmentOverdue, TransferRequested, ReferralAccepted, ReferralCompleted, ReferralDeclined,
        ReferralCancelled, ClientPlaced, StationRegistered, WaitlistExceeded, PurchaseContractSigned,
        PurchaseContractPaid)
CLOSED = (ReferralCompleted, ReferralDeclined, ReferralCancelled)
NAMES = ("standardised_service", "plan_within_30_days", "reassessment_on_time", "street_coverage", "referral_closure",
         "median_time_to_accept", "waiting_over_90_days", "funds_paid_against_budget", "welfare_lottery_share")


@dataclass(frozen=True)
class Fact:
    """One distinct public event: its CloudEvent id, the Shanghai date it was recorded,
    its position in its service's log, and the typed event."""
    id: str
    recorded_on: date
    sequence: int
    event: PublicEvent


@dataclass
class Client:
    registered: Fact | None = None
    moves: list[tuple[date, int, int, str, str, str]] = field(default_factory=list)  # day, order, seq, district, street, id
    exit: Fact | None = None
    plans: list[Fact] = field(default_factory=list)
    assessments: list[Fact] = field(default_factory=list)
    reminders: list[Fact] = field(default_factory=list)  # ReassessmentDue, ReassessmentOverdue

    def lived(self, day: date) -> tuple[str, str, list[str]] | None:
        """District and street on `day`, and the ids of the events that say so."""
        moved = [m for m in sorted(self.moves) if m[0] <= day]
        if not moved:
            return None
        return moved[-1][3], moved[-1][4], [m[5] for m in moved]

    def exited_by(self, day: date) -> date | None:
        return self.exit.event.exited_on if self.exit and self.exit.event.exited_on <= day else None


def compute(events: Iterable[dict], *, district: str, start: date, end: date, main_districts: Iterable[str] = (),
            plan_within_days: int = 30, reassess_every_days: int = 90, waitlist_limit_days: int = 90) -> dict:
    """The indicators of `district` for `start`..`end` (both included) from CloudEvent
    dicts; see the module docstring for every definition. (What `jingkang indicators`
    computes straight from the topics; the service computes the same from its read model.)"""
    facts, counts = distinct_facts(events)
    result = figures(collect(facts), district=district, start=start, end=end, main_districts=main_districts,
                     plan_within_days=plan_within_days, reassess_every_days=reassess_every_days,
                     waitlist_limit_days=waitlist_limit_days)
    return result | {"events": counts}


@dataclass
class Collected:
    """The facts grouped the way the definitions read them (built once, read for many periods)."""
    clients: dict[str, Client] = field(default_factory=lambda: defaultdict(Client))
    stations: list[Fact] = field(default_factory=list)
    referrals: dict[str, dict[str, list[Fact]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    waits: list[Fact] = field(default_factory=list)
    contracts: dict[str, Fact] = field(default_factory=dict)
    payments: dict[str, Fact] = field(default_factory=dict)
    placements: list[Fact] = field(default_factory=list)
    facts: int = 0


def collect(facts: Iterable[Fact]) -> Collected:
    """Group distinct facts (one per CloudEvent id) by client, referral, contract, ..."""
    out = Collected()
    clients, referrals = out.clients, out.referrals
    for f in facts:
        out.facts += 1
        e = f.event
        if isinstance(e, ClientRegistered):
            c = clients[str(e.client_id)]
            if c.registered is None:  # registered once; a second registration of one id would be a bug upstream
                c.registered = f
                c.moves.append((e.registered_on, 0, f.sequence, e.district_code, e.street_code, f.id))
        elif isinstance(e, ClientRelocated):
            clients[str(e.client_id)].moves.append((e.relocated_on, 1, f.sequence, e.district_code, e.street_code, f.id))
        elif isinstance(e, ClientExited):
            c = clients[str(e.client_id)]
            if c.exit is None or e.exited_on < c.exit.event.exited_on:
                c.exit = f
        elif isinstance(e, RehabPlanAgreed):
            clients[str(e.client_id)].plans.append(f)
        elif isinstance(e, AssessmentCompleted):  # v1 and v2 of one assessment: the same due date
            clients[str(e.client_id)].assessments.append(f)
        elif isinstance(e, (ReassessmentDue, ReassessmentOverdue)):
            clients[str(e.client_id)].reminders.append(f)
        elif isinstance(e, (TransferRequested, ReferralAccepted) + CLOSED):
            referrals[str(e.referral_id)][type(e).__name__].append(f)
        elif isinstance(e, StationRegistered):
            out.stations.append(f)
        elif isinstance(e, ClientPlaced):
            out.placements.append(f)
        elif isinstance(e, WaitlistExceeded):
            out.waits.append(f)
        elif isinstance(e, PurchaseContractSigned):
            out.contracts.setdefault(str(e.contract_id), f)
        elif isinstance(e, PurchaseContractPaid):
            out.payments.setdefault(str(e.payment_id), f)
    return out


def in_area(area: str):
    """A test for codes under `area`: a county's code only itself; a city's (320100) or a
    province's (320000) every county under it (GB/T 2260, as shared.auth reads tokens)."""
    prefix = area_prefix(area) or area
    return lambda code: code is not None and code.startswith(prefix)


def figures(data: Collected, *, district: str, start: date, end: date, main_districts: Iterable[str] = (),
            plan_within_days: int = 30, reassess_every_days: int = 90, waitlist_limit_days: int = 90) -> dict:
    """The indicators of `district` (a county, or a city or province: the counties under
    it together) for `start`..`end`, both included, from collected facts."""
    main = district in set(main_districts)
    ours = in_area(district)
    clients, stations, referrals = data.clients, data.stations, data.referrals
    waits, contracts, payments, placements = data.waits, data.contracts, data.payments, data.placements

    def in_period(day: date) -> bool:
        return start <= day <= end

    # --- the district's clients and their plans and reassessments ---------------------------------
    plan = _Tally()
    reassessment = _Tally()
    standardised = _Tally()
    for c in clients.values():
        if c.registered is None or c.registered.event.registered_on > end:
            continue
        exited_on = c.exited_by(end)
        if exited_on is not None and exited_on < start:
            continue
        lived = c.lived(end)
        if lived is None or not ours(lived[0]):
            continue
        who = lived[2] + ([c.exit.id] if exited_on else [])

        deadline = c.registered.event.registered_on + timedelta(days=plan_within_days)
        agreed = sorted((p for p in c.plans if p.event.agreed_on <= end), key=lambda p: p.event.agreed_on)
        first_plan = agreed[0] if agreed else None
        plan_settled = first_plan is not None or (deadline <= end and not (exited_on and exited_on < deadline))

        every = timedelta(days=reassess_every_days)
        dues = [(a.event.assessed_on + every, a.id) for a in c.assessments if a.event.assessed_on <= end]
        dues += [(r.event.due_on, r.id) for r in c.reminders]
        dues = [(day, i) for day, i in dues if in_period(day) and not (exited_on and day > exited_on)]
        late = [r.id for r in c.reminders if isinstance(r.event, ReassessmentOverdue) and in_period(r.event.due_on)]

        if dues:
            reassessment.count(not late, who + [i for _, i in dues] + late)
        if plan_settled:
            plan_ok = first_plan is not None and first_plan.event.agreed_on <= deadline
            plan_ids = who + ([first_plan.id] if first_plan else [])
            plan.count(plan_ok, plan_ids)
            standardised.count(plan_ok and not late, plan_ids + [i for _, i in dues] + late)

    # --- street coverage ---------------------------------------------------------------------------
    known: set[str] = set()
    reached: set[str] = set()
    coverage_ids: set[str] = set()
    for s in stations:
        if ours(s.event.district_code) and s.recorded_on <= end:
            known |= set(s.event.streets)
            reached |= set(s.event.streets)
            coverage_ids.add(s.id)
    for c in clients.values():
        for day, _, _, moved_to, street, ce_id in c.moves:
            if ours(moved_to) and day <= end:
                known.add(street)
                coverage_ids.add(ce_id)
    for p in placements:
        lived = clients[str(p.event.client_id)].lived(p.event.placed_on) if str(p.event.client_id) in clients else None
        if ours(p.event.district_code) and p.event.placed_on <= end and lived and ours(lived[0]):
            reached.add(lived[1])
            coverage_ids |= {p.id, *lived[2]}
    coverage_target = COVERAGE_TARGET_MAIN if main else COVERAGE_TARGET_OTHER

    # --- referrals ---------------------------------------------------------------------------------
    requested = closed = 0
    referral_ids: set[str] = set()
    waits_to_accept: list[Decimal] = []
    accept_ids: set[str] = set()
    for answers in referrals.values():
        if not answers["TransferRequested"]:
            continue
        request = min(answers["TransferRequested"], key=lambda f: f.event.requested_at)
        asked_on = _local_day(request.event.requested_at)
        c = clients.get(str(request.event.client_id))
        lived = c.lived(asked_on) if c else None
        if not in_period(asked_on) or lived is None or not ours(lived[0]):
            continue
        requested += 1
        ids = {request.id, *lived[2]}
        closings = [f for kind in CLOSED for f in answers[kind.__name__] if _local_day(f.event.at) <= end]
        if closings:
            closed += 1
            ids.add(min(closings, key=lambda f: f.event.at).id)
        referral_ids |= ids
        accepted = [f for f in answers["ReferralAccepted"] if _local_day(f.event.at) <= end]
        if accepted:
            first = min(accepted, key=lambda f: f.event.at)
            waits_to_accept.append(_seconds(_aware(first.event.at) - _aware(request.event.requested_at)))
            accept_ids |= {request.id, first.id, *lived[2]}
    median_hours = (statistics.median(waits_to_accept) / 3600).quantize(CENT, ROUND_HALF_UP) if waits_to_accept else None

    # --- waitlist ----------------------------------------------------------------------------------
    over = timedelta(days=waitlist_limit_days + 1)
    exceeded = [w for w in waits if ours(w.event.district_code) and in_period(w.event.waiting_since + over)]
    waiting_clients = {str(w.event.client_id) for w in exceeded}

    # --- funds -------------------------------------------------------------------------------------
    mine = {cid: f for cid, f in contracts.items()
            if ours(f.event.district_code) and f.event.period_start <= end and f.event.period_end >= start}
    budget = sum((f.event.budget for f in mine.values()), Decimal("0"))
    lottery = sum((s.amount for f in mine.values() for s in f.event.funding_sources if s.source == "welfare_lottery"),
                  Decimal("0"))
    paid_facts = [p for p in payments.values() if str(p.event.contract_id) in mine and p.recorded_on <= end]
    paid = sum((p.event.amount for p in paid_facts), Decimal("0"))
    contract_ids = {f.id for f in mine.values()}

    return {
        "district": district,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "main_district": main,
        "indicators": {
            "standardised_service": standardised.figure(STANDARDISED_TARGET),
            "plan_within_30_days": plan.figure(),
            "reassessment_on_time": reassessment.figure(),
            "street_coverage": _figure(_rate(len(reached), len(known)), len(reached), len(known), coverage_ids,
                                       target=coverage_target),
            "referral_closure": _figure(_rate(closed, requested), closed, requested, referral_ids),
            "median_time_to_accept": _figure(median_hours, None, len(waits_to_accept), accept_ids, unit="hours"),
            "waiting_over_90_days": _figure(len(waiting_clients), len(waiting_clients), None,
                                            {w.id for w in exceeded}, unit="clients"),
            "funds_paid_against_budget": _figure(_rate(paid, budget), paid.quantize(CENT), budget.quantize(CENT),
                                                 contract_ids | {p.id for p in paid_facts}),
            "welfare_lottery_share": _figure(_rate(lottery, budget), lottery.quantize(CENT), budget.quantize(CENT),
                                             contract_ids, target=LOTTERY_SHARE_TARGET),
        },
    }


def without_evidence(result: dict) -> dict:
    """The same result with each figure's evidence list replaced by its length."""
    figures = {name: {k: v for k, v in figure.items() if k != "evidence"} | {"evidence_count": len(figure["evidence"])}
               for name, figure in result["indicators"].items()}
    return result | {"indicators": figures}


class _Tally:
    def __init__(self) -> None:
        self.numerator = self.denominator = 0
        self.evidence: set[str] = set()

    def count(self, ok: bool, evidence: Iterable[str]) -> None:
        self.denominator += 1
        self.numerator += bool(ok)
        self.evidence.update(evidence)

    def figure(self, target: Decimal | None = None) -> dict:
        return _figure(_rate(self.numerator, self.denominator), self.numerator, self.denominator, self.evidence,
                       target=target)


def _figure(value: Any, numerator: Any, denominator: Any, evidence: Iterable[str], *,
            target: Decimal | None = None, unit: str = "ratio") -> dict:
    met = None if target is None or value is None else value >= target
    return {"value": value, "numerator": numerator, "denominator": denominator, "target": target, "met": met,
            "unit": unit, "evidence": sorted(evidence)}


def _rate(numerator: int | Decimal, denominator: int | Decimal) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE, ROUND_HALF_UP)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _local_day(moment: datetime) -> date:
    return _aware(moment).astimezone(LOCAL).date()


def _seconds(delta: timedelta) -> Decimal:
    return Decimal(delta // timedelta(microseconds=1)) / 1_000_000


class Unusable(ValueError):
    """A CloudEvent of a type the definitions use whose data does not match its published schema."""


def fact_of(ce: dict, event: PublicEvent | None = None) -> Fact | None:
    """The fact a CloudEvent states, if the definitions use its type (None otherwise);
    Unusable when it has no id or time, or its data does not match the schema. `event`:
    its data already parsed (shared.envelope.decode did), so it is not parsed twice."""
    ce_id = ce.get("id")
    cls = lookup(str(ce.get("type")))
    if cls is None or not issubclass(cls, USED):
        return None
    if not ce_id:
        raise Unusable("no CloudEvent id")
    try:
        event = event if isinstance(event, cls) else cls.model_validate(ce.get("data"))
        recorded = datetime.fromisoformat(str(ce["time"]).replace("Z", "+00:00"))
        sequence = int(ce.get("sequence") or 0)
    except (ValidationError, KeyError, ValueError, TypeError) as e:
        raise Unusable(f"{ce.get('type')}: {e}".splitlines()[0]) from None
    return Fact(id=str(ce_id), recorded_on=_local_day(recorded), sequence=sequence, event=event)


def distinct_facts(events: Iterable[dict]) -> tuple[list[Fact], dict[str, int]]:
    """Each CloudEvent id once, parsed by its published model; the rest counted."""
    seen: set[str] = set()
    facts: list[Fact] = []
    counts = {"read": 0, "duplicates": 0, "skipped": 0, "used": 0}
    for ce in events:
        counts["read"] += 1
        ce_id = ce.get("id") if isinstance(ce, dict) else None
        if not ce_id or lookup(str(ce.get("type"))) is None:
            counts["skipped"] += 1
            continue
        if ce_id in seen:
            counts["duplicates"] += 1
            continue
        seen.add(ce_id)
        try:
            fact = fact_of(ce)
        except Unusable:
            counts["skipped"] += 1
            continue
        if fact is not None:
            facts.append(fact)
    counts["used"] = len(facts)
    return facts, counts
