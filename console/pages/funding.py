"""Contracts (area: funding). A first page; the area's work is built here."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.web import NavItem, render, signed_in

router = APIRouter()
NAV = (NavItem("/funding", "funding.nav", ("funding_officer", "district_admin")),)
MESSAGES = {
    "zh-CN": {"funding.nav": "购买服务合同"},
    "en": {"funding.nav": "Contracts"},
}


@router.get("/funding")
async def index(request: Request, session=Depends(signed_in)) -> Response:
    return render(request, "coming.html", title_key="funding.nav")
