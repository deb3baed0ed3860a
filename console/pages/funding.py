"""The funding officer's page (area: funding): the purchaser's contracts with budget, accrued,
settled, paid and remaining as bars (ECharts, served by the console); settlements prepared by
one officer and approved by another (the page names who prepared it; whether the same person
may approve is the service's decision, shown as its answer); payments.

Every money command carries an `Idempotency-Key`: a fresh uuid put in the form when the page
is drawn, so a resubmitted form (a double click, a retry after a timeout) is answered with
the first answer instead of paying twice.

Calls (with the user's token): funding GET /v1/contracts?purchaser=, POST
/v1/contracts/{id}/settlements, …/settlements/{sid}/approval, …/payment, POST
/v1/contracts/{id}/payments; referral GET /v1/stations (the stations' names)."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from console.services import ServiceRefused, Services
from console.web import DISTRICT, NavItem, csrf_protected, district_of, render, services, signed_in, t_of

router = APIRouter()
NAV = (NavItem("/funding", "funding.nav", ("funding_officer", "district_admin")),)
FIGURES = ("budget", "accrued", "settled", "paid", "remaining")
MESSAGES = {
    "zh-CN": {
        "funding.nav": "购买服务资金",
        "funding.title": "购买服务合同与结算",
        "funding.purchaser": "购买方（辖区代码）",
        "funding.show": "查看",
        "funding.none": "该购买方还没有签订合同。",
        "funding.chart": "各合同资金情况（元）",
        "funding.contract": "合同",
        "funding.station": "驿站",
        "funding.period": "合同期",
        "funding.budget": "预算", "funding.accrued": "已发生", "funding.settled": "已结算",
        "funding.paid": "已支付", "funding.remaining": "剩余",
        "funding.awaiting": "待审批占用",
        "funding.sessions": "计费服务次数",
        "funding.settlements": "结算",
        "funding.no_settlements": "还没有结算。",
        "funding.s_period": "结算期", "funding.s_accrued": "期内发生", "funding.s_score": "绩效分",
        "funding.s_amount": "结算金额", "funding.s_status": "状态", "funding.prepared_by": "经办人",
        "funding.approved_by": "审批人",
        "funding.approve": "审批通过",
        "funding.decline": "退回",
        "funding.pay": "支付",
        "funding.approve_note": "由 {name} 经办；审批须由另一位经办人完成。",
        "funding.prepare": "发起结算",
        "funding.prepare_period": "结算期（如 2026-Q3 或 2026-10）",
        "funding.prepare_score": "绩效分（0–1）",
        "funding.prepare_reason": "评分依据",
        "funding.direct": "直接支付",
        "funding.amount": "金额（元）",
        "funding.payment_period": "支付所属期（如 2026-10）",
        "funding.submit_prepare": "发起结算",
        "funding.submit_pay": "支付",
        "funding.prepared": "已发起 {period} 的结算：{amount} 元，等待另一位经办人审批。",
        "funding.approved": "已审批 {period} 的结算（{amount} 元）。",
        "funding.declined": "已退回 {period} 的结算。",
        "funding.paid_notice": "已支付 {amount} 元；合同剩余 {remaining} 元。",
        "funding.status.pending": "待审批", "funding.status.approved": "已审批", "funding.status.declined": "已退回",
        "funding.status.paid": "已支付",
        "funding.payments": "支付记录",
        "funding.paid_on": "支付日期",
    },
    "en": {
        "funding.nav": "Purchase funding",
        "funding.title": "Purchase contracts and settlements",
        "funding.purchaser": "Purchaser (district code)",
        "funding.show": "Show",
        "funding.none": "This purchaser has signed no contract yet.",
        "funding.chart": "Money by contract (yuan)",
        "funding.contract": "Contract",
        "funding.station": "Station",
        "funding.period": "Period",
        "funding.budget": "Budget", "funding.accrued": "Accrued", "funding.settled": "Settled",
        "funding.paid": "Paid", "funding.remaining": "Remaining",
        "funding.awaiting": "Held for approval",
        "funding.sessions": "Sessions priced",
        "funding.settlements": "Settlements",
        "funding.no_settlements": "No settlement yet.",
        "funding.s_period": "Period", "funding.s_accrued": "Accrued in it", "funding.s_score": "Score",
        "funding.s_amount": "Amount", "funding.s_status": "Status", "funding.prepared_by": "Prepared by",
        "funding.approved_by": "Approved by",
        "funding.approve": "Approve",
        "funding.decline": "Send back",
        "funding.pay": "Pay",
        "funding.approve_note": "Prepared by {name}; another officer approves.",
        "funding.prepare": "Prepare a settlement",
        "funding.prepare_period": "Period (e.g. 2026-Q3 or 2026-10)",
        "funding.prepare_score": "Performance score (0–1)",
        "funding.prepare_reason": "Why this score",
        "funding.direct": "Direct payment",
        "funding.amount": "Amount (yuan)",
        "funding.payment_period": "Paid for (e.g. 2026-10)",
        "funding.submit_prepare": "Prepare",
        "funding.submit_pay": "Pay",
        "funding.prepared": "Settlement of {period} prepared: {amount} yuan, awaiting another officer's approval.",
        "funding.approved": "Settlement of {period} approved ({amount} yuan).",
        "funding.declined": "Settlement of {period} sent back.",
        "funding.paid_notice": "Paid {amount} yuan; {remaining} yuan remain on the contract.",
        "funding.status.pending": "Awaiting approval", "funding.status.approved": "Approved",
        "funding.status.declined": "Sent back", "funding.status.paid": "Paid",
        "funding.payments": "Payments",
        "funding.paid_on": "Paid on",
    },
}


# -- view models ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SettlementRow:
    settlement_id: str
    period: str
    accrued: str
    score: str
    amount: str
    status: str
    prepared_by: str  # a name where the console knows the staff id, else the id
    approved_by: str | None
    prepared_by_me: bool


@dataclass(frozen=True)
class ContractView:
    contract_id: str
    station: str
    period: str
    figures: dict[str, str]  # budget, accrued, settled, paid, remaining (yuan, as the service wrote them)
    awaiting: str
    sessions: int
    settlements: list[SettlementRow]
    payments: list[dict[str, Any]]


def contract_views(answer: dict[str, Any], station_names: dict[str, str], staff: dict[str, str],
                   me: str) -> list[ContractView]:
    views = []
    for c in answer.get("contracts", []):
        settlements = [SettlementRow(s["settlement_id"], s["period"], s["accrued"], s["performance_score"], s["amount"],
                                     s["status"], staff.get(s["prepared_by"], s["prepared_by"]),
                                     staff.get(s["approved_by"], s["approved_by"]) if s.get("approved_by") else None,
                                     s["prepared_by"] == me)
                       for s in c.get("settlements", [])]
        views.append(ContractView(c["contract_id"], station_names.get(c["station_id"], c["station_id"]),
                                  f"{c['period_start']} – {c['period_end']}", {f: c[f] for f in FIGURES},
                                  c.get("awaiting_approval", "0.00"), c.get("sessions_accrued", 0), settlements,
                                  c.get("payments", [])))
    return views


def bars(views: list[ContractView], t) -> dict[str, Any]:
    """The ECharts option: one group of bars per contract, one bar per figure."""
    return {
        "aria": {"enabled": True},
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [t(f"funding.{f}") for f in FIGURES], "top": 0},
        "grid": {"left": 8, "right": 8, "bottom": 8, "top": 56, "containLabel": True},
        "xAxis": {"type": "category", "data": [v.station for v in views],
                  "axisLabel": {"interval": 0, "overflow": "break", "width": 140}},
        "yAxis": {"type": "value"},
        "series": [{"name": t(f"funding.{f}"), "type": "bar",
                    "data": [float(Decimal(v.figures[f])) for v in views]} for f in FIGURES],
    }


def staff_names(path: Path) -> dict[str, str]:
    """Staff id -> name, from the demo staff list where there is one (development); without
    it the page shows staff ids."""
    try:
        return {u["sub"]: u["name"] for u in json.loads(path.read_text()).get("users", [])}
    except (OSError, ValueError):
        return {}


# -- pages ---------------------------------------------------------------------------------

@router.get("/funding")
async def index(request: Request, purchaser: str | None = None, session=Depends(signed_in),
                svc: Services = Depends(services)) -> Response:
    return await page(request, session, svc, purchaser)


async def page(request: Request, session, svc: Services, purchaser: str | None, draft: dict | None = None,
               status_code: int = 200, problem: str | None = None) -> Response:
    """The page; `draft`: a refused settlement form, drawn open again with its input and the
    service's reasons beside the fields; `problem`: a service's refusal, said at the top."""
    code = district_of(session, purchaser)
    answer = await svc.get("funding", "/v1/contracts", {"purchaser": code})
    try:
        stations = await svc.get("referral", "/v1/stations", {"district": code})
        names = {s["station_id"]: s["name"] for s in stations.get("stations", [])}
    except ServiceRefused:
        names = {}  # the ids stand in for the names
    views = contract_views(answer, names, staff_names(request.app.state.settings.demo_users), session.user.sub)
    return render(request, "funding/index.html", purchaser=code, contracts=views, figures=FIGURES,
                  chart=bars(views, t_of(request)) if views else None, new_key=lambda: str(uuid.uuid4()),
                  me=session.user.sub, draft=draft or {}, status_code=status_code, problem=problem)


def back(purchaser: str) -> RedirectResponse:
    return RedirectResponse(f"/funding?purchaser={purchaser if DISTRICT.match(purchaser) else ''}#money",
                            status_code=303)


async def refused(request: Request, session, svc: Services, purchaser: str, e: ServiceRefused) -> Response:
    """The page again, the service's answer at the top (e.g. the preparer may not approve); nothing changed."""
    if e.status in (401, 403):
        raise e
    status = e.status if e.status in (404, 409, 410, 422) else 503
    return await page(request, session, svc, purchaser, status_code=status, problem=said(t_of(request), e))


def said(t, e: ServiceRefused) -> str:
    if e.status == 422 and e.fields:
        return t("error.invalid") + " " + "; ".join(f"{f}: {r}" for f, r in e.fields.items())
    return e.sentence(t)


@router.post("/funding/contracts/{contract_id}/settlements", dependencies=[Depends(csrf_protected)])
async def prepare(request: Request, contract_id: uuid.UUID, period: str = Form(""), score: str = Form(""),
                  reason: str = Form(""), purchaser: str = Form(""), key: str = Form(""),
                  session=Depends(signed_in), svc: Services = Depends(services)) -> Response:
    t = t_of(request)
    try:
        s = await svc.post("funding", f"/v1/contracts/{contract_id}/settlements",
                           {"period": period.strip(), "performance_score": score.strip(),
                            "reasons": [reason.strip()] if reason.strip() else []}, idempotency_key=key or None)
        session.flash.append(t("funding.prepared", period=s["period"], amount=s["amount"]))
    except ServiceRefused as e:
        if e.status != 422 or not e.fields:
            return await refused(request, session, svc, purchaser, e)
        # The input stays; the refused command changed nothing, so the form gets a fresh key.
        errors = {{"performance_score": "score", "reasons": "reason"}.get(f.split(".")[0], "period"): r
                  for f, r in e.fields.items()}
        return await page(request, session, svc, purchaser, status_code=422, draft={
            "contract_id": str(contract_id), "period": period, "score": score, "reason": reason, "errors": errors})
    return back(purchaser)


@router.post("/funding/contracts/{contract_id}/settlements/{settlement_id}/{act}",
             dependencies=[Depends(csrf_protected)])
async def settlement_act(request: Request, contract_id: uuid.UUID, settlement_id: uuid.UUID, act: str,
                         purchaser: str = Form(""), key: str = Form(""), session=Depends(signed_in),
                         svc: Services = Depends(services)) -> Response:
    t = t_of(request)
    path = {"approval": "approval", "decline": "decline", "payment": "payment"}.get(act)
    if path is None:
        return render(request, "error.html", status_code=404, message=t("error.page_not_found"))
    try:
        answer = await svc.post("funding", f"/v1/contracts/{contract_id}/settlements/{settlement_id}/{path}",
                                idempotency_key=key or None)
        if act == "payment":
            session.flash.append(t("funding.paid_notice", amount=answer["amount"], remaining=answer["remaining"]))
        else:
            session.flash.append(t("funding.approved" if act == "approval" else "funding.declined",
                                   period=answer["period"], amount=answer["amount"]))
    except ServiceRefused as e:
        return await refused(request, session, svc, purchaser, e)
    return back(purchaser)


@router.post("/funding/contracts/{contract_id}/payments", dependencies=[Depends(csrf_protected)])
async def pay(request: Request, contract_id: uuid.UUID, amount: str = Form(""), period: str = Form(""),
              purchaser: str = Form(""), key: str = Form(""), session=Depends(signed_in),
              svc: Services = Depends(services)) -> Response:
    t = t_of(request)
    try:
        Decimal(amount.strip())
    except InvalidOperation:
        return await page(request, session, svc, purchaser, status_code=422,
                          problem=t("error.invalid") + f" {t('funding.amount')}: {amount[:20]}")
    try:
        answer = await svc.post("funding", f"/v1/contracts/{contract_id}/payments",
                                {"amount": amount.strip(), "period": period.strip()}, idempotency_key=key or None)
        session.flash.append(t("funding.paid_notice", amount=answer["amount"], remaining=answer["remaining"]))
    except ServiceRefused as e:
        return await refused(request, session, svc, purchaser, e)
    return back(purchaser)
