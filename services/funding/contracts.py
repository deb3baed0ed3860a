"""The one place funding maps its internal events to public ones (shared.contract.funding),
and foreign public events (assessment's ServiceSessionDelivered, referral's
StationRegistered) to its commands. Contract events are keyed by the contract id, subsidies
by the station id. The reasons behind a performance score are free text and never leave."""
from __future__ import annotations

from typing import Any, Iterable

from services.funding.domain import PurchaseContract, StationFunding
from shared.consumer import Handler
from shared.contract import PublicEvent, event_type
from shared.contract.assessment import ServiceSessionDelivered
from shared.contract.funding import (
    BudgetExceededRejected, FundingShare, LotteryShareBelowMinimum, PurchaseContractPaid, PurchaseContractSigned,
    SessionAccrued, SettlementApproved, SubsidyGranted,
)
from shared.contract.referral import StationRegistered
from shared.envelope import CloudEvent


def to_public(domain_event: Any) -> Iterable[PublicEvent]:
    e = domain_event
    if isinstance(e, PurchaseContract.Signed):
        yield PurchaseContractSigned(
            contract_id=e.originator_id,
            station_id=e.station_id,
            district_code=e.district_code,
            period_start=e.period_start,
            period_end=e.period_end,
            budget=e.budget,
            funding_sources=[FundingShare(**share) for share in e.funding_sources],
            unit_prices=e.unit_prices,
            purchaser_code=e.purchaser_code,
        )
    elif isinstance(e, (PurchaseContract.Paid, PurchaseContract.SettlementPaid)):
        # A direct payment and the payment of an approved settlement say the same thing.
        yield PurchaseContractPaid(contract_id=e.originator_id, payment_id=e.payment_id, amount=e.amount,
                                   period=e.period, paid_total=e.paid_total, remaining=e.remaining)
    elif isinstance(e, PurchaseContract.SessionAccrued):
        yield SessionAccrued(contract_id=e.originator_id, session_id=e.session_id, service_type=e.service_type,
                             session_date=e.session_date, amount=e.amount)
    elif isinstance(e, PurchaseContract.SettlementApproved):
        yield SettlementApproved(contract_id=e.originator_id, settlement_id=e.settlement_id, period=e.period,
                                 accrued=e.accrued, performance_score=e.performance_score, amount=e.amount)
    elif isinstance(e, PurchaseContract.BudgetExceeded):
        yield BudgetExceededRejected(contract_id=e.originator_id, requested=e.requested, remaining=e.remaining,
                                     period=e.period, accrued=e.accrued, performance_score=e.performance_score)
    elif isinstance(e, PurchaseContract.LotteryShareBelowMinimum):
        yield LotteryShareBelowMinimum(contract_id=e.originator_id, purchaser_code=e.purchaser_code,
                                       lottery=e.lottery, spending=e.spending, share=e.share, minimum=e.minimum)
    elif isinstance(e, StationFunding.SubsidyGranted):
        yield SubsidyGranted(station_id=e.station_id, kind=e.kind, amount=e.amount, granted_on=e.granted_on,
                             year=e.year)
    # Settlements prepared or declined (they carry the score's reasons), unfunded sessions,
    # and the station and purchaser indexes stay internal.


def handlers(funding: Any) -> dict[str, Handler]:
    """Foreign public events (by CloudEvents type) -> funding commands. Each is idempotent
    on a republished copy (new offset, same event): the tracking record only stops the
    same offset, the session id stops the rest."""

    def session_delivered(ce: CloudEvent) -> None:
        e: ServiceSessionDelivered = ce.event
        funding.accrue_session(session_id=e.session_id, station_id=e.station_id, service_type=e.service_type,
                               session_date=e.session_date, attendance=e.attendance)

    def station_registered(ce: CloudEvent) -> None:
        e: StationRegistered = ce.event
        funding.learn_station(station_id=e.station_id, tier=e.tier, district_code=e.district_code)

    return {
        event_type(ServiceSessionDelivered): session_delivered,
        event_type(StationRegistered): station_registered,
    }
