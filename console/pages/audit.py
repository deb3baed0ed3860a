"""Audit (area: audit). A first page; the area's work is built here."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.web import NavItem, render, signed_in

router = APIRouter()
NAV = (NavItem("/audit", "audit.nav", ("auditor",)),)
MESSAGES = {
    "zh-CN": {"audit.nav": "审计"},
    "en": {"audit.nav": "Audit"},
}


@router.get("/audit")
async def index(request: Request, session=Depends(signed_in)) -> Response:
    return render(request, "coming.html", title_key="audit.nav")
