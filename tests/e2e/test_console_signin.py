"""End to end in a real browser: signing in to the console as `make up` runs it, on a phone
and on a desktop, each page checked by axe-core and photographed."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_a_worker_signs_in_on_a_phone_switches_language_and_signs_out(phone):
    page = phone.go("/")
    assert page.url.endswith("/signin/dev")  # not signed in: the sign-in page
    phone.check("signin")
    page.get_by_role("button", name=re.compile("演示·王小丽")).click()
    page.wait_for_url(phone.base_url + "/")
    assert page.get_by_text("演示·王小丽").first.is_visible()
    assert page.get_by_role("navigation").get_by_role("link", name="我的服务对象").is_visible()
    phone.check("home-worker")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Workbench")).to_be_visible()  # waits for the new page
    page.get_by_role("link", name="中文").click()
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(re.compile(r".*/signin/dev$"))
    assert page.context.cookies() == [] or all(c["name"] != "jk_session" or c["httpOnly"] for c in page.context.cookies())
    phone.go("/clients")
    assert page.url.endswith("/signin/dev")  # the session is gone


def test_a_hospital_liaison_signs_in_on_a_desktop_and_sees_referrals_not_caseloads(desktop):
    page = desktop.go("/signin/dev")
    page.get_by_role("button", name=re.compile("演示·李护士")).click()
    page.wait_for_url(desktop.base_url + "/")
    nav = page.get_by_role("navigation")
    assert nav.get_by_role("link", name="转介").is_visible()
    assert nav.get_by_role("link", name="我的服务对象").count() == 0
    cookie = next(c for c in page.context.cookies() if c["name"] == "jk_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    desktop.check("home-hospital")
