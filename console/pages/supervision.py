"""Supervision (area: supervision). A first page; the area's work is built here."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.web import NavItem, render, signed_in

router = APIRouter()
NAV = (NavItem("/supervision", "supervision.nav", ("auditor", "district_admin")),)
MESSAGES = {
    "zh-CN": {"supervision.nav": "监管看板"},
    "en": {"supervision.nav": "Supervision"},
}


@router.get("/supervision")
async def index(request: Request, session=Depends(signed_in)) -> Response:
    return render(request, "coming.html", title_key="supervision.nav")
