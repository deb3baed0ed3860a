"""supervision's HTTP API (FastAPI): the indicators of a district for a period, the
CloudEvents behind a figure, monthly trends, and the district tree. Read-only: the figures
come from the read model the worker keeps (readmodel.py), never from the topics.
Who may call each route is the ACCESS table below (shared/auth.py enforces it, deny by
default); every route with a district also checks the token covers it (a city's or a
province's token covers the counties under it)."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from services.supervision.application import Supervision, as_json
from services.supervision.contracts import to_public
from services.supervision.indicators import NAMES
from services.supervision.settings import create_supervision
from shared.api import broker_reachable, create_service_api
from shared.audit import install_audit
from shared.auth import authority_for, check_district, principal_of
from shared.settings import ServiceSettings

SUPERVISING = ("district_admin", "funding_officer", "auditor", "integration")
# District admins and auditors supervise, funding officers follow the money, dashboards are integrations.
ACCESS: dict[str, tuple[str, ...]] = {
    "GET /v1/indicators": SUPERVISING,
    "GET /v1/indicators/{name}/evidence": SUPERVISING,
    "GET /v1/trends": SUPERVISING,
    "GET /v1/districts": SUPERVISING,
}

District = Annotated[str, Query(pattern=r"^[0-9]{6}$", description="GB/T 2260 code: a county, a city or a province")]
From = Annotated[date, Query(alias="from", description="first day, included")]
To = Annotated[date, Query(alias="to", description="last day, included")]


def create_app(settings: ServiceSettings, supervision: Supervision | None = None) -> FastAPI:
    supervision = supervision or create_supervision(settings)
    api = create_service_api(
        "Jingkang supervision",
        "Performance indicators, their evidence and trends, from a read model of the public events.",
        checks={"read model": supervision.model.ping, "kafka": lambda: broker_reachable(settings.kafka_bootstrap)},
        authority=authority_for(settings), access=ACCESS,
    )
    if supervision.reviews is not None:  # its own event store: the IndicatorBelowTarget it recorded
        install_audit(api, settings, supervision.reviews, to_public)

    def answer(body: dict) -> JSONResponse:
        return JSONResponse(as_json(body))

    @api.get("/v1/indicators", tags=["indicators"])
    def get_indicators(request: Request, district: District, start: From, end: To):
        """The district's indicators for the period (definitions: services/supervision/indicators.py).
        Rates and yuan are strings (exact decimals); a rate with nothing to count is null."""
        supervision.check_period(start, end)
        supervision.check_district(district)
        check_district(principal_of(request), district)
        return answer(supervision.indicators(district, start, end))

    @api.get("/v1/indicators/{name}/evidence", tags=["indicators"])
    def get_evidence(request: Request, name: str, district: District, start: From, end: To,
                     page: Annotated[int, Query(ge=1)] = 1, size: Annotated[int, Query(ge=1, le=500)] = 50):
        """The CloudEvents a figure was computed from (public type, id, time, subject), paged."""
        supervision.check_period(start, end)
        supervision.check_district(district)
        check_district(principal_of(request), district)
        return answer(supervision.evidence(name, district, start, end, page, size))

    @api.get("/v1/trends", tags=["indicators"])
    def get_trends(request: Request, district: District, indicator: Annotated[str, Query(description=", ".join(NAMES))],
                   start: From, end: To, by: Annotated[str, Query(pattern="^month$")] = "month"):
        """One indicator month by month (each month's figure as GET /v1/indicators gives it)."""
        supervision.check_period(start, end)
        supervision.check_district(district)
        check_district(principal_of(request), district)
        return answer(supervision.trends(district, indicator, start, end))

    @api.get("/v1/districts", tags=["districts"])
    def get_districts(request: Request):
        """The area tree (provinces, cities, counties) and which the token may see."""
        return answer(supervision.districts(principal_of(request)))

    return api
