"""End to end in a real browser, on the demo district (console.demo) of the system as `make up`
runs it: the district admin placing from the waitlist, and the two-officer settlement (funding1
prepares, funding1 cannot approve, funding2 approves and pays). Every page is photographed and
checked by axe-core, on a desktop and on a phone."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
import pytest

from shared.clock import LOCAL
from tests.e2e.browser import Screen
from tests.e2e.conftest import URL, auth
from tests.e2e.test_demo import load

pytestmark = pytest.mark.e2e
SMALL_STATION = "演示·朝阳区省级示范点"  # full: its street's later clients wait
STREET = "110105014"


@pytest.fixture
def demo(system):
    run = load(system)  # loads the district, or finds it loaded
    assert run.returncode == 0, run.stdout + run.stderr
    return system


def sign_in(screen, name: str):
    page = screen.go("/signin/dev")
    page.get_by_role("button", name=re.compile(name)).click()
    page.wait_for_url(screen.base_url + "/")
    return page


def waiting_on_street(district: str = "110105") -> list[str]:
    answer = httpx.get(URL["referral"] + "/v1/waitlist", params={"district": district},
                       headers=auth("district_admin")).json()
    return [w["client_id"] for w in answer["waiting"] if w["street_code"] == STREET]


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_admin_places_the_first_in_line_by_adding_a_place(demo, device, request):
    screen = request.getfixturevalue(device)
    page = sign_in(screen, "演示·陈主任")
    screen.check("home-admin")
    page.get_by_role("navigation").get_by_role("link", name="驿站与候补").click()
    page.wait_for_url(re.compile(r".*/stations"))
    assert page.get_by_role("heading", name="候补名单", exact=True).is_visible()
    line = waiting_on_street()
    assert line, "the demo district has clients waiting for the small station"
    assert page.get_by_text(line[0]).first.is_visible()
    screen.check("admin-stations")

    row = page.locator("tr", has_text=SMALL_STATION)
    capacity = int(row.get_by_role("spinbutton").input_value())  # the form offers one place more
    row.get_by_role("button", name="调整容量").click()
    page.wait_for_url(re.compile(r".*/stations\?district=110105"))
    assert page.get_by_role("status").filter(has_text=f"容量为 {capacity}").is_visible()
    # The first in line got the new place; the page shows the waitlist without them.
    assert waiting_on_street()[:1] != line[:1]
    assert page.locator("table").filter(has_text="顺位").get_by_text(line[0]).count() == 0
    screen.check("admin-placed")


def test_a_settlement_is_prepared_by_one_officer_and_approved_and_paid_by_another(demo, desktop, chromium):
    page = sign_in(desktop, "演示·孙会计")
    page.get_by_role("navigation").get_by_role("link", name="购买服务资金").click()
    page.wait_for_url(re.compile(r".*/funding"))
    assert page.locator("canvas").first.is_visible()  # the bars, drawn by ECharts
    desktop.check("funding-contracts")

    home = page.locator("section.contract", has_text="演示·朝阳区宁康家园")
    home.locator("summary", has_text="发起结算").click()
    home.get_by_label("结算期").fill(last_month())
    home.get_by_label("绩效分").fill("0.90")
    home.get_by_label("评分依据").fill("演示：月度督导评分 90 分")
    home.locator("form[action$='/settlements'] button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/funding"))
    assert page.get_by_role("status").filter(has_text="等待另一位经办人审批").is_visible()
    pending = page.locator("section.contract", has_text="演示·朝阳区宁康家园").locator("tr.settlement",
                                                                                 has_text="待审批")
    assert pending.locator(".prepared-by").inner_text() == "演示·孙会计"
    # The same officer may not approve: the service says no, the page says why.
    pending.get_by_role("button", name=re.compile("审批通过")).click()
    assert page.get_by_role("alert").filter(has_text="冲突").is_visible()
    desktop.check("funding-same-officer-refused")

    second = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    try:
        other = Screen(second.new_page(), desktop.base_url, desktop.out, "desktop")
        page2 = sign_in(other, "演示·周科长")
        other.go("/funding")
        row = page2.locator("section.contract", has_text="演示·朝阳区宁康家园").locator("tr.settlement",
                                                                                     has_text="待审批")
        assert row.get_by_text("由 演示·孙会计 经办").is_visible()  # the second officer sees the first's name
        row.get_by_role("button", name=re.compile("审批通过")).click()
        assert page2.get_by_role("status").filter(has_text="已审批").is_visible()
        other.check("funding-approved")
        page2.locator("section.contract", has_text="演示·朝阳区宁康家园").get_by_role(
            "button", name=re.compile("支付 " + last_month())).click()
        assert page2.get_by_role("status").filter(has_text="已支付").is_visible()
        other.check("funding-paid")
    finally:
        second.close()


def last_month() -> str:
    first = datetime.now(LOCAL).date().replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


def test_the_admin_erases_an_identity_only_after_checking_the_answers(demo, desktop):
    lapsed = httpx.get(URL["referral"] + "/v1/waitlist", params={"district": "110105"},
                       headers=auth("district_admin")).json()["needs_reverification"]
    client = lapsed[-1]["client_id"]
    page = sign_in(desktop, "演示·陈主任")
    desktop.go("/stations")
    page.get_by_role("link", name="删除身份信息").click()
    page.get_by_role("button", name="继续").click()  # nothing filled in
    assert page.get_by_role("alert").get_by_role("link").count() == 2  # the error summary names both fields
    desktop.check("admin-erasure-errors")
    page.get_by_label("服务对象编号").fill(client)
    page.get_by_label("原因").select_option("data_subject_request")
    page.get_by_role("button", name="继续").click()
    assert page.get_by_role("heading", name="请核对后确认").is_visible()
    assert page.get_by_text(client).is_visible() and page.get_by_text("本人申请").is_visible()
    desktop.check("admin-erasure-check")
    page.get_by_role("button", name="确认删除身份信息").click()
    page.wait_for_url(re.compile(r".*/stations$"))
    assert page.get_by_role("status").filter(has_text=f"已删除服务对象 {client} 的身份信息").is_visible()
    # From now on the identity read answers that it was erased.
    read = httpx.get(f"{URL['intake']}/v1/clients/{client}/identity", params={"purpose": "service_delivery"},
                     headers=auth("station_worker"))
    assert read.status_code == 410
