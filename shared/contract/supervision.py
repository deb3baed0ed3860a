"""Public events of supervision (topic jingkang.supervision.v1); keyed by district code."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import WithJsonSchema

from shared.contract.base import DistrictCode, PublicEvent

Period = Annotated[str, WithJsonSchema({"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$",
                                        "description": "a calendar month, YYYY-MM"})]
Figure = Annotated[str | None, WithJsonSchema({"type": ["string", "null"],
                                               "description": "an exact decimal or a whole number, as text"})]


class IndicatorBelowTarget(PublicEvent):
    """A district's figure for a closed calendar month missed its target (once per
    district, indicator and month). Definitions: services/supervision/indicators.py."""
    SERVICE = "supervision"
    NAME = "IndicatorBelowTarget"
    SUBJECT = "district_code"
    district_code: DistrictCode
    indicator: Literal["standardised_service", "street_coverage", "welfare_lottery_share"]
    period: Period
    value: Decimal
    target: Decimal
    numerator: Figure = None
    denominator: Figure = None
