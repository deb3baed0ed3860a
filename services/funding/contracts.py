"""The one place funding maps its internal events to public ones (shared.contract.funding).
Every public event is keyed by the contract id."""
from __future__ import annotations

from typing import Any, Iterable

from services.funding.domain import PurchaseContract
from shared.consumer import Handler
from shared.contract import PublicEvent
from shared.contract.funding import FundingShare, PurchaseContractPaid, PurchaseContractSigned


def to_public(domain_event: Any) -> Iterable[PublicEvent]:
    if isinstance(domain_event, PurchaseContract.Signed):
        yield PurchaseContractSigned(
            contract_id=domain_event.originator_id,
            station_id=domain_event.station_id,
            district_code=domain_event.district_code,
            period_start=domain_event.period_start,
            period_end=domain_event.period_end,
            budget=domain_event.budget,
            funding_sources=[FundingShare(**share) for share in domain_event.funding_sources],
            unit_prices=domain_event.unit_prices,
        )
    elif isinstance(domain_event, PurchaseContract.Paid):
        yield PurchaseContractPaid(
            contract_id=domain_event.originator_id,
            payment_id=domain_event.payment_id,
            amount=domain_event.amount,
            period=domain_event.period,
            paid_total=domain_event.paid_total,
            remaining=domain_event.remaining,
        )


def handlers(funding: Any) -> dict[str, Handler]:
    """Foreign public events (by CloudEvents type) -> funding commands.
    None yet: sessions delivered (assessment) accrue against contracts in a later issue."""
    return {}
