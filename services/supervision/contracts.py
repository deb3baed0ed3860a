"""The one place supervision maps its internal events to public ones. (The public events it
reads become read-model rows in readmodel.py and facts in indicators.py.)"""
from __future__ import annotations

from typing import Any, Iterable

from services.supervision.domain import IndicatorReview
from shared.contract import PublicEvent
from shared.contract.supervision import IndicatorBelowTarget


def to_public(domain_event: Any) -> Iterable[PublicEvent]:
    e = domain_event
    if isinstance(e, IndicatorReview.BelowTarget):
        yield IndicatorBelowTarget(district_code=e.district, indicator=e.indicator, period=e.period, value=e.value,
                                   target=e.target, numerator=_text(e.numerator), denominator=_text(e.denominator))


def _text(figure: Any) -> str | None:
    return None if figure is None else str(figure)
