"""The district admin's pages (area: stations): stations with capacity and occupancy, the
waitlist with days waited (the 90-day rule), placing from it (more places at a station go
to the first in line; a re-verification after 90 days), referrals open and overdue, and
erasing an identity after a "check your answers" confirmation.

Calls (with the user's token): referral GET /v1/stations, GET /v1/waitlist, GET /v1/referrals
(a district's open ones), POST /v1/stations/{id}/capacity, POST /v1/clients/{id}/reverification;
intake POST /v1/clients/{id}/identity/erasure."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from console.services import ServiceRefused, Services
from console.web import DISTRICT, NavItem, csrf_protected, district_of, render, services, signed_in, t_of

router = APIRouter()
NAV = (NavItem("/stations", "stations.nav", ("district_admin",)),)
WAIT_LIMIT_DAYS = 90  # referral's rule: past it, a client is re-verified before a place is offered
WARN_DAYS = 75  # highlighted as close to the limit
ERASURE_REASONS = ("data_subject_request", "retention_expired", "legal_order", "recorded_in_error")
MESSAGES = {
    "zh-CN": {
        "stations.nav": "驿站与候补",
        "stations.title": "驿站、候补名单与转介",
        "stations.district": "辖区代码",
        "stations.show": "查看",
        "stations.stations": "驿站容量与在册人数",
        "stations.none": "本辖区还没有登记驿站。",
        "stations.name": "驿站",
        "stations.tier": "类型",
        "stations.capacity": "容量",
        "stations.occupancy": "在册",
        "stations.free": "空位",
        "stations.new_capacity": "新容量",
        "stations.change": "调整容量",
        "stations.capacity_hint": "增加的名额自动分给候补名单中该街道排在最前的人。",
        "stations.capacity_changed": "已调整 {name} 的容量为 {capacity}。",
        "stations.waitlist": "候补名单",
        "stations.waitlist_none": "没有人在候补。",
        "stations.position": "顺位",
        "stations.client": "服务对象编号",
        "stations.street": "街道",
        "stations.since": "开始候补",
        "stations.days": "已等待（天）",
        "stations.days_left": "距 90 天",
        "stations.rule": "候补超过 90 天的，须重新核实后才能再安置或转介。",
        "stations.lapsed": "超过 90 天、待重新核实",
        "stations.lapsed_none": "没有超过 90 天的候补。",
        "stations.reverify": "记录重新核实",
        "stations.reverified": "已记录重新核实：{status}",
        "stations.referrals": "未结转介",
        "stations.referrals_none": "没有未结的转介。",
        "stations.referrals_unavailable": "转介服务暂不提供按辖区的列表。",
        "stations.kind": "类型",
        "stations.status": "状态",
        "stations.due": "应答期限",
        "stations.overdue": "已逾期",
        "stations.in_time": "未逾期",
        "stations.erasure": "删除身份信息",
        "stations.erasure_lead": "应本人申请、保存期满、法律要求或录入错误时，销毁服务对象的身份信息。事件记录和审计链保留，身份读取此后一律返回“已删除”。",
        "stations.erasure_client": "服务对象编号",
        "stations.erasure_client_hint": "假名编号（UUID），不是姓名或身份证号。",
        "stations.erasure_reason": "原因",
        "stations.erasure_continue": "继续",
        "stations.erasure_check": "请核对后确认",
        "stations.erasure_warning": "此操作不可撤销：身份信息的密钥将被销毁，任何人都无法再读取此人的姓名、证件号、电话和地址。",
        "stations.erasure_change": "修改",
        "stations.erasure_confirm": "确认删除身份信息",
        "stations.erased": "已删除服务对象 {client} 的身份信息（{on}）。",
        "stations.client_invalid": "请输入服务对象的假名编号（UUID）。",
        "stations.reason_invalid": "请选择原因。",
        "stations.tier.ningkang_post": "宁康驿站", "stations.tier.ningkang_home": "宁康家园", "stations.tier.provincial_demo": "省级示范点",
        "stations.kind.medical": "医疗（绿色通道）", "stations.kind.community": "社区", "stations.kind.professional": "机构间",
        "stations.kind.employment": "就业",
        "stations.refstatus.requested": "待应答", "stations.refstatus.accepted": "已接收",
        "stations.placement.placed": "已安置", "stations.placement.waitlisted": "重新候补", "stations.placement.needs_reverification": "待重新核实",
        "stations.reason.data_subject_request": "本人申请", "stations.reason.retention_expired": "保存期满",
        "stations.reason.legal_order": "法律要求", "stations.reason.recorded_in_error": "录入错误",
    },
    "en": {
        "stations.nav": "Stations and waitlist",
        "stations.title": "Stations, waitlist and referrals",
        "stations.district": "District code",
        "stations.show": "Show",
        "stations.stations": "Station capacity and occupancy",
        "stations.none": "No station is registered in this district yet.",
        "stations.name": "Station",
        "stations.tier": "Tier",
        "stations.capacity": "Capacity",
        "stations.occupancy": "Placed",
        "stations.free": "Free",
        "stations.new_capacity": "New capacity",
        "stations.change": "Change capacity",
        "stations.capacity_hint": "New places go to the first in line on the waitlist for the station's streets.",
        "stations.capacity_changed": "The capacity of {name} is now {capacity}.",
        "stations.waitlist": "Waitlist",
        "stations.waitlist_none": "Nobody is waiting.",
        "stations.position": "Position",
        "stations.client": "Client id",
        "stations.street": "Street",
        "stations.since": "Waiting since",
        "stations.days": "Days waited",
        "stations.days_left": "Days to 90",
        "stations.rule": "A client who waited more than 90 days is re-verified before being placed or referred.",
        "stations.lapsed": "Waited more than 90 days: re-verification needed",
        "stations.lapsed_none": "Nobody has waited more than 90 days.",
        "stations.reverify": "Record re-verification",
        "stations.reverified": "Re-verification recorded: {status}",
        "stations.referrals": "Open referrals",
        "stations.referrals_none": "No referral is open.",
        "stations.referrals_unavailable": "The referral service does not list a district's referrals yet.",
        "stations.kind": "Kind",
        "stations.status": "Status",
        "stations.due": "Answer due",
        "stations.overdue": "Overdue",
        "stations.in_time": "In time",
        "stations.erasure": "Erase an identity",
        "stations.erasure_lead": "On the person's request, at the end of retention, by legal order or when recorded in error, destroy a client's identity. The events and the audit chain stay; reading the identity answers \"erased\" from then on.",
        "stations.erasure_client": "Client id",
        "stations.erasure_client_hint": "The pseudonymous id (a UUID), not a name or resident id.",
        "stations.erasure_reason": "Reason",
        "stations.erasure_continue": "Continue",
        "stations.erasure_check": "Check your answers before erasing",
        "stations.erasure_warning": "This cannot be undone: the identity's key is destroyed and nobody can read this person's name, id number, phone or address again.",
        "stations.erasure_change": "Change",
        "stations.erasure_confirm": "Erase the identity",
        "stations.erased": "The identity of client {client} was erased ({on}).",
        "stations.client_invalid": "Enter the client's pseudonymous id (a UUID).",
        "stations.reason_invalid": "Choose a reason.",
        "stations.tier.ningkang_post": "Ningkang post", "stations.tier.ningkang_home": "Ningkang home",
        "stations.tier.provincial_demo": "Provincial demonstration site",
        "stations.kind.medical": "Medical (green channel)", "stations.kind.community": "Community", "stations.kind.professional": "Between stations",
        "stations.kind.employment": "Employment",
        "stations.refstatus.requested": "Awaiting answer", "stations.refstatus.accepted": "Accepted",
        "stations.placement.placed": "placed", "stations.placement.waitlisted": "waiting again",
        "stations.placement.needs_reverification": "still needs re-verification",
        "stations.reason.data_subject_request": "The person's request", "stations.reason.retention_expired": "Retention expired",
        "stations.reason.legal_order": "Legal order", "stations.reason.recorded_in_error": "Recorded in error",
    },
}


# -- view models (pure: the services' answers -> what the page shows) ------------------------

@dataclass(frozen=True)
class StationRow:
    station_id: str
    name: str
    tier: str
    capacity: int
    occupancy: int
    free: int
    full: bool


def station_rows(answer: dict[str, Any]) -> list[StationRow]:
    return [StationRow(s["station_id"], s["name"], s["tier"], s["capacity"], s["occupancy"], s["free_places"],
                       s["free_places"] <= 0) for s in answer.get("stations", [])]


@dataclass(frozen=True)
class WaitingRow:
    position: int | None
    client_id: str
    street: str
    since: str
    days: int
    days_left: int  # to the limit; 0 or less: past it
    level: str  # ok | warn | over


def waiting_rows(answer: dict[str, Any]) -> tuple[list[WaitingRow], list[WaitingRow]]:
    """(waiting in line, waited past the limit), with how close each is to the 90 days."""
    def row(w: dict[str, Any], position: int | None, since: str) -> WaitingRow:
        days = int(w["days_waited"])
        level = "over" if days > WAIT_LIMIT_DAYS else "warn" if days >= WARN_DAYS else "ok"
        return WaitingRow(position, w["client_id"], w["street_code"], w[since], days, WAIT_LIMIT_DAYS - days, level)

    waiting = [row(w, w["position"], "waiting_since") for w in answer.get("waiting", [])]
    lapsed = [row(w, None, "waited_since") for w in answer.get("needs_reverification", [])]
    return waiting, lapsed


@dataclass(frozen=True)
class ReferralRow:
    referral_id: str
    client_id: str
    kind: str
    status: str
    due_by: str
    overdue: bool


def referral_rows(answer: dict[str, Any]) -> list[ReferralRow]:
    """Open referrals, overdue first, then by how soon they fall due."""
    rows = [ReferralRow(r["referral_id"], r["client_id"], r["kind"], r["status"], r["due_by"], bool(r["overdue"]))
            for r in answer.get("referrals", []) if r["status"] in ("requested", "accepted")]
    return sorted(rows, key=lambda r: (not r.overdue, r.due_by))


# -- pages ---------------------------------------------------------------------------------

@router.get("/stations")
async def index(request: Request, district: str | None = None, session=Depends(signed_in),
                svc: Services = Depends(services)) -> Response:
    return await page(request, session, svc, district)


async def page(request: Request, session, svc: Services, district: str | None, problem: str | None = None,
               status_code: int = 200) -> Response:
    """The page; `problem`: a service's refusal of the form just sent, said at the top."""
    code = district_of(session, district)
    stations = station_rows(await svc.get("referral", "/v1/stations", {"district": code}))
    waiting, lapsed = waiting_rows(await svc.get("referral", "/v1/waitlist", {"district": code}))
    try:
        referrals: list[ReferralRow] | None = referral_rows(
            await svc.get("referral", "/v1/referrals", {"district": code}))
    except ServiceRefused as e:
        if e.status not in (404, 422):
            raise
        referrals = None  # the service has no district list (yet): said plainly on the page
    return render(request, "stations/index.html", district=code, stations=stations, waiting=waiting,
                  lapsed=lapsed, referrals=referrals, limit=WAIT_LIMIT_DAYS, problem=problem,
                  status_code=status_code)


def back_to(district: str) -> RedirectResponse:
    return RedirectResponse(f"/stations?district={district if DISTRICT.match(district) else ''}", status_code=303)


@router.post("/stations/{station_id}/capacity", dependencies=[Depends(csrf_protected)])
async def change_capacity(request: Request, station_id: uuid.UUID, capacity: str = Form(""),
                          district: str = Form(""), session=Depends(signed_in),
                          svc: Services = Depends(services)) -> Response:
    t = t_of(request)
    try:
        station = await svc.post("referral", f"/v1/stations/{station_id}/capacity",
                                 {"capacity": int(capacity) if capacity.strip().isdigit() else capacity})
        session.flash.append(t("stations.capacity_changed", name=station["name"], capacity=station["capacity"]))
    except ServiceRefused as e:
        return await refused(request, session, svc, district, e)
    return back_to(district)


@router.post("/stations/reverification/{client_id}", dependencies=[Depends(csrf_protected)])
async def reverify(request: Request, client_id: uuid.UUID, district: str = Form(""), session=Depends(signed_in),
                   svc: Services = Depends(services)) -> Response:
    t = t_of(request)
    try:
        placement = await svc.post("referral", f"/v1/clients/{client_id}/reverification")
        session.flash.append(t("stations.reverified", status=t("stations.placement." + placement["status"])))
    except ServiceRefused as e:
        return await refused(request, session, svc, district, e)
    return back_to(district)


async def refused(request: Request, session, svc: Services, district: str, e: ServiceRefused) -> Response:
    """The page again, the service's answer at the top; nothing changed."""
    if e.status in (401, 403):
        raise e
    status = e.status if e.status in (404, 409, 410, 422) else 503
    return await page(request, session, svc, district, problem=refusal_sentence(t_of(request), e), status_code=status)


def refusal_sentence(t, e: ServiceRefused) -> str:
    """The service's answer in a sentence; for a field error, the service's own reason."""
    if e.status == 422 and e.fields:
        return t("error.invalid") + " " + "; ".join(e.fields.values())
    return e.sentence(t)


# -- erasure: the question, "check your answers", then the act ------------------------------

def erasure_errors(t, client: str, reason: str) -> dict[str, str]:
    errors = {}
    try:
        uuid.UUID(client.strip())
    except ValueError:
        errors["client"] = t("stations.client_invalid")
    if reason not in ERASURE_REASONS:
        errors["reason"] = t("stations.reason_invalid")
    return errors


@router.get("/stations/erasure")
async def erasure_form(request: Request, session=Depends(signed_in)) -> Response:
    return render(request, "stations/erasure.html", client="", reason="", errors={}, reasons=ERASURE_REASONS)


@router.post("/stations/erasure/check", dependencies=[Depends(csrf_protected)])
async def erasure_check(request: Request, client: str = Form(""), reason: str = Form(""),
                        session=Depends(signed_in)) -> Response:
    errors = erasure_errors(t_of(request), client, reason)
    if errors:
        return render(request, "stations/erasure.html", status_code=422, client=client, reason=reason, errors=errors,
                      reasons=ERASURE_REASONS)
    return render(request, "stations/erasure_check.html", client=client.strip(), reason=reason)


@router.post("/stations/erasure", dependencies=[Depends(csrf_protected)])
async def erase(request: Request, client: str = Form(""), reason: str = Form(""), session=Depends(signed_in),
                svc: Services = Depends(services)) -> Response:
    t = t_of(request)
    errors = erasure_errors(t, client, reason)
    if not errors:
        try:
            done = await svc.post("intake", f"/v1/clients/{uuid.UUID(client.strip())}/identity/erasure",
                                  {"reason": reason})
            session.flash.append(t("stations.erased", client=done["client_id"], on=done["erased_on"]))
            return RedirectResponse("/stations", status_code=303)
        except ServiceRefused as e:
            if e.status == 422 and e.fields:
                errors = {"reason" if "reason" in f else "client": r for f, r in e.fields.items()}
            else:
                errors = {"client": e.sentence(t)}
    return render(request, "stations/erasure.html", status_code=422, client=client, reason=reason, errors=errors,
                  reasons=ERASURE_REASONS)
