"""Stations and waitlist (area: stations). A first page; the area's work is built here."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.web import NavItem, render, signed_in

router = APIRouter()
NAV = (NavItem("/stations", "stations.nav", ("district_admin",)),)
MESSAGES = {
    "zh-CN": {"stations.nav": "驿站与候补"},
    "en": {"stations.nav": "Stations and waitlist"},
}


@router.get("/stations")
async def index(request: Request, session=Depends(signed_in)) -> Response:
    return render(request, "coming.html", title_key="stations.nav")
