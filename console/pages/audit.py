"""The auditor's pages (area: audit): the hash-chain status of every service, and one client's
case as a timeline across the services as of a chosen moment.

Calls, on each service (concurrently, with the user's token): GET /v1/audit/chain and
GET /v1/audit/clients/{id}/events?as_of=. A service that cannot be reached, or does not
answer these yet, is named on the page; the others are still shown."""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.services import ServiceRefused, Services
from console.web import NavItem, render, services, signed_in, t_of
from shared.clock import LOCAL

router = APIRouter()
NAV = (NavItem("/audit", "audit.nav", ("auditor",)),)
SERVICES = ("intake", "assessment", "referral", "funding", "notification", "supervision")
CASE_SERVICES = ("intake", "assessment", "referral", "funding", "notification")
MESSAGES = {
    "zh-CN": {
        "audit.nav": "审计",
        "audit.title": "审计：哈希链与个案时间线",
        "audit.chain": "各服务的哈希链",
        "audit.service": "服务",
        "audit.events": "事件数",
        "audit.status": "状态",
        "audit.verified": "完整",
        "audit.broken": "发现问题",
        "audit.unreachable": "无法访问",
        "audit.unavailable": "暂不提供",
        "audit.refused": "拒绝：{reason}",
        "audit.case": "个案时间线",
        "audit.client": "服务对象编号（假名）",
        "audit.as_of": "截至（北京时间）",
        "audit.as_of_hint": "留空为现在。只显示此刻之前记录的事实。",
        "audit.show": "查看时间线",
        "audit.client_invalid": "请输入服务对象的假名编号（UUID）。",
        "audit.as_of_invalid": "请输入有效的日期和时间。",
        "audit.no_events": "截至该时刻，没有关于此服务对象的事件。",
        "audit.missing": "以下服务未能提供事件，时间线可能不完整：{services}",
        "audit.time": "记录时间",
        "audit.event": "事件",
        "audit.aggregate": "聚合 / 版本",
        "audit.actor": "操作人",
        "audit.position": "日志位置",
    },
    "en": {
        "audit.nav": "Audit",
        "audit.title": "Audit: hash chains and case timelines",
        "audit.chain": "Each service's hash chain",
        "audit.service": "Service",
        "audit.events": "Events",
        "audit.status": "Status",
        "audit.verified": "Intact",
        "audit.broken": "Finding",
        "audit.unreachable": "Unreachable",
        "audit.unavailable": "Not available yet",
        "audit.refused": "Refused: {reason}",
        "audit.case": "Case timeline",
        "audit.client": "Client id (pseudonymous)",
        "audit.as_of": "As of (Beijing time)",
        "audit.as_of_hint": "Empty for now. Only facts recorded before that moment are shown.",
        "audit.show": "Show the timeline",
        "audit.client_invalid": "Enter the client's pseudonymous id (a UUID).",
        "audit.as_of_invalid": "Enter a valid date and time.",
        "audit.no_events": "No event about this client as of that moment.",
        "audit.missing": "These services gave no events; the timeline may be incomplete: {services}",
        "audit.time": "Recorded",
        "audit.event": "Event",
        "audit.aggregate": "Aggregate / version",
        "audit.actor": "Actor",
        "audit.position": "Log position",
    },
}


# -- view models ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainRow:
    service: str
    state: str  # verified | broken | unreachable | unavailable | refused
    events: int | None
    finding: str


def chain_row(service: str, answer: dict[str, Any] | ServiceRefused) -> ChainRow:
    if isinstance(answer, ServiceRefused):
        state = ("unreachable" if answer.status in (0, 502, 503, 504)
                 else "unavailable" if answer.status in (404, 405) else "refused")
        return ChainRow(service, state, None, answer.detail if state == "refused" else "")
    finding = answer.get("finding")
    text = finding if isinstance(finding, str) else "" if finding is None else \
        "; ".join(f"{k}: {v}" for k, v in finding.items()) if isinstance(finding, dict) else str(finding)
    return ChainRow(service, "verified" if answer.get("verified") else "broken", answer.get("events"), text)


@dataclass(frozen=True)
class Moment:
    service: str
    time: str
    event: str  # the public type where the event has one, else the service's own name
    aggregate: str
    version: int | None
    actor: str
    position: int | None


def timeline(answers: dict[str, dict[str, Any]]) -> list[Moment]:
    """Every service's events about the client, merged in the order they were recorded."""
    moments = [Moment(service, e.get("time", ""), e.get("public_type") or e.get("type", ""),
                      str(e.get("aggregate_id", "")), e.get("version"), str(e.get("actor") or ""), e.get("position"))
               for service, answer in answers.items() for e in answer.get("events", [])]
    return sorted(moments, key=lambda m: (m.time, m.service, m.position or 0))


def as_of_iso(text: str | None) -> str | None:
    """A datetime-local value (Beijing time) as an ISO moment with its offset; '' -> None."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=LOCAL)).isoformat()


async def each(svc: Services, names: tuple[str, ...], path: str,
               params: dict[str, str] | None = None) -> dict[str, dict[str, Any] | ServiceRefused]:
    async def one(name: str) -> dict[str, Any] | ServiceRefused:
        try:
            return await svc.get(name, path, params)
        except ServiceRefused as e:
            return e
    return dict(zip(names, await asyncio.gather(*(one(n) for n in names))))


# -- pages ---------------------------------------------------------------------------------

@router.get("/audit")
async def index(request: Request, session=Depends(signed_in), svc: Services = Depends(services)) -> Response:
    chains = await each(svc, SERVICES, "/v1/audit/chain")
    return render(request, "audit/index.html", chains=[chain_row(s, a) for s, a in chains.items()])


@router.get("/audit/case")
async def case(request: Request, client: str = "", as_of: str = "", session=Depends(signed_in),
               svc: Services = Depends(services)) -> Response:
    t = t_of(request)
    errors: dict[str, str] = {}
    try:
        client_id = str(uuid.UUID(client.strip()))
    except ValueError:
        client_id = ""
        errors["client"] = t("audit.client_invalid")
    try:
        moment = as_of_iso(as_of.strip())
    except ValueError:
        moment = None
        errors["as_of"] = t("audit.as_of_invalid")
    if errors:
        return render(request, "audit/case.html", status_code=422, client=client, as_of=as_of, errors=errors,
                      moments=[], missing=[])
    answers = await each(svc, CASE_SERVICES, f"/v1/audit/clients/{client_id}/events",
                         {"as_of": moment} if moment else None)
    found = {s: a for s, a in answers.items() if not isinstance(a, ServiceRefused)}
    # A service that never heard of the client answers 404: nothing missing there.
    missing = [s for s, a in answers.items() if isinstance(a, ServiceRefused) and a.status != 404]
    return render(request, "audit/case.html", client=client_id, as_of=as_of, errors={}, moments=timeline(found),
                  missing=missing)
