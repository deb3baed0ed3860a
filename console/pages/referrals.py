"""Referrals (area: referrals). A first page; the area's work is built here."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.web import NavItem, render, signed_in

router = APIRouter()
NAV = (NavItem("/referrals", "referrals.nav", ("hospital", "station_worker", "district_admin")),)
MESSAGES = {
    "zh-CN": {"referrals.nav": "转介"},
    "en": {"referrals.nav": "Referrals"},
}


@router.get("/referrals")
async def index(request: Request, session=Depends(signed_in)) -> Response:
    return render(request, "coming.html", title_key="referrals.nav")
