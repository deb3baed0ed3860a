"""Referrals (area: referrals): a district's open referrals, the green channel (medical, to
be answered within a day) first, with the time left to answer; accept, decline with a reason
code, complete; and the client's rehabilitation record where their consent allows a hospital
to read it (assessment decides: its 403 becomes a clear notice).

Calls referral (GET /v1/referrals?district=, the answers) and assessment (the record)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from console.forms import field_errors, text
from console.services import ServiceRefused, Services
from console.web import NavItem, csrf_protected, render, services, signed_in, t_of

router = APIRouter()
NAV = (NavItem("/referrals", "referrals.nav", ("hospital", "station_worker", "district_admin")),)
DECLINE_REASONS = ("no_capacity", "not_suitable", "client_refused", "unreachable", "other")


@dataclass(frozen=True)
class Incoming:
    referral: Mapping[str, Any]
    green: bool  # the medical green channel
    minutes_left: int  # negative: overdue
    overdue: bool

    @property
    def time_left(self) -> tuple[int, int]:
        """(hours, minutes) left, or overdue by."""
        m = abs(self.minutes_left)
        return m // 60, m % 60


def incoming(referrals: list[Mapping[str, Any]], now: datetime) -> list[Incoming]:
    """Green channel first; then what must be answered soonest. Accepted ones (under way, to be
    completed) after those still waiting for an answer."""
    rows = []
    for r in referrals:
        left = int((datetime.fromisoformat(r["due_by"]) - now).total_seconds() // 60)
        waiting = r["status"] == "requested"
        rows.append(Incoming(r, r["kind"] == "medical", left, waiting and (left < 0 or bool(r.get("overdue")))))
    return sorted(rows, key=lambda i: (i.referral["status"] != "requested", not i.green, i.minutes_left))


@router.get("/referrals")
async def open_referrals(request: Request, session=Depends(signed_in), api: Services = Depends(services)):
    found: list[dict] = []
    for district in [d for d in session.user.districts if len(d) == 6 and d.isdigit()]:
        found += (await api.get("referral", "/v1/referrals", {"district": district}))["referrals"]
    return render(request, "referrals/list.html", rows=incoming(found, request.app.state.clock.now()),
                  reasons=DECLINE_REASONS)


async def referral_view(request: Request, referral_id: UUID, api: Services) -> dict[str, Any]:
    referral = await api.get("referral", f"/v1/referrals/{referral_id}")
    record, withheld = None, None
    try:
        record = await api.get("assessment", f"/v1/clients/{referral['client_id']}/record")
    except ServiceRefused as refused:
        if refused.status not in (403, 404):
            raise
        withheld = "referrals.record.no_consent" if refused.status == 403 else "referrals.record.unknown"
    [row] = incoming([referral], request.app.state.clock.now())
    return {"row": row, "referral": referral, "record": record, "withheld": withheld, "reasons": DECLINE_REASONS}


@router.get("/referrals/{referral_id}")
async def referral_page(request: Request, referral_id: UUID, session=Depends(signed_in),
                        api: Services = Depends(services)):
    return render(request, "referrals/referral.html", errors={}, **await referral_view(request, referral_id, api))


async def answer(request: Request, referral_id: UUID, api: Services, action: str, body: dict | None,
                 notice: str) -> Response:
    try:
        await api.post("referral", f"/v1/referrals/{referral_id}/{action}", body)
    except ServiceRefused as refused:
        status = refused.page_status
        return render(request, "referrals/referral.html", status_code=status,
                      errors=field_errors(refused, t_of(request)), **await referral_view(request, referral_id, api))
    request.state.session.flash.append(t_of(request)(notice))
    return RedirectResponse(f"/referrals/{referral_id}", status_code=303)


@router.post("/referrals/{referral_id}/accept", dependencies=[Depends(csrf_protected)])
async def accept(request: Request, referral_id: UUID, session=Depends(signed_in), api: Services = Depends(services)):
    return await answer(request, referral_id, api, "accept", None, "referrals.accepted")


@router.post("/referrals/{referral_id}/decline", dependencies=[Depends(csrf_protected)])
async def decline(request: Request, referral_id: UUID, session=Depends(signed_in), api: Services = Depends(services)):
    form = await request.form()
    body = {"reason": text(form, "reason"), "note": text(form, "note")}
    return await answer(request, referral_id, api, "decline", {k: v for k, v in body.items() if v is not None},
                        "referrals.declined")


@router.post("/referrals/{referral_id}/complete", dependencies=[Depends(csrf_protected)])
async def complete(request: Request, referral_id: UUID, session=Depends(signed_in), api: Services = Depends(services)):
    return await answer(request, referral_id, api, "complete", None, "referrals.completed")


MESSAGES = {
    "zh-CN": {
        "referrals.nav": "转介",
        "referrals.title": "待处理的转介",
        "referrals.lead": "绿色通道（复发就医）在最前，其次按剩余答复时间。",
        "referrals.none": "没有待处理的转介。",
        "referrals.green": "绿色通道",
        "referrals.client": "服务对象 {id}",
        "referrals.left": "剩余 {h} 小时 {m} 分",
        "referrals.overdue_by": "已超时 {h} 小时 {m} 分",
        "referrals.open": "处理",
        "referrals.detail": "转介 {id}",
        "referrals.kind": "类型",
        "referrals.reason": "原因",
        "referrals.status": "状态",
        "referrals.requested_at": "发起时间",
        "referrals.due_by": "答复期限",
        "referrals.accept": "接收",
        "referrals.decline": "不能接收",
        "referrals.decline.reason": "不能接收的原因",
        "referrals.decline.note": "备注（可选，不含个人信息）",
        "referrals.complete": "出院 / 完成",
        "referrals.accepted": "已接收转介。",
        "referrals.declined": "已答复不能接收。",
        "referrals.completed": "已完成转介。",
        "referrals.record": "康复记录",
        "referrals.record.no_consent": "服务对象未同意与卫生健康部门共享康复记录，因此不能在此查看。",
        "referrals.record.unknown": "评估服务尚无此服务对象的康复记录。",
        "ref_kind.medical": "就医（绿色通道）",
        "ref_kind.community": "出院回社区",
        "ref_kind.professional": "驿站间转介",
        "ref_kind.employment": "就业转介",
        "ref_status.requested": "待答复",
        "ref_status.accepted": "已接收",
        "ref_status.completed": "已完成",
        "ref_status.declined": "未接收",
        "ref_status.cancelled": "已取消",
        "ref_reason.relapse_detected": "发现复发",
        "ref_reason.hospital_discharge": "出院",
        "ref_reason.station_full": "驿站已满",
        "ref_reason.poor_fit": "不适合",
        "ref_reason.employment_ready": "具备就业条件",
        "ref_reason.other": "其他",
        "decline.no_capacity": "没有床位 / 名额",
        "decline.not_suitable": "不适合",
        "decline.client_refused": "本人拒绝",
        "decline.unreachable": "联系不上",
        "decline.other": "其他",
        "referrals.last_assessment": "最近评估",
    },
    "en": {
        "referrals.nav": "Referrals",
        "referrals.title": "Referrals to answer",
        "referrals.lead": "The green channel (relapse, to hospital) first, then by the time left to answer.",
        "referrals.none": "No open referrals.",
        "referrals.green": "Green channel",
        "referrals.client": "Client {id}",
        "referrals.left": "{h} h {m} min left",
        "referrals.overdue_by": "Overdue by {h} h {m} min",
        "referrals.open": "Answer",
        "referrals.detail": "Referral {id}",
        "referrals.kind": "Kind",
        "referrals.reason": "Reason",
        "referrals.status": "Status",
        "referrals.requested_at": "Requested at",
        "referrals.due_by": "Answer by",
        "referrals.accept": "Accept",
        "referrals.decline": "Decline",
        "referrals.decline.reason": "Why it cannot be accepted",
        "referrals.decline.note": "Note (optional, no personal details)",
        "referrals.complete": "Discharged / complete",
        "referrals.accepted": "Referral accepted.",
        "referrals.declined": "Referral declined.",
        "referrals.completed": "Referral completed.",
        "referrals.record": "Rehabilitation record",
        "referrals.record.no_consent": "The client has not consented to sharing their record with health services, so it cannot be shown here.",
        "referrals.record.unknown": "Assessment has no record of this client yet.",
        "ref_kind.medical": "Medical (green channel)",
        "ref_kind.community": "Back to the community",
        "ref_kind.professional": "Between stations",
        "ref_kind.employment": "Employment",
        "ref_status.requested": "Waiting for an answer",
        "ref_status.accepted": "Accepted",
        "ref_status.completed": "Completed",
        "ref_status.declined": "Declined",
        "ref_status.cancelled": "Cancelled",
        "ref_reason.relapse_detected": "Relapse detected",
        "ref_reason.hospital_discharge": "Hospital discharge",
        "ref_reason.station_full": "Station full",
        "ref_reason.poor_fit": "Poor fit",
        "ref_reason.employment_ready": "Ready for work",
        "ref_reason.other": "Other",
        "decline.no_capacity": "No bed or place",
        "decline.not_suitable": "Not suitable",
        "decline.client_refused": "The client refused",
        "decline.unreachable": "Unreachable",
        "decline.other": "Other",
        "referrals.last_assessment": "Latest assessment",
    },
}
