"""My clients (area: clients). A first page; the area's work is built here."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.web import NavItem, render, signed_in

router = APIRouter()
NAV = (NavItem("/clients", "clients.nav", ("station_worker",)),)
MESSAGES = {
    "zh-CN": {"clients.nav": "我的服务对象"},
    "en": {"clients.nav": "My clients"},
}


@router.get("/clients")
async def index(request: Request, session=Depends(signed_in)) -> Response:
    return render(request, "coming.html", title_key="clients.nav")
