"""The station worker's pages (console/pages/clients.py): the view models on their own, and
the pages in process against the real intake, assessment and referral APIs (in-memory
stores, authorisation on), so every answer the console handles is the services' own."""
from __future__ import annotations

import re
from datetime import date, timedelta
from uuid import UUID

import httpx
import pytest
from fastapi.testclient import TestClient

from console.app import create_app
from console.pages.clients import Due, application_body, caseload, next_due
from console.settings import load_console_settings
from services.assessment.api import create_app as assessment_api
from services.assessment.application import create_application as assessment_app
from services.intake.api import create_app as intake_api
from services.intake.application import create_application as intake_app
from services.referral.api import create_app as referral_api
from services.referral.application import create_application as referral_app
from shared.settings import load_settings
from tests.support import applicant, guardian

KEY = "unit-console-clients-key-0123456789abcdef"
TODAY = date(2026, 3, 10)


# --- view models -------------------------------------------------------------------------------

def summary(client_id: str = "c0ffee00-0000-0000-0000-000000000001", **due) -> dict:
    """A record summary as assessment's GET /v1/records answers it."""
    return {"client_id": client_id, "district_code": "110105", "street_code": "110105001", "registered_on": "2026-02-01",
            "status": "active", "service_category": "community_rehab", "medical_referral_needed": False,
            "relapse_episode_open": False, "plan_version": 1, "assessments": 1, "last_session_on": None,
            "last_contact_on": None,
            "due": {"plan_due_on": None, "reassessment_due_on": None, "reassessment_overdue_on": None,
                    "contact_due_on": None, "contact_cadence_days": None, **due}}


def test_the_next_due_is_the_earliest_dated_deadline_and_past_is_overdue():
    assert next_due(summary(plan_due_on="2026-03-12", reassessment_due_on="2026-05-01"), TODAY) == Due(
        "plan", date(2026, 3, 12), False)
    assert next_due(summary(contact_due_on="2026-03-09", reassessment_due_on="2026-05-01"), TODAY) == Due(
        "contact", date(2026, 3, 9), True)
    # A reassessment is overdue from the day its grace ends, and shown as overdue once its own day is past
    assert next_due(summary(reassessment_due_on="2026-03-10", reassessment_overdue_on="2026-03-24"), TODAY).overdue is False
    assert next_due(summary(reassessment_due_on="2026-03-01", reassessment_overdue_on="2026-03-15"), TODAY).overdue is True


def test_a_client_never_assessed_needs_the_baseline_and_one_who_left_needs_nothing():
    assert next_due({**summary(plan_due_on="2026-03-20"), "assessments": 0}, TODAY) == Due(
        "baseline", date(2026, 3, 20), False)
    assert next_due({**summary(plan_due_on="2026-03-01"), "assessments": 0}, TODAY).overdue is True
    assert next_due({**summary(plan_due_on="2026-03-20"), "assessments": 0, "status": "exited"}, TODAY) is None
    assert next_due(summary(), TODAY) is None


def test_the_working_list_puts_overdue_first_then_the_nearest_and_finds_by_id_prefix():
    records = [summary("aaaa0000-0000-0000-0000-000000000001", reassessment_due_on="2026-04-01"),
               summary("bbbb0000-0000-0000-0000-000000000002"),
               summary("cccc0000-0000-0000-0000-000000000003", contact_due_on="2026-03-01"),
               summary("dddd0000-0000-0000-0000-000000000004", plan_due_on="2026-03-20")]
    assert [r.short_id for r in caseload(records, TODAY)] == ["cccc0000", "dddd0000", "aaaa0000", "bbbb0000"]
    assert [r.short_id for r in caseload(records, TODAY, " DDDD")] == ["dddd0000"]


def test_the_application_form_maps_to_intake_s_body():
    form = {"source": "guardian", "applicant_name": " 演示 ", "applicant_id_number": "110105199001011234",
            "applicant_birth_date": "1990-01-01", "applicant_sex": "male", "applicant_phone": "", "lacks_capacity": "on",
            "district_code": "110105", "street_code": "110105001", "guardian_name": "", "guardian_phone": ""}
    body = application_body(form, ["marginal", "made_up"])
    assert body == {"source": "guardian", "applicant": {"name": "演示", "id_number": "110105199001011234",
                                                        "birth_date": "1990-01-01", "sex": "male"},
                    "lacks_capacity": True, "district_code": "110105", "street_code": "110105001",
                    "hardship_categories": ["marginal"]}  # no guardian typed: intake says one is needed
    assert application_body({**form, "guardian_name": "监护"}, [])["guardian"] == {"name": "监护"}


# --- the pages against the real services -----------------------------------------------------------

class Services(httpx.AsyncBaseTransport):
    """Routes each call to the in-process service app its URL names (by port)."""

    def __init__(self, apps: dict[int, object]):
        self.transports = {port: httpx.ASGITransport(app=app) for port, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transports[request.url.port].handle_async_request(request)


@pytest.fixture
def world():
    settings = {s: load_settings(s, {f"JINGKANG_{s.upper()}_STORE": "memory://", "JINGKANG_JWT_KEY": KEY})
                for s in ("intake", "assessment", "referral")}
    apps = {"intake": intake_app(settings["intake"]), "assessment": assessment_app(settings["assessment"]),
            "referral": referral_app(settings["referral"])}
    transport = Services({8001: intake_api(settings["intake"], apps["intake"]),
                          8002: assessment_api(settings["assessment"], apps["assessment"]),
                          8003: referral_api(settings["referral"], apps["referral"])})
    console_settings = load_console_settings({"JINGKANG_JWT_KEY": KEY})
    with TestClient(create_app(console_settings, transport=transport), follow_redirects=False) as browser:
        yield browser, apps


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(browser: TestClient, username: str = "worker1") -> str:
    page = browser.get("/signin/dev")
    assert browser.post("/signin/dev", data={"username": username, "csrf": csrf_of(page.text)}).status_code == 303
    return csrf_of(browser.get("/").text)


def form_of(person: dict, **extra) -> dict:
    return {"source": "self", **{f"applicant_{k}": v for k, v in person.items()}, "district_code": "110105",
            "street_code": "110105001", **extra}


def test_a_wrong_check_digit_is_shown_on_its_field_with_the_input_kept_and_nothing_stored(world):
    browser, apps = world
    csrf = sign_in(browser)
    person = applicant()
    wrong = person["id_number"][:-1] + ("0" if person["id_number"][-1] != "0" else "1")
    before = apps["intake"].recorder.max_notification_id()
    page = browser.post("/clients/new", data={**form_of({**person, "id_number": wrong}), "csrf": csrf})
    assert page.status_code == 422
    assert re.search(r'class="field has-error">\s*<label for="f-applicant_id_number"', page.text)
    assert f'value="{person["name"]}"' in page.text and f'value="{wrong}"' in page.text  # kept
    assert 'href="#f-applicant_id_number"' in page.text  # the summary links to the field
    assert apps["intake"].recorder.max_notification_id() == before


def test_an_applicant_lacking_capacity_without_a_guardian_is_told_so_on_the_guardian(world):
    browser, _ = world
    csrf = sign_in(browser)
    page = browser.post("/clients/new", data={**form_of(applicant()), "lacks_capacity": "on", "csrf": csrf})
    assert page.status_code == 422 and 'href="#f-guardian"' in page.text


def test_from_application_to_a_session_in_two_taps(world):
    browser, apps = world
    csrf = sign_in(browser)
    # A new application, consent, registration
    r = browser.post("/clients/new", data={**form_of(applicant()), "csrf": csrf})
    assert r.status_code == 303, r.text
    application = r.headers["location"]
    assert browser.post(application + "/consent", data={"csrf": csrf, "signed_by": "self",
                                                        "rehabilitation_services": "on"}).status_code == 303
    assert "可登记" in browser.get(application).text
    r = browser.post(application + "/register", data={"csrf": csrf})
    client_page = r.headers["location"]
    client_id = UUID(client_page.rsplit("/", 1)[1])
    # Assessment has not heard of the registration yet: the page says it is on its way and polls
    page = browser.get(client_page)
    assert page.status_code == 200 and "正在送达" in page.text and f'hx-get="{client_page}/work"' in page.text
    # When ClientRegistered arrives in assessment and referral (here: their commands, as their consumers call them)
    apps["assessment"].open_record(client_id=client_id, district_code="110105", street_code="110105001",
                                   registered_on=date.today(), consent={"rehabilitation_services": True})
    apps["referral"].register_station(name="演示驿站", operator="演示", tier="ningkang_home", district_code="110105",
                                      streets=["110105001"], capacity=5, services=["social_skills"])
    apps["referral"].register_client(client_id=client_id, district_code="110105", street_code="110105001",
                                     registered_on=date.today(), consent={"rehabilitation_services": True})
    work = browser.get(client_page + "/work").text
    assert "需要首次评估" in work and "hx-get" not in work.split(">", 1)[0]
    # The working list shows the client, baseline first
    listed = browser.get("/clients").text
    assert str(client_id)[:8] in listed and "需要首次评估" in listed
    # The baseline assessment (a bad score first: on its field, input kept)
    r = browser.post(client_page + "/assessment", data={"csrf": csrf, "kind": "baseline", "stability": "stable",
                                                         "risk_level": "1", "willing": "yes", "functional_score": "130"})
    assert r.status_code == 422 and 'value="130"' in r.text and 'href="#f-functional_score"' in r.text
    r = browser.post(client_page + "/assessment", data={"csrf": csrf, "kind": "baseline", "stability": "stable",
                                                         "risk_level": "1", "willing": "yes", "functional_score": "62"})
    assert r.status_code == 303
    apps["referral"].classify_client(client_id=client_id, service_category="community_rehab",
                                     medical_referral_needed=False)
    # Tap one: the client from the list; tap two: the service
    page = browser.get(client_page).text
    assert "已保存评估" in page
    station = re.search(r'name="station_id" value="([^"]+)"', page).group(1)
    r = browser.post(client_page + "/sessions", data={"csrf": csrf, "service_type": "social_skills",
                                                       "station_id": station})
    assert r.status_code == 303
    assert "已记录服务" in browser.get(client_page).text
    assert len(apps["assessment"].get_record(client_id).sessions) == 1


def test_reading_an_identity_asks_the_purpose_and_the_browser_may_not_keep_the_answer(world):
    browser, apps = world
    csrf = sign_in(browser)
    person = applicant()
    r = browser.post("/clients/new", data={**form_of(person), "csrf": csrf})
    application = r.headers["location"]
    browser.post(application + "/consent", data={"csrf": csrf, "signed_by": "self", "rehabilitation_services": "on"})
    client_page = browser.post(application + "/register", data={"csrf": csrf}).headers["location"]
    before = apps["intake"].recorder.max_notification_id()
    refused = browser.post(client_page + "/identity", data={"csrf": csrf, "purpose": ""})
    assert refused.status_code == 422 and person["name"] not in refused.text
    assert apps["intake"].recorder.max_notification_id() == before  # no purpose: no read
    page = browser.post(client_page + "/identity", data={"csrf": csrf, "purpose": "service_delivery"})
    assert page.status_code == 200 and person["name"] in page.text and "已记录" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert apps["intake"].recorder.max_notification_id() > before  # the read is recorded by intake
    assert browser.post(client_page + "/identity", data={"purpose": "service_delivery"}).status_code == 403


def test_a_client_of_another_district_is_a_plain_sentence(world):
    browser, apps = world
    csrf = sign_in(browser)
    r = browser.post("/clients/new", data={**form_of(applicant()), "csrf": csrf})
    application = r.headers["location"]
    browser.post(application + "/consent", data={"csrf": csrf, "signed_by": "self", "rehabilitation_services": "on"})
    client_page = browser.post(application + "/register", data={"csrf": csrf}).headers["location"]
    browser.post("/signout", data={"csrf": csrf})
    sign_in(browser, "worker2")  # 110108
    page = browser.get(client_page)
    assert page.status_code == 403 and "无权" in page.text and "Traceback" not in page.text


def test_the_service_s_reasons_are_in_the_worker_s_words_on_the_field(world):
    browser, _ = world
    csrf = sign_in(browser)
    person = applicant()
    wrong = person["id_number"][:-1] + ("0" if person["id_number"][-1] != "0" else "1")
    page = browser.post("/clients/new", data={**form_of({**person, "id_number": wrong}), "csrf": csrf})
    assert "身份证号码校验位不正确" in page.text
    browser.get("/lang/en")
    page = browser.post("/clients/new", data={**form_of({**person, "id_number": wrong}), "csrf": csrf})
    assert "check digit does not match" in page.text


def test_the_worker_s_pages_have_no_inline_script_style_or_handler(world):
    """The Content-Security-Policy allows neither: a page that used them would break in the browser."""
    browser, apps = world
    csrf = sign_in(browser)
    r = browser.post("/clients/new", data={**form_of(applicant()), "csrf": csrf})
    application = r.headers["location"]
    browser.post(application + "/consent", data={"csrf": csrf, "signed_by": "self", "rehabilitation_services": "on"})
    client_page = browser.post(application + "/register", data={"csrf": csrf}).headers["location"]
    apps["assessment"].open_record(client_id=UUID(client_page.rsplit("/", 1)[1]), district_code="110105",
                                   street_code="110105001", registered_on=date.today(), consent={})
    for path in ("/clients", "/clients/new", application, client_page, client_page + "/assessment",
                 client_page + "/plan", client_page + "/relocation", client_page + "/exit", "/referrals"):
        html = browser.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\s(on[a-z]+|style)=", html), path


def test_an_unreachable_service_is_a_plain_503_with_the_input_kept():
    class Down(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request):
            raise httpx.ConnectError("connection refused")

    settings = load_console_settings({"JINGKANG_JWT_KEY": KEY})
    with TestClient(create_app(settings, transport=Down()), follow_redirects=False) as browser:
        csrf = sign_in(browser)
        person = applicant()
        page = browser.post("/clients/new", data={**form_of(person), "csrf": csrf})
        assert page.status_code == 503 and "暂时无法访问" in page.text and f'value="{person["name"]}"' in page.text
        page = browser.get("/clients")
        assert page.status_code == 503 and "Traceback" not in page.text


def registered_client(browser: TestClient, apps, csrf: str, **assessment) -> str:
    """A client registered through the console, known to assessment (and assessed, if asked)."""
    r = browser.post("/clients/new", data={**form_of(applicant()), "csrf": csrf})
    application = r.headers["location"]
    browser.post(application + "/consent", data={"csrf": csrf, "signed_by": "self", "rehabilitation_services": "on"})
    client_page = browser.post(application + "/register", data={"csrf": csrf}).headers["location"]
    client_id = UUID(client_page.rsplit("/", 1)[1])
    apps["assessment"].open_record(client_id=client_id, district_code="110105", street_code="110105001",
                                   registered_on=date.today(), consent={})
    if assessment:
        apps["assessment"].complete_assessment(client_id, kind="baseline", functional_score=50,
                                               assessor="staff-w-0001", **assessment)
    return client_page


def test_a_follow_up_contact_of_a_dynamic_care_client_in_one_tap(world):
    browser, apps = world
    csrf = sign_in(browser)
    client_page = registered_client(browser, apps, csrf, stability="stable", risk_level=1, willing=False)
    page = browser.get(client_page).text
    assert "动态管理" in page and "联系上了" in page
    r = browser.post(client_page + "/contacts", data={"csrf": csrf, "method": "home_visit", "outcome": "reached"})
    assert r.status_code == 303 and "已记录随访" in browser.get(client_page).text
    [contact] = apps["assessment"].get_record(UUID(client_page.rsplit("/", 1)[1])).contacts
    assert (contact["method"], contact["outcome"], contact["staff"]) == ("home_visit", "reached", "staff-w-0001")


def test_relocation_and_exit_show_intake_s_refusals_on_their_fields_then_are_recorded(world):
    browser, apps = world
    csrf = sign_in(browser)
    client_page = registered_client(browser, apps, csrf)
    client_id = UUID(client_page.rsplit("/", 1)[1])
    # A street outside the district: on the street field, the input kept
    r = browser.post(client_page + "/relocation", data={"csrf": csrf, "district_code": "110105", "street_code": "110108001"})
    assert r.status_code == 422 and 'href="#f-street_code"' in r.text and 'value="110108001"' in r.text
    r = browser.post(client_page + "/relocation", data={"csrf": csrf, "district_code": "110105", "street_code": "110105009"})
    assert r.status_code == 303 and apps["intake"].get_client(client_id).street_code == "110105009"
    # An exit without a reason is refused on the reason; with one, recorded
    r = browser.post(client_page + "/exit", data={"csrf": csrf})
    assert r.status_code == 422 and 'href="#f-reason"' in r.text
    assert browser.post(client_page + "/exit", data={"csrf": csrf, "reason": "recovered"}).status_code == 303
    page = browser.get(client_page).text
    assert "已记录退出" in page and "已退出服务" in page
