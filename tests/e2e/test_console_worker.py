"""End to end in a real browser on a phone (360×800): a station worker's day in the console
against the system as `make up` runs it — a new application (a wrong check digit first,
shown on its field), consent, registration (the page waits for assessment instead of a
404), the baseline assessment, the plan, and a session recorded in two taps. Every page is
photographed and checked by axe-core."""
from __future__ import annotations

import random
import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import URL, auth
from tests.support import applicant

pytestmark = pytest.mark.e2e
ADMIN = auth("district_admin", sub="admin-console-e2e")


def test_a_worker_s_day_from_application_to_a_session_on_a_phone(phone):
    # Given a station serving a street of its own (other tests use other streets)
    street = f"110105{random.randrange(100, 500):03d}"
    r = httpx.post(URL["referral"] + "/v1/stations", headers=ADMIN, json={
        "name": "宁康驿站（控制台测试）", "operator": "演示协会", "tier": "ningkang_post", "district_code": "110105",
        "streets": [street], "capacity": 5, "services": ["social_skills", "relapse_prevention"]})
    assert r.status_code == 201, r.text
    person = applicant()

    # The worker signs in and opens a new application from the working list
    page = phone.go("/signin/dev")
    page.get_by_role("button", name=re.compile("演示·王小丽")).click()
    page.get_by_role("navigation").get_by_role("link", name="我的服务对象").click()
    phone.check("clients")
    page.get_by_role("link", name="新的申请").click()
    phone.check("application-new")

    # A wrong check digit: the page says so on the field and keeps what was typed
    wrong = person["id_number"][:-1] + ("0" if person["id_number"][-1] != "0" else "1")
    page.locator("#f-applicant_name").fill(person["name"])
    page.locator("#f-applicant_id_number").fill(wrong)
    page.locator("#f-applicant_birth_date").fill(person["birth_date"])
    page.get_by_label("女").check() if person["sex"] == "female" else page.get_by_label("男").check()
    page.locator("#f-applicant_phone").fill(person["phone"])
    page.locator("#f-applicant_address").fill(person["address"])
    page.locator("#f-street_code").fill(street)
    page.get_by_role("button", name="提交申请").click()
    assert page.locator(".field.has-error #f-applicant_id_number").count() == 1
    assert page.locator("#f-applicant_name").input_value() == person["name"]
    phone.check("application-error")

    # Corrected, it is accepted; consent with its scope; registration
    page.locator("#f-applicant_id_number").fill(person["id_number"])
    page.get_by_role("button", name="提交申请").click()
    page.wait_for_url(re.compile(r".*/applications/[0-9a-f-]+$"))
    assert "/applications/" in page.url and person["name"] not in page.url  # only a pseudonymous id in a URL
    phone.check("application-consent")
    page.get_by_label("与卫生健康部门（医院）共享康复记录").check()
    page.get_by_role("button", name="记录知情同意").click()
    page.get_by_role("button", name="登记为服务对象").click()
    page.wait_for_url(re.compile(r".*/clients/[0-9a-f-]{36}$"))
    client_id = page.url.rsplit("/", 1)[1]

    # The record arrives in assessment by events: the page updates by itself
    page.get_by_text("需要首次评估").wait_for(timeout=60_000)
    phone.check("client-new")

    # The baseline assessment
    page.get_by_role("link", name="评估").click()
    page.get_by_label("稳定", exact=True).check()
    page.locator("#f-risk_level").fill("1")
    page.locator("#f-functional_score").fill("62")
    phone.check("assessment")
    page.get_by_role("button", name="保存评估").click()
    page.get_by_text("已保存评估").wait_for()

    # The plan
    page.get_by_role("link", name="康复计划").click()
    page.locator("#f-goals").fill("G-SOC-1")
    page.get_by_label("社交技能").check()
    phone.check("plan")
    page.get_by_role("button", name="保存计划").click()
    page.get_by_text("已保存康复计划").wait_for()

    # Placement arrives from referral (ClientClassified): the session buttons appear
    tap = page.get_by_role("button", name="社交技能")
    tap.wait_for(timeout=60_000)
    phone.check("client-placed")

    # Two taps: the client from the list, then the service
    page.get_by_role("navigation").get_by_role("link", name="我的服务对象").click()
    page.locator("#f-q").fill(client_id[:4])  # active search by the pseudonymous id
    expect(page.locator(".row").filter(has_not_text=client_id[:4])).to_have_count(0)
    expect(page.locator(".row", has_text=client_id[:8])).to_have_count(1)
    phone.check("clients-found")
    page.get_by_role("link", name=re.compile(client_id[:8])).click()
    page.get_by_role("button", name="社交技能").click()
    page.get_by_text("已记录服务").wait_for()
    phone.check("session-recorded")
    record = httpx.get(f"{URL['assessment']}/v1/clients/{client_id}/record",
                       headers=auth("station_worker", sub="worker-console-e2e")).json()
    assert [s["service_type"] for s in record["sessions"]] == ["social_skills"]
    assert record["assessments"][0]["assessor"] == "staff-w-0001"  # the signed-in worker, by staff id

    # Reading the identity asks why and is visibly an audited act; the browser may not keep it
    page.get_by_label("用途").select_option("service_delivery")
    with page.expect_response(re.compile(r".*/identity$")) as answer:
        page.get_by_role("button", name="查看（将被记录）").click()
    assert answer.value.headers["cache-control"] == "no-store"
    assert page.get_by_text(person["name"]).is_visible() and page.get_by_text("本次查看已记录").is_visible()
    phone.check("identity", publish=False)
    page.get_by_role("link", name="返回服务对象").click()
    for action, shot in (("迁居", "relocation"), ("退出服务", "exit")):
        page.get_by_role("link", name=action, exact=True).click()
        phone.check(shot)
        page.go_back()
