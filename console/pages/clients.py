"""The station worker's clients (area: clients): the working list with what is due next, a
new application, consent and registration, then the client's page — assessment, plan, a
session in two taps, a follow-up contact, relocation, exit — and the audited identity read.

Calls intake (applications, the client register, the identity read), assessment (the
working list, the record and its commands) and referral (the client's placement), always
with the signed-in worker's own token. Only pseudonymous ids are ever in a URL; personal
identifiers go in a POST body to intake and come back only on the identity page, which the
browser is told not to keep."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from console.forms import checked, field_errors, text
from console.services import ServiceRefused, Services
from console.web import NavItem, csrf_protected, render, services, signed_in, t_of

router = APIRouter()
NAV = (NavItem("/clients", "clients.nav", ("station_worker",)),)

HARDSHIP = ("disability_subsidy", "extreme_poverty", "minimum_living_allowance", "marginal", "expenditure_hardship")
SOURCES = ("self", "guardian", "hospital_discharge", "community")
RELATIONSHIPS = ("parent", "spouse", "child", "sibling", "other_relative", "appointed_guardian")
PURPOSES = ("service_delivery", "guardian_contact", "medical_referral", "legal_request")
EXIT_REASONS = ("recovered", "moved_away", "transferred", "withdrew", "died")
BASIC_SERVICES = ("medication_training", "relapse_prevention", "physical_health", "daily_living_skills",
                  "social_skills", "vocational_rehabilitation", "psychological_rehabilitation", "peer_support",
                  "family_support", "case_service", "group_service", "community_service", "home_service")
CONTACT_METHODS = ("phone", "home_visit", "outpatient_visit", "video_call")
STABILITIES = ("stable", "basically_stable", "unstable")


# --- view models (pure) ----------------------------------------------------------------------

@dataclass(frozen=True)
class Due:
    what: str  # baseline, plan, reassessment, contact: a message key suffix
    on: date | None  # None: nothing dated yet (a baseline assessment is awaited)
    overdue: bool


@dataclass(frozen=True)
class Row:
    client_id: str
    short_id: str
    street_code: str
    category: str | None
    relapse: bool
    due: Due | None


def next_due(record: Mapping[str, Any], today: date) -> Due | None:
    """What the worker should do next for this client, from assessment's record (or its
    summary): a client never assessed needs the baseline first, by the plan's last day (the
    plan needs it); otherwise the earliest dated deadline."""
    if record.get("status") != "active":
        return None
    due = record.get("due") or {}
    dated = [(what, date.fromisoformat(due[key])) for what, key in
             (("plan", "plan_due_on"), ("reassessment", "reassessment_due_on"), ("contact", "contact_due_on"))
             if due.get(key)]
    if not record.get("assessments"):  # a count (summary) or a list (record)
        plan_by = date.fromisoformat(due["plan_due_on"]) if due.get("plan_due_on") else None
        return Due("baseline", plan_by, bool(plan_by and plan_by < today))
    if not dated:
        return None
    what, on = min(dated, key=lambda d: d[1])
    overdue_on = due.get("reassessment_overdue_on") if what == "reassessment" else None
    return Due(what, on, on < today or bool(overdue_on and date.fromisoformat(overdue_on) <= today))


def caseload(records: list[Mapping[str, Any]], today: date, query: str = "") -> list[Row]:
    """The working list: overdue first, then by the next date; those with nothing due last.
    `query` matches the start of the pseudonymous id (what the worker reads off a paper file)."""
    q = query.strip().lower()
    rows = [Row(r["client_id"], r["client_id"][:8], r["street_code"], r.get("service_category"),
                bool(r.get("relapse_episode_open")), next_due(r, today))
            for r in records if not q or r["client_id"].lower().startswith(q)]
    return sorted(rows, key=lambda r: (r.due is None, not (r.due and r.due.overdue),
                                       (r.due.on if r.due and r.due.on else date.max), r.client_id))


def application_body(form: Mapping[str, str], hardship: list[str]) -> dict[str, Any]:
    """intake's ApplicationIn from the form (empty fields left out: the service names them)."""
    applicant = {k: text(form, f"applicant_{k}") for k in ("name", "id_number", "birth_date", "sex", "phone", "address")}
    guardian = {k: text(form, f"guardian_{k}") for k in ("name", "id_number", "relationship", "phone")}
    body: dict[str, Any] = {
        "source": text(form, "source"),
        "applicant": {k: v for k, v in applicant.items() if v is not None},
        "lacks_capacity": checked(form, "lacks_capacity"),
        "district_code": text(form, "district_code"),
        "street_code": text(form, "street_code"),
        "hardship_categories": [h for h in hardship if h in HARDSHIP],
    }
    if any(guardian.values()):
        body["guardian"] = {k: v for k, v in guardian.items() if v is not None}
    return {k: v for k, v in body.items() if v is not None}


def staff_id(session) -> str:
    return session.user.sub  # a staff id, never a name: what the services record as the assessor


# --- pages -----------------------------------------------------------------------------------

def today(request: Request) -> date:
    return request.app.state.clock.today()


def working_districts(session) -> list[str]:
    return [d for d in session.user.districts if len(d) == 6 and d.isdigit()]


@router.get("/clients")
async def working_list(request: Request, q: str = "", session=Depends(signed_in), api: Services = Depends(services)):
    records: list[dict] = []
    for district in working_districts(session):
        records += (await api.get("assessment", "/v1/records", {"district": district}))["records"]
    rows = caseload(records, today(request), q)
    template = "clients/_caseload.html" if request.headers.get("hx-request") else "clients/list.html"
    return render(request, template, rows=rows, q=q, total=len(records), today=today(request))


@router.get("/clients/new")
async def new_application(request: Request, session=Depends(signed_in)):
    districts = working_districts(session)
    return render(request, "clients/application_new.html", values={"district_code": districts[0] if districts else "",
                                                                     "source": "community"},
                  errors={}, districts=districts, hardship=[])


@router.post("/clients/new", dependencies=[Depends(csrf_protected)])
async def submit_application(request: Request, session=Depends(signed_in), api: Services = Depends(services)):
    form = await request.form()
    hardship = form.getlist("hardship_categories")
    try:
        created = await api.post("intake", "/v1/applications", application_body(form, hardship))
    except ServiceRefused as refused:
        # The worker's input is kept (it is only in this response, never stored or logged here).
        return render(request, "clients/application_new.html", status_code=refused.page_status, values=dict(form), hardship=hardship,
                      errors=field_errors(refused, t_of(request)), districts=working_districts(session))
    return RedirectResponse(f"/applications/{created['application_id']}", status_code=303)


@router.get("/applications/{application_id}")
async def application_page(request: Request, application_id: UUID, session=Depends(signed_in),
                           api: Services = Depends(services)):
    application = await api.get("intake", f"/v1/applications/{application_id}")
    return render(request, "clients/application.html", application=application, errors={})


@router.post("/applications/{application_id}/consent", dependencies=[Depends(csrf_protected)])
async def record_consent(request: Request, application_id: UUID, session=Depends(signed_in),
                         api: Services = Depends(services)):
    form = await request.form()
    body = {"signed_by": text(form, "signed_by"),
            "scope": {s: checked(form, s) for s in ("rehabilitation_services", "share_with_health",
                                                     "share_with_disability_and_employment")}}
    try:
        await api.post("intake", f"/v1/applications/{application_id}/consent", {k: v for k, v in body.items() if v})
    except ServiceRefused as refused:
        application = await api.get("intake", f"/v1/applications/{application_id}")
        return render(request, "clients/application.html", status_code=refused.page_status, application=application,
                      errors=field_errors(refused, t_of(request)))
    return RedirectResponse(f"/applications/{application_id}", status_code=303)


@router.post("/applications/{application_id}/register", dependencies=[Depends(csrf_protected)])
async def register(request: Request, application_id: UUID, session=Depends(signed_in),
                   api: Services = Depends(services)):
    try:
        created = await api.post("intake", f"/v1/applications/{application_id}/register")
    except ServiceRefused as refused:
        application = await api.get("intake", f"/v1/applications/{application_id}")
        return render(request, "clients/application.html", status_code=refused.page_status, application=application,
                      errors=field_errors(refused, t_of(request)))
    return RedirectResponse(f"/clients/{created['client_id']}", status_code=303)


async def optional(call) -> Any | None:
    """A read that may not have arrived yet: None for a 404 (the event is on its way)."""
    try:
        return await call
    except ServiceRefused as refused:
        if refused.status == 404:
            return None
        raise


async def client_view(request: Request, client_id: UUID, api: Services) -> dict[str, Any]:
    """Everything the client's page shows: intake's summary, assessment's record and referral's
    placement — the last two arrive by events after registration, so each may still be None."""
    client, record, placement = await asyncio.gather(  # three services, asked at once
        api.get("intake", f"/v1/clients/{client_id}"),
        optional(api.get("assessment", f"/v1/clients/{client_id}/record")),
        optional(api.get("referral", f"/v1/clients/{client_id}/placement")))
    return {"client": client, "record": record, "placement": placement, "today": today(request),
            "due": next_due(record, today(request)) if record else None,
            "services_offered": record["plan"]["services"] if record and record.get("plan") else [],
            "basic_services": BASIC_SERVICES, "purposes": PURPOSES, "contact_methods": CONTACT_METHODS}


@router.get("/clients/{client_id}")
async def client_page(request: Request, client_id: UUID, session=Depends(signed_in),
                      api: Services = Depends(services)):
    return render(request, "clients/client.html", errors={}, **await client_view(request, client_id, api))


@router.get("/clients/{client_id}/work")
async def client_work(request: Request, client_id: UUID, session=Depends(signed_in),
                      api: Services = Depends(services)):
    """The part of the client's page that waits for assessment and referral (htmx polls it)."""
    return render(request, "clients/_work.html", errors={}, **await client_view(request, client_id, api))


async def command(request: Request, client_id: UUID, api: Services, service: str, path: str, body: dict,
                  notice: str, form_template: str | None = None, **form_context: Any) -> Response:
    """POST a command for the client; back to the client's page with a notice, or (refused) the
    form again with the errors beside the fields and the input kept."""
    t = t_of(request)
    try:
        await api.post(service, path, body)
    except ServiceRefused as refused:
        errors = field_errors(refused, t)
        status = refused.page_status
        if form_template:
            return render(request, form_template, status_code=status, errors=errors, client_id=client_id,
                          **form_context)
        return render(request, "clients/client.html", status_code=status, errors=errors,
                      **await client_view(request, client_id, api))
    request.state.session.flash.append(t(notice))
    return RedirectResponse(f"/clients/{client_id}", status_code=303)


@router.post("/clients/{client_id}/sessions", dependencies=[Depends(csrf_protected)])
async def record_session(request: Request, client_id: UUID, session=Depends(signed_in),
                         api: Services = Depends(services)):
    """The second tap: today's session of the service on the button, at the client's station."""
    form = await request.form()
    body = {"service_type": text(form, "service_type"), "station_id": text(form, "station_id"),
            "session_date": text(form, "session_date") or today(request).isoformat(),
            "minutes": int(form.get("minutes") or 60) if (form.get("minutes") or "60").isdigit() else form.get("minutes"),
            "mode": text(form, "mode") or "individual", "attendance": text(form, "attendance") or "attended"}
    return await command(request, client_id, api, "assessment", f"/v1/clients/{client_id}/sessions",
                         {k: v for k, v in body.items() if v is not None}, "clients.session.done")


@router.post("/clients/{client_id}/contacts", dependencies=[Depends(csrf_protected)])
async def record_contact(request: Request, client_id: UUID, session=Depends(signed_in),
                         api: Services = Depends(services)):
    form = await request.form()
    body = {"method": text(form, "method"), "outcome": text(form, "outcome"), "staff": staff_id(session)}
    return await command(request, client_id, api, "assessment", f"/v1/clients/{client_id}/contacts",
                         {k: v for k, v in body.items() if v is not None}, "clients.contact.done")


@router.get("/clients/{client_id}/assessment")
async def assessment_form(request: Request, client_id: UUID, session=Depends(signed_in),
                          api: Services = Depends(services)):
    record = await api.get("assessment", f"/v1/clients/{client_id}/record")
    kind = "process" if record["assessments"] else "baseline"
    return render(request, "clients/assessment.html", client_id=client_id, errors={},
                  values={"kind": kind, "assessed_on": today(request).isoformat()}, stabilities=STABILITIES)


@router.post("/clients/{client_id}/assessment", dependencies=[Depends(csrf_protected)])
async def complete_assessment(request: Request, client_id: UUID, session=Depends(signed_in),
                              api: Services = Depends(services)):
    form = await request.form()
    body = {"kind": text(form, "kind"), "stability": text(form, "stability"),
            "risk_level": _number(form, "risk_level"), "willing": form.get("willing") == "yes",
            "functional_score": _number(form, "functional_score"), "assessor": staff_id(session),
            "assessed_on": text(form, "assessed_on")}
    return await command(request, client_id, api, "assessment", f"/v1/clients/{client_id}/assessments",
                         {k: v for k, v in body.items() if v is not None}, "clients.assessment.done",
                         "clients/assessment.html", values=dict(form), stabilities=STABILITIES)


@router.get("/clients/{client_id}/plan")
async def plan_form(request: Request, client_id: UUID, session=Depends(signed_in), api: Services = Depends(services)):
    record = await api.get("assessment", f"/v1/clients/{client_id}/record")
    plan = record.get("plan") or {}
    return render(request, "clients/plan.html", client_id=client_id, errors={}, basic_services=BASIC_SERVICES,
                  values={"goals": "\n".join(plan.get("goals", [])), "agreed_by": plan.get("agreed_by", "client")},
                  chosen=plan.get("services", []))


@router.post("/clients/{client_id}/plan", dependencies=[Depends(csrf_protected)])
async def agree_plan(request: Request, client_id: UUID, session=Depends(signed_in), api: Services = Depends(services)):
    form = await request.form()
    chosen = [s for s in form.getlist("services") if s in BASIC_SERVICES]
    goals = [g.strip() for g in (form.get("goals") or "").splitlines() if g.strip()]
    body = {"goals": goals, "services": chosen, "agreed_by": text(form, "agreed_by")}
    return await command(request, client_id, api, "assessment", f"/v1/clients/{client_id}/plan",
                         {k: v for k, v in body.items() if v is not None}, "clients.plan.done", "clients/plan.html",
                         values=dict(form), chosen=chosen, basic_services=BASIC_SERVICES)


@router.get("/clients/{client_id}/relocation")
async def relocation_form(request: Request, client_id: UUID, session=Depends(signed_in)):
    return render(request, "clients/relocation.html", client_id=client_id, errors={}, values={})


@router.post("/clients/{client_id}/relocation", dependencies=[Depends(csrf_protected)])
async def relocate(request: Request, client_id: UUID, session=Depends(signed_in), api: Services = Depends(services)):
    form = await request.form()
    body = {"district_code": text(form, "district_code"), "street_code": text(form, "street_code")}
    return await command(request, client_id, api, "intake", f"/v1/clients/{client_id}/relocation",
                         {k: v for k, v in body.items() if v is not None}, "clients.relocation.done",
                         "clients/relocation.html", values=dict(form))


@router.get("/clients/{client_id}/exit")
async def exit_form(request: Request, client_id: UUID, session=Depends(signed_in)):
    return render(request, "clients/exit.html", client_id=client_id, errors={}, values={}, reasons=EXIT_REASONS)


@router.post("/clients/{client_id}/exit", dependencies=[Depends(csrf_protected)])
async def exit_programme(request: Request, client_id: UUID, session=Depends(signed_in),
                         api: Services = Depends(services)):
    form = await request.form()
    return await command(request, client_id, api, "intake", f"/v1/clients/{client_id}/exit",
                         {"reason": text(form, "reason")} if text(form, "reason") else {}, "clients.exit.done",
                         "clients/exit.html", values=dict(form), reasons=EXIT_REASONS)


@router.post("/clients/{client_id}/identity", dependencies=[Depends(csrf_protected)])
async def read_identity(request: Request, client_id: UUID, session=Depends(signed_in),
                        api: Services = Depends(services)):
    """The audited identity read: a POST (so nothing lands in a URL or the history), the purpose
    asked for, and an answer the browser must not keep."""
    form = await request.form()
    purpose = text(form, "purpose")
    if purpose not in PURPOSES:
        return render(request, "clients/client.html", status_code=422,
                      errors={"purpose": t_of(request)("clients.identity.purpose_needed")},
                      **await client_view(request, client_id, api))
    identity = await api.get("intake", f"/v1/clients/{client_id}/identity", {"purpose": purpose})
    return render(request, "clients/identity.html", headers={"Cache-Control": "no-store"}, identity=identity,
                  client_id=client_id)


def _number(form: Mapping[str, str], name: str) -> int | str | None:
    """A whole number as a number; anything else as typed, for the service to refuse by field."""
    value = text(form, name)
    return int(value) if value is not None and value.lstrip("-").isdigit() else value


MESSAGES = {
    "zh-CN": {
        "clients.nav": "我的服务对象",
        "clients.title": "我的服务对象",
        "clients.lead": "按待办排序：逾期的在最前。列表只显示化名编号；查看身份信息需说明用途并会被记录。",
        "clients.search": "按编号查找",
        "clients.search.hint": "输入化名编号的开头几位",
        "clients.new": "新的申请",
        "clients.none": "没有符合的服务对象。",
        "clients.count": "共 {n} 人",
        "clients.id": "编号",
        "clients.street": "街道",
        "clients.category": "服务类别",
        "clients.next": "下一步",
        "clients.relapse": "复发期",
        "clients.overdue": "已逾期",
        "clients.due.baseline": "需要首次评估",
        "clients.due.plan": "制定康复计划",
        "clients.due.reassessment": "复评",
        "clients.due.contact": "随访",
        "clients.due.by": "截止 {on}",
        "clients.nothing_due": "暂无待办",
        "clients.app.title": "新的申请",
        "clients.app.lead": "申请人的身份信息只提交给受理服务，加密保存；本控制台不保留。",
        "clients.app.source": "申请来源",
        "source.self": "本人申请",
        "source.guardian": "监护人申请",
        "source.hospital_discharge": "医院出院转介",
        "source.community": "社区发现",
        "clients.app.applicant": "申请人",
        "clients.app.name": "姓名",
        "clients.app.id_number": "居民身份证号码",
        "clients.app.id_number.hint": "18 位，最后一位可能是 X",
        "clients.app.birth_date": "出生日期",
        "clients.app.sex": "性别",
        "sex.male": "男",
        "sex.female": "女",
        "clients.app.phone": "电话",
        "clients.app.address": "住址",
        "clients.app.lacks_capacity": "申请人缺乏民事行为能力（需监护人）",
        "clients.app.guardian": "监护人",
        "clients.app.guardian.hint": "未成年人、缺乏行为能力者或由监护人申请时必填",
        "clients.app.relationship": "与申请人关系",
        "relationship.parent": "父母",
        "relationship.spouse": "配偶",
        "relationship.child": "子女",
        "relationship.sibling": "兄弟姐妹",
        "relationship.other_relative": "其他亲属",
        "relationship.appointed_guardian": "指定监护人",
        "clients.app.where": "居住地",
        "clients.app.district": "区县代码",
        "clients.app.street": "街道代码",
        "clients.app.street.hint": "9 位，例如 110105001",
        "clients.app.hardship": "困难类别",
        "hardship.disability_subsidy": "残疾人补贴",
        "hardship.extreme_poverty": "特困",
        "hardship.minimum_living_allowance": "低保",
        "hardship.marginal": "低保边缘",
        "hardship.expenditure_hardship": "支出型困难",
        "clients.app.submit": "提交申请",
        "clients.application.title": "申请",
        "clients.application.status": "状态",
        "app_status.submitted": "已提交，待签知情同意",
        "app_status.consented": "已签知情同意，可登记",
        "app_status.registered": "已登记",
        "app_status.withdrawn": "已撤回",
        "app_status.rejected": "已驳回",
        "clients.application.due": "应在 {on} 前登记",
        "clients.consent.title": "知情同意",
        "clients.consent.signed_by": "签署人",
        "signed_by.self": "本人",
        "signed_by.guardian": "监护人",
        "clients.consent.scope": "同意范围",
        "scope.rehabilitation_services": "接受社区康复服务",
        "scope.share_with_health": "与卫生健康部门（医院）共享康复记录",
        "scope.share_with_disability_and_employment": "与残联、就业部门共享",
        "clients.consent.submit": "记录知情同意",
        "clients.register.submit": "登记为服务对象",
        "clients.register.lead": "登记后将生成化名编号，评估与安置服务随后收到。",
        "clients.client.title": "服务对象 {id}",
        "clients.client.registered": "登记于 {on}",
        "clients.client.exited": "已退出服务",
        "clients.placement": "安置",
        "placement.placed": "已安置于驿站",
        "placement.waitlisted": "候补中，第 {n} 位",
        "placement.needs_reverification": "候补超过 90 天，需重新核实",
        "placement.not_placed": "尚未安置",
        "placement.exited": "已退出",
        "placement.in_hospital": "住院中，床位保留",
        "clients.record.pending": "评估服务尚未收到登记信息（正在送达）。",
        "clients.session.title": "记录今天的服务",
        "clients.session.lead": "点一下即记录：今天、60 分钟、个别服务、已到场。",
        "clients.session.no_station": "尚未安置到驿站，暂不能记录服务。",
        "clients.session.done": "已记录服务。",
        "clients.contact.title": "随访",
        "clients.contact.reached": "联系上了",
        "clients.contact.not_reached": "未联系上",
        "clients.contact.done": "已记录随访。",
        "method.phone": "电话",
        "method.home_visit": "入户",
        "method.outpatient_visit": "门诊",
        "method.video_call": "视频",
        "clients.actions": "其他操作",
        "clients.assessment.title": "评估",
        "clients.assessment.kind": "评估类型",
        "kind.baseline": "首次评估",
        "kind.process": "过程评估",
        "kind.discharge": "结案评估",
        "clients.assessment.stability": "病情稳定程度",
        "clients.assessment.risk": "危险性等级（0–5）",
        "clients.assessment.willing": "本人愿意参加社区康复",
        "clients.assessment.score": "个人和社会功能评分（PSP，0–100）",
        "clients.assessment.on": "评估日期",
        "clients.assessment.submit": "保存评估",
        "clients.assessment.done": "已保存评估。",
        "clients.plan.title": "康复计划",
        "clients.plan.goals": "目标（每行一个）",
        "clients.plan.services": "提供的基本服务",
        "clients.plan.agreed_by": "确认人",
        "agreed_by.client": "本人",
        "agreed_by.guardian": "监护人",
        "clients.plan.submit": "保存计划",
        "clients.plan.done": "已保存康复计划。",
        "clients.plan.current": "当前计划（第 {v} 版）",
        "clients.plan.none": "尚无康复计划。",
        "clients.relocation.title": "迁居",
        "clients.relocation.submit": "记录迁居",
        "clients.relocation.done": "已记录迁居。",
        "clients.exit.title": "退出服务",
        "clients.exit.warning": "退出后不能再记录服务或计划，只能做结案评估。请确认原因。",
        "clients.exit.reason": "退出原因",
        "exit.recovered": "康复",
        "exit.moved_away": "迁出",
        "exit.transferred": "转出",
        "exit.withdrew": "本人退出",
        "exit.died": "死亡",
        "clients.exit.submit": "确认退出",
        "clients.exit.done": "已记录退出。",
        "clients.identity.title": "查看身份信息",
        "clients.identity.audited": "这是一次被审计的操作：受理服务会记录您、您的角色和用途。只在确有需要时查看。",
        "clients.identity.purpose": "用途",
        "clients.identity.purpose_needed": "请选择查看身份信息的用途。",
        "purpose.service_delivery": "提供服务",
        "purpose.guardian_contact": "联系监护人",
        "purpose.medical_referral": "就医转介",
        "purpose.legal_request": "依法查询",
        "clients.identity.submit": "查看（将被记录）",
        "clients.identity.recorded": "本次查看已记录，用途：{purpose}。本页不会被浏览器保存。",
        "clients.identity.back": "返回服务对象",
        "clients.due.title": "待办",
        "clients.history": "记录",
        "clients.sessions": "服务 {n} 次",
        "clients.assessments": "评估 {n} 次",
        "clients.contacts": "随访 {n} 次",
    },
    "en": {
        "clients.nav": "My clients",
        "clients.title": "My clients",
        "clients.lead": "What is due next, overdue first. Only pseudonymous ids are listed; reading an identity asks why and is recorded.",
        "clients.search": "Find by id",
        "clients.search.hint": "The first characters of the pseudonymous id",
        "clients.new": "New application",
        "clients.none": "No matching clients.",
        "clients.count": "{n} in all",
        "clients.id": "Id",
        "clients.street": "Street",
        "clients.category": "Category",
        "clients.next": "Next",
        "clients.relapse": "Relapse",
        "clients.overdue": "Overdue",
        "clients.due.baseline": "Baseline assessment needed",
        "clients.due.plan": "Agree the plan",
        "clients.due.reassessment": "Reassessment",
        "clients.due.contact": "Follow-up contact",
        "clients.due.by": "by {on}",
        "clients.nothing_due": "Nothing due",
        "clients.app.title": "New application",
        "clients.app.lead": "The applicant's identity goes to intake only, encrypted there; this console keeps none of it.",
        "clients.app.source": "Source",
        "source.self": "The applicant",
        "source.guardian": "A guardian",
        "source.hospital_discharge": "Hospital discharge",
        "source.community": "Found in the community",
        "clients.app.applicant": "Applicant",
        "clients.app.name": "Name",
        "clients.app.id_number": "Resident id number",
        "clients.app.id_number.hint": "18 characters; the last may be X",
        "clients.app.birth_date": "Date of birth",
        "clients.app.sex": "Sex",
        "sex.male": "Male",
        "sex.female": "Female",
        "clients.app.phone": "Phone",
        "clients.app.address": "Address",
        "clients.app.lacks_capacity": "The applicant lacks capacity (a guardian is needed)",
        "clients.app.guardian": "Guardian",
        "clients.app.guardian.hint": "Needed for a minor, an applicant who lacks capacity, or a guardian's application",
        "clients.app.relationship": "Relationship",
        "relationship.parent": "Parent",
        "relationship.spouse": "Spouse",
        "relationship.child": "Child",
        "relationship.sibling": "Sibling",
        "relationship.other_relative": "Other relative",
        "relationship.appointed_guardian": "Appointed guardian",
        "clients.app.where": "Where they live",
        "clients.app.district": "District code",
        "clients.app.street": "Street code",
        "clients.app.street.hint": "9 digits, e.g. 110105001",
        "clients.app.hardship": "Hardship",
        "hardship.disability_subsidy": "Disability subsidy",
        "hardship.extreme_poverty": "Extreme poverty",
        "hardship.minimum_living_allowance": "Minimum living allowance",
        "hardship.marginal": "Marginal",
        "hardship.expenditure_hardship": "Expenditure hardship",
        "clients.app.submit": "Submit the application",
        "clients.application.title": "Application",
        "clients.application.status": "Status",
        "app_status.submitted": "Submitted: consent needed",
        "app_status.consented": "Consented: ready to register",
        "app_status.registered": "Registered",
        "app_status.withdrawn": "Withdrawn",
        "app_status.rejected": "Rejected",
        "clients.application.due": "Register by {on}",
        "clients.consent.title": "Informed consent",
        "clients.consent.signed_by": "Signed by",
        "signed_by.self": "The applicant",
        "signed_by.guardian": "The guardian",
        "clients.consent.scope": "What they agree to",
        "scope.rehabilitation_services": "Community rehabilitation services",
        "scope.share_with_health": "Sharing the record with health services (hospitals)",
        "scope.share_with_disability_and_employment": "Sharing with disability and employment services",
        "clients.consent.submit": "Record the consent",
        "clients.register.submit": "Register as a client",
        "clients.register.lead": "Registration gives a pseudonymous id; assessment and placement learn of it shortly after.",
        "clients.client.title": "Client {id}",
        "clients.client.registered": "Registered on {on}",
        "clients.client.exited": "Left the programme",
        "clients.placement": "Placement",
        "placement.placed": "Placed at a station",
        "placement.waitlisted": "On the waitlist, number {n}",
        "placement.needs_reverification": "Waited over 90 days: re-verification needed",
        "placement.not_placed": "Not placed yet",
        "placement.exited": "Left",
        "placement.in_hospital": "In hospital, place held",
        "clients.record.pending": "Assessment has not received the registration yet (on its way).",
        "clients.session.title": "Record today's session",
        "clients.session.lead": "One tap records it: today, 60 minutes, individual, attended.",
        "clients.session.no_station": "Not placed at a station yet: sessions cannot be recorded.",
        "clients.session.done": "Session recorded.",
        "clients.contact.title": "Follow-up contact",
        "clients.contact.reached": "Reached",
        "clients.contact.not_reached": "Not reached",
        "clients.contact.done": "Contact recorded.",
        "method.phone": "Phone",
        "method.home_visit": "Home visit",
        "method.outpatient_visit": "Outpatient visit",
        "method.video_call": "Video call",
        "clients.actions": "Other actions",
        "clients.assessment.title": "Assessment",
        "clients.assessment.kind": "Kind",
        "kind.baseline": "Baseline",
        "kind.process": "Process",
        "kind.discharge": "Discharge",
        "clients.assessment.stability": "Stability",
        "clients.assessment.risk": "Risk level (0–5)",
        "clients.assessment.willing": "Willing to take part in community rehabilitation",
        "clients.assessment.score": "Personal and social performance (PSP, 0–100)",
        "clients.assessment.on": "Assessed on",
        "clients.assessment.submit": "Save the assessment",
        "clients.assessment.done": "Assessment saved.",
        "clients.plan.title": "Rehabilitation plan",
        "clients.plan.goals": "Goals (one a line)",
        "clients.plan.services": "Basic services it draws on",
        "clients.plan.agreed_by": "Agreed by",
        "agreed_by.client": "The client",
        "agreed_by.guardian": "The guardian",
        "clients.plan.submit": "Save the plan",
        "clients.plan.done": "Plan saved.",
        "clients.plan.current": "Current plan (version {v})",
        "clients.plan.none": "No plan yet.",
        "clients.relocation.title": "Relocation",
        "clients.relocation.submit": "Record the move",
        "clients.relocation.done": "Move recorded.",
        "clients.exit.title": "Leave the programme",
        "clients.exit.warning": "After this no session or plan can be recorded, only the discharge assessment. Confirm the reason.",
        "clients.exit.reason": "Reason",
        "exit.recovered": "Recovered",
        "exit.moved_away": "Moved away",
        "exit.transferred": "Transferred",
        "exit.withdrew": "Withdrew",
        "exit.died": "Died",
        "clients.exit.submit": "Confirm the exit",
        "clients.exit.done": "Exit recorded.",
        "clients.identity.title": "Read the identity",
        "clients.identity.audited": "This is an audited act: intake records you, your role and the purpose. Read it only when you need to.",
        "clients.identity.purpose": "Purpose",
        "clients.identity.purpose_needed": "Choose why you read the identity.",
        "purpose.service_delivery": "Service delivery",
        "purpose.guardian_contact": "Contacting the guardian",
        "purpose.medical_referral": "Medical referral",
        "purpose.legal_request": "Legal request",
        "clients.identity.submit": "Read it (recorded)",
        "clients.identity.recorded": "This read was recorded, purpose: {purpose}. The browser does not keep this page.",
        "clients.identity.back": "Back to the client",
        "clients.due.title": "Due",
        "clients.history": "History",
        "clients.sessions": "{n} sessions",
        "clients.assessments": "{n} assessments",
        "clients.contacts": "{n} contacts",
    },
}
