"""The supervision dashboard (area: supervision), for auditors and district supervisors:
every indicator of a district and period against its target (met / not met), monthly trends
as charts, and a click on any figure lists the events behind it (paged).

Calls the supervision service (port 8006) with the user's token: GET /v1/districts,
GET /v1/indicators, GET /v1/trends (one per indicator, concurrently), GET
/v1/indicators/{name}/evidence. When it cannot be reached the page says so plainly."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.services import ServiceRefused, Services
from console.web import NavItem, district_of, render, services, signed_in, t_of
from shared.clock import LOCAL

router = APIRouter()
NAV = (NavItem("/supervision", "supervision.nav", ("auditor", "district_admin", "funding_officer")),)
PAGE_SIZE = 50
UNREACHABLE = (0, 502, 503, 504)
INDICATORS = ("standardised_service", "plan_within_30_days", "reassessment_on_time", "street_coverage",
              "referral_closure", "median_time_to_accept", "waiting_over_90_days", "funds_paid_against_budget",
              "welfare_lottery_share")
MESSAGES = {
    "zh-CN": {
        "supervision.nav": "监管看板",
        "supervision.title": "绩效监管看板",
        "supervision.district": "辖区",
        "supervision.from": "起",
        "supervision.to": "止",
        "supervision.show": "查看",
        "supervision.indicators": "各项指标与目标",
        "supervision.value": "数值",
        "supervision.target": "目标",
        "supervision.counted": "计数",
        "supervision.met": "达标",
        "supervision.not_met": "未达标",
        "supervision.no_target": "无目标",
        "supervision.nothing": "无可计数",
        "supervision.evidence": "依据事件",
        "supervision.trends": "按月趋势",
        "supervision.trend_hint": "点击图中任一月份，查看该月数字背后的事件。",
        "supervision.unreachable": "监管服务暂时无法访问（{service}）。指标稍后再看；其他页面不受影响。",
        "supervision.refused": "监管服务拒绝了这个查询：{reason}",
        "supervision.evidence_title": "“{indicator}”背后的事件",
        "supervision.evidence_none": "没有事件。",
        "supervision.event_id": "事件编号",
        "supervision.event_type": "事件类型",
        "supervision.event_time": "时间",
        "supervision.event_subject": "对象（假名编号）",
        "supervision.page": "第 {page} 页，共 {pages} 页（{total} 个事件）",
        "supervision.prev": "上一页",
        "supervision.next": "下一页",
        "supervision.back": "返回看板",
        "supervision.indicator.standardised_service": "规范化服务率",
        "supervision.indicator.plan_within_30_days": "30 天内制定康复计划",
        "supervision.indicator.reassessment_on_time": "按时复评",
        "supervision.indicator.street_coverage": "街道覆盖率",
        "supervision.indicator.referral_closure": "转介闭环率",
        "supervision.indicator.median_time_to_accept": "转介接收时间中位数",
        "supervision.indicator.waiting_over_90_days": "候补超过 90 天",
        "supervision.indicator.funds_paid_against_budget": "资金支付进度",
        "supervision.indicator.welfare_lottery_share": "福彩公益金占比",
        "supervision.unit.hours": "小时", "supervision.unit.clients": "人",
    },
    "en": {
        "supervision.nav": "Supervision",
        "supervision.title": "Supervision dashboard",
        "supervision.district": "District",
        "supervision.from": "From",
        "supervision.to": "To",
        "supervision.show": "Show",
        "supervision.indicators": "Indicators against their targets",
        "supervision.value": "Value",
        "supervision.target": "Target",
        "supervision.counted": "Counted",
        "supervision.met": "Met",
        "supervision.not_met": "Not met",
        "supervision.no_target": "No target",
        "supervision.nothing": "Nothing to count",
        "supervision.evidence": "Events behind it",
        "supervision.trends": "Monthly trends",
        "supervision.trend_hint": "Click any month in a chart to list the events behind that figure.",
        "supervision.unreachable": "The supervision service cannot be reached right now ({service}). Look at the indicators later; other pages work.",
        "supervision.refused": "The supervision service refused this query: {reason}",
        "supervision.evidence_title": "The events behind \"{indicator}\"",
        "supervision.evidence_none": "No events.",
        "supervision.event_id": "Event id",
        "supervision.event_type": "Event type",
        "supervision.event_time": "Time",
        "supervision.event_subject": "Subject (pseudonymous id)",
        "supervision.page": "Page {page} of {pages} ({total} events)",
        "supervision.prev": "Previous",
        "supervision.next": "Next",
        "supervision.back": "Back to the dashboard",
        "supervision.indicator.standardised_service": "Standardised service",
        "supervision.indicator.plan_within_30_days": "Plan within 30 days",
        "supervision.indicator.reassessment_on_time": "Reassessment on time",
        "supervision.indicator.street_coverage": "Street coverage",
        "supervision.indicator.referral_closure": "Referral closure",
        "supervision.indicator.median_time_to_accept": "Median time to accept a referral",
        "supervision.indicator.waiting_over_90_days": "Waiting over 90 days",
        "supervision.indicator.funds_paid_against_budget": "Funds paid against budget",
        "supervision.indicator.welfare_lottery_share": "Welfare-lottery share",
        "supervision.unit.hours": "hours", "supervision.unit.clients": "clients",
    },
}


# -- view models ---------------------------------------------------------------------------

def as_decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def shown(value: Any, unit: str | None, t) -> str:
    """A figure as people read it: a ratio as a percentage, hours and clients with their unit."""
    number = as_decimal(value)
    if number is None:
        return t("supervision.nothing")
    if unit in (None, "ratio"):
        return f"{(number * 100).quantize(Decimal('0.1'))}%"
    if unit == "yuan":
        return f"{number.quantize(Decimal('0.01'))}"
    if unit == "hours":
        return f"{number.quantize(Decimal('0.1'))} {t('supervision.unit.hours')}"
    return f"{number.normalize():f} {t('supervision.unit.' + unit) if unit in ('clients',) else unit}"


@dataclass(frozen=True)
class Figure:
    name: str
    label: str
    value: str
    target: str | None
    met: bool | None
    counted: str  # numerator / denominator, where both are known
    evidence: str  # the evidence page's URL


def figures(answer: dict[str, Any], t, query: dict[str, str]) -> list[Figure]:
    rows = []
    for i in answer.get("indicators", []):
        unit = i.get("unit")
        counted = "" if i.get("numerator") is None or i.get("denominator") is None else \
            f"{i['numerator']} / {i['denominator']}"
        rows.append(Figure(i["name"], t(f"supervision.indicator.{i['name']}"), shown(i.get("value"), unit, t),
                           shown(i["target"], unit, t) if i.get("target") is not None else None, i.get("met"),
                           counted, evidence_url(i["name"], query)))
    return rows


def evidence_url(name: str, query: dict[str, str], page: int = 1) -> str:
    return f"/supervision/evidence/{name}?" + urlencode({**query, "page": page})


def month_bounds(period: str) -> tuple[str, str]:
    """'2026-03' -> ('2026-03-01', '2026-03-31')."""
    year, month = (int(p) for p in period.split("-"))
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return first.isoformat(), date.fromordinal(following.toordinal() - 1).isoformat()


def trend_chart(name: str, answer: dict[str, Any], t, district: str) -> dict[str, Any]:
    """The ECharts option of one indicator's monthly trend; each point links to its evidence."""
    points = answer.get("points", [])
    unit_ratio = name not in ("median_time_to_accept", "waiting_over_90_days")
    data = []
    for p in points:
        start, end = month_bounds(p["period"])
        value = as_decimal(p.get("value"))
        data.append({"value": None if value is None else float(value * 100 if unit_ratio else value),
                     "href": evidence_url(name, {"district": district, "from": start, "to": end})})
    option: dict[str, Any] = {
        "aria": {"enabled": True},
        "title": {"text": t(f"supervision.indicator.{name}"), "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 8, "right": 16, "bottom": 8, "top": 40, "containLabel": True},
        "xAxis": {"type": "category", "data": [p["period"] for p in points]},
        "yAxis": {"type": "value", **({"max": 100, "axisLabel": {"formatter": "{value}%"}} if unit_ratio else {})},
        "series": [{"type": "line", "name": t(f"supervision.indicator.{name}"), "data": data, "symbolSize": 10,
                    "connectNulls": False}],
    }
    target = next((as_decimal(p.get("target")) for p in points if p.get("target") is not None), None)
    if target is not None:
        option["series"][0]["markLine"] = {"symbol": "none", "data": [{"yAxis": float(target * 100 if unit_ratio
                                                                                       else target),
                                                                        "name": t("supervision.target")}]}
    return option


def period_of(asked_from: str | None, asked_to: str | None) -> tuple[str, str]:
    """The period asked for (ISO dates), else this year up to today (Asia/Shanghai)."""
    today = datetime.now(LOCAL).date()

    def valid(text: str | None) -> str | None:
        try:
            return date.fromisoformat(text).isoformat() if text else None
        except ValueError:
            return None

    return valid(asked_from) or today.replace(month=1, day=1).isoformat(), valid(asked_to) or today.isoformat()


def problem(t, e: ServiceRefused) -> str:
    if e.status in UNREACHABLE:
        return t("supervision.unreachable", service=e.service)
    if e.status == 422 and e.fields:
        return t("supervision.refused", reason="; ".join(f"{f}: {r}" for f, r in e.fields.items()))
    return e.sentence(t)


# -- pages ---------------------------------------------------------------------------------

@router.get("/supervision")
async def dashboard(request: Request, district: str | None = None, to: str | None = None,
                    session=Depends(signed_in), svc: Services = Depends(services)) -> Response:
    t = t_of(request)
    start, end = period_of(request.query_params.get("from"), to)
    code = district_of(session, district)
    query = {"district": code, "from": start, "to": end}
    context: dict[str, Any] = {"district": code, "start": start, "end": end, "districts": [], "figures": [],
                               "charts": [], "problem": None}
    try:
        districts, answer = await asyncio.gather(svc.get("supervision", "/v1/districts"),
                                                 svc.get("supervision", "/v1/indicators", query))
        context["districts"] = [d for d in districts.get("districts", []) if d.get("visible", True)]
        context["figures"] = figures(answer, t, query)
        names = [f.name for f in context["figures"]] or list(INDICATORS)
        trends = await asyncio.gather(*(svc.get("supervision", "/v1/trends", {**query, "indicator": n, "by": "month"})
                                        for n in names))
        context["charts"] = [trend_chart(n, a, t, code) for n, a in zip(names, trends)]
    except ServiceRefused as e:
        if e.status == 403:
            raise
        context["problem"] = problem(t, e)
    return render(request, "supervision/dashboard.html", **context)


@router.get("/supervision/evidence/{name}")
async def evidence(request: Request, name: str, district: str | None = None, to: str | None = None, page: int = 1,
                   session=Depends(signed_in), svc: Services = Depends(services)) -> Response:
    t = t_of(request)
    start, end = period_of(request.query_params.get("from"), to)
    code = district_of(session, district)
    query = {"district": code, "from": start, "to": end}
    context: dict[str, Any] = {"name": name, "label": t(f"supervision.indicator.{name}"), "items": [], "page": max(page, 1),
                               "pages": 1, "total": 0, "problem": None, "query": query, "prev": None, "next": None,
                               "dashboard": "/supervision?" + urlencode(query)}
    try:
        answer = await svc.get("supervision", f"/v1/indicators/{name}/evidence",
                               {**query, "page": max(page, 1), "size": PAGE_SIZE})
        total, size = int(answer.get("total", 0)), int(answer.get("size", PAGE_SIZE)) or PAGE_SIZE
        pages = max(1, -(-total // size))
        context.update(items=answer.get("items", []), total=total, pages=pages, page=int(answer.get("page", page)))
        if context["page"] > 1:
            context["prev"] = evidence_url(name, query, context["page"] - 1)
        if context["page"] < pages:
            context["next"] = evidence_url(name, query, context["page"] + 1)
    except ServiceRefused as e:
        if e.status == 403:
            raise
        context["problem"] = problem(t, e)
    return render(request, "supervision/evidence.html", **context)
