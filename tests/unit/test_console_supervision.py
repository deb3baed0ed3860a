"""The supervision dashboard and the auditor's pages (console/pages/supervision.py, audit.py)
in process, the supervision service and the five services answering as their fixed HTTP
contract says (httpx.MockTransport): figures against targets, trends whose points link to
their evidence, paged evidence, chain status, a merged case timeline, and plain sentences
when a service cannot be reached."""
from __future__ import annotations

import uuid
import re
from urllib.parse import parse_qs, urlsplit

import httpx

from console.pages.audit import as_of_iso, chain_row, timeline
from console.pages.supervision import figures, month_bounds, shown, trend_chart
from console.services import ServiceRefused
from tests.unit.test_console_admin import console, sign_in

CLIENT = str(uuid.uuid4())
INDICATORS = {"district": "110105", "from": "2026-01-01", "to": "2026-12-05", "indicators": [
    {"name": "standardised_service", "value": "0.4615", "numerator": 6, "denominator": 13, "target": "0.45",
     "met": True, "unit": "ratio"},
    {"name": "street_coverage", "value": "0.3333", "numerator": 1, "denominator": 3, "target": "0.5", "met": False},
    {"name": "median_time_to_accept", "value": "2.5", "numerator": None, "denominator": 1, "target": None,
     "met": None, "unit": "hours"},
    {"name": "referral_closure", "value": None, "numerator": 0, "denominator": 0, "target": None, "met": None}]}


def trends(indicator: str) -> dict:
    return {"district": "110105", "indicator": indicator, "points": [
        {"period": "2026-10", "value": "0.5", "numerator": 1, "denominator": 2, "target": "0.45", "met": True},
        {"period": "2026-11", "value": None, "numerator": 0, "denominator": 0, "target": "0.45", "met": None}]}


def evidence(page: int, size: int) -> dict:
    items = [{"id": f"ev-{n}", "type": "jingkang.assessment.RehabPlanAgreed.v1", "time": "2026-10-03T09:00:00+08:00",
              "subject": str(uuid.uuid4())} for n in range(size)]
    return {"items": items, "page": page, "size": size, "total": 120}


def t(key: str, **values) -> str:
    return key + (repr(values) if values else "")


class Supervision:
    def __init__(self, down: set[str] = frozenset()):
        self.down = down
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        port = request.url.port
        service = {8001: "intake", 8002: "assessment", 8003: "referral", 8004: "funding", 8005: "notification",
                   8006: "supervision"}[port]
        if service in self.down:
            raise httpx.ConnectError("refused")
        path, q = request.url.path, request.url.params
        if path == "/v1/districts":
            return httpx.Response(200, json={"districts": [{"code": "110105", "name": "朝阳区", "parent": "110000",
                                                            "visible": True}]})
        if path == "/v1/indicators":
            return httpx.Response(200, json=INDICATORS)
        if path == "/v1/trends":
            return httpx.Response(200, json=trends(q["indicator"]))
        if path.endswith("/evidence"):
            return httpx.Response(200, json=evidence(int(q["page"]), int(q["size"])))
        if path == "/v1/audit/chain":
            if service == "funding":
                return httpx.Response(200, json={"service": service, "events": 9, "verified": False,
                                                 "finding": "position 4 altered"})
            return httpx.Response(200, json={"service": service, "events": 42, "verified": True, "finding": None})
        if path == f"/v1/audit/clients/{CLIENT}/events":
            events = {"intake": [("2026-07-08T09:00:01+08:00", "ClientRegistered")],
                      "assessment": [("2026-07-08T09:00:03+08:00", "AssessmentCompleted")],
                      "referral": [("2026-07-08T09:00:05+08:00", "ClientPlaced")]}.get(service)
            if events is None:
                return httpx.Response(404, json={"error": "not_found", "detail": "no such client"})
            return httpx.Response(200, json={"events": [
                {"position": i + 1, "time": time, "type": f"services.{service}.domain.X", "public_type": kind,
                 "aggregate_id": CLIENT, "version": i + 1, "actor": "staff-w-0001"}
                for i, (time, kind) in enumerate(events)]})
        return httpx.Response(404, json={"error": "not_found", "detail": "unknown"})


def test_figures_read_as_people_read_them():
    rows = figures(INDICATORS, t, {"district": "110105", "from": "2026-01-01", "to": "2026-12-05"})
    assert [(r.name, r.value, r.target, r.met, r.counted) for r in rows] == [
        ("standardised_service", "46.2%", "45.0%", True, "6 / 13"),
        ("street_coverage", "33.3%", "50.0%", False, "1 / 3"),
        ("median_time_to_accept", "2.5 supervision.unit.hours", None, None, ""),
        ("referral_closure", "supervision.nothing", None, None, "0 / 0")]
    assert rows[0].evidence.startswith("/supervision/evidence/standardised_service?district=110105&from=2026-01-01")
    assert shown("12", "clients", t) == "12 supervision.unit.clients"


def test_each_point_of_a_trend_links_to_the_events_of_its_month():
    option = trend_chart("standardised_service", trends("standardised_service"), t, "110105")
    first, second = option["series"][0]["data"]
    assert first["value"] == 50.0 and second["value"] is None
    assert parse_qs(urlsplit(first["href"]).query) == {"district": ["110105"], "from": ["2026-10-01"],
                                                       "to": ["2026-10-31"], "page": ["1"]}
    assert option["series"][0]["markLine"]["data"][0]["yAxis"] == 45.0
    assert month_bounds("2026-12") == ("2026-12-01", "2026-12-31") and month_bounds("2028-02")[1] == "2028-02-29"


def test_the_dashboard_shows_every_indicator_against_its_target_with_a_chart_each():
    answers = Supervision()
    with console(answers) as client:
        sign_in(client, "auditor1")
        page = client.get("/supervision?district=110105&from=2026-01-01&to=2026-12-05")
    assert page.status_code == 200
    assert page.text.count('class="card figure"') == 4 and page.text.count("data-chart=") == 4
    assert "✓ 达标" in page.text and "✗ 未达标" in page.text
    sent = {(r.url.path, r.url.params.get("indicator")) for r in answers.sent}
    assert ("/v1/trends", "street_coverage") in sent
    assert all(r.url.params.get("district") == "110105" for r in answers.sent if r.url.path != "/v1/districts")


def test_the_evidence_behind_a_figure_is_paged():
    answers = Supervision()
    with console(answers) as client:
        sign_in(client, "auditor1")
        page = client.get("/supervision/evidence/standardised_service?district=110105&from=2026-10-01&to=2026-10-31"
                          "&page=2")
    assert page.status_code == 200
    assert page.text.count("RehabPlanAgreed") == 50 and "第 2 页，共 3 页（120 个事件）" in page.text
    assert "page=1" in page.text and "page=3" in page.text
    assert answers.sent[-1].url.params["size"] == "50"


def test_an_unreachable_supervision_service_is_said_plainly():
    with console(Supervision(down={"supervision"})) as client:
        sign_in(client, "auditor1")
        page = client.get("/supervision")
        proof = client.get("/supervision/evidence/street_coverage")
    assert page.status_code == 200 and "监管服务暂时无法访问" in page.text
    assert proof.status_code == 200 and "监管服务暂时无法访问" in proof.text


def test_chain_rows_and_the_timeline_view_model():
    assert chain_row("intake", {"service": "intake", "events": 3, "verified": True, "finding": None}).state == "verified"
    assert chain_row("funding", ServiceRefused("funding", 0, "unreachable")).state == "unreachable"
    assert chain_row("funding", ServiceRefused("funding", 404, "")).state == "unavailable"
    moments = timeline({"referral": {"events": [{"time": "2026-07-08T09:00:05+08:00", "public_type": None,
                                                 "type": "Referral.Requested", "position": 3}]},
                        "intake": {"events": [{"time": "2026-07-08T09:00:01+08:00",
                                               "public_type": "jingkang.intake.ClientRegistered.v1", "position": 9}]}})
    assert [(m.service, m.event) for m in moments] == [("intake", "jingkang.intake.ClientRegistered.v1"),
                                                       ("referral", "Referral.Requested")]
    assert as_of_iso("2026-06-30T23:59:59") == "2026-06-30T23:59:59+08:00" and as_of_iso("") is None


def test_the_auditor_sees_every_chain_and_a_case_across_the_services_as_of_a_moment():
    answers = Supervision(down={"notification"})
    with console(answers) as client:
        sign_in(client, "auditor1")
        chains = client.get("/audit")
        case = client.get(f"/audit/case?client={CLIENT}&as_of=2026-07-08T23:59:59")
        bad = client.get("/audit/case?client=张三&as_of=yesterday")
    assert chains.status_code == 200 and chains.text.count('class="chain"') == 6
    assert "✗ 发现问题" in chains.text and "position 4 altered" in chains.text and "无法访问" in chains.text
    assert case.status_code == 200
    order = [case.text.index(kind) for kind in ("ClientRegistered", "AssessmentCompleted", "ClientPlaced")]
    assert order == sorted(order)
    assert "notification" in case.text and "时间线可能不完整" in case.text  # unreachable: named
    as_of = {r.url.params.get("as_of") for r in answers.sent if "/events" in r.url.path}
    assert as_of == {"2026-07-08T23:59:59+08:00"}
    assert bad.status_code == 422 and 'href="#f-client"' in bad.text and 'href="#f-as_of"' in bad.text


def test_every_page_of_these_areas_reads_in_both_languages_without_a_raw_message_key():
    from tests.unit.test_console_admin import Services as Referral
    from tests.unit.test_console_funding import Funding

    referral, funding, supervision = Referral(), Funding(), Supervision()

    def handler(request):
        path = request.url.path
        if request.url.port == 8004:
            return funding(request)
        if request.url.port == 8006 or "/audit/" in path:
            return supervision(request)
        return referral(request)

    pages = {"admin1": ["/stations", "/stations/erasure"], "funding1": ["/funding"],
             "auditor1": ["/supervision", "/supervision/evidence/street_coverage", "/audit",
                          f"/audit/case?client={CLIENT}"]}
    for lang in ("zh-CN", "en"):
        for user, paths in pages.items():
            with console(handler) as client:
                sign_in(client, user)
                client.cookies.set("jk_lang", lang)
                for path in paths:
                    page = client.get(path)
                    assert page.status_code == 200, (lang, path, page.text[:500])
                    raw = re.findall(r">\s*((?:stations|funding|supervision|audit)\.[a-z_.]+)\s*<", page.text)
                    assert raw == [], (lang, path, raw)
