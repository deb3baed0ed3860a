"""End to end in a real browser, on the demo district: the auditor opens the supervision
dashboard, clicks a figure to list the events behind it, reads a client's case as a timeline
across the services, and sees every service's hash chain intact. Each page photographed and
checked by axe-core."""
from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.e2e.conftest import SERVICES, URL, auth
from tests.e2e.test_console_district import sign_in
from tests.e2e.test_demo import load

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo(system):
    if "supervision" not in SERVICES:
        pytest.skip("the supervision service is not part of the running system yet")
    run = load(system)
    assert run.returncode == 0, run.stdout + run.stderr
    return system


def a_waiting_client() -> str:
    answer = httpx.get(URL["referral"] + "/v1/waitlist", params={"district": "110105"},
                       headers=auth("district_admin")).json()
    return (answer["needs_reverification"] + answer["waiting"])[0]["client_id"]


def test_the_auditor_reads_a_case_timeline_across_the_services_and_every_chain_intact(demo, desktop):
    page = sign_in(desktop, "演示·吴审计")
    desktop.go("/audit")
    assert page.locator("tr.chain").count() == 6
    for service in ("intake", "assessment", "referral", "funding", "notification"):  # every chain intact
        assert page.locator(f'tr.chain[data-service="{service}"] .met').count() == 1, page.locator("table").inner_text()
    desktop.check("audit-chains")
    page.get_by_label("服务对象编号（假名）").fill(a_waiting_client())
    page.get_by_role("button", name="查看时间线").click()
    page.wait_for_url(re.compile(r".*/audit/case\?.*"))
    services = {s for s in page.locator("li.moment").evaluate_all("els => els.map(e => e.dataset.service)")}
    assert {"intake", "assessment", "referral"} <= services
    desktop.check("audit-case")


def test_the_auditor_opens_the_events_behind_a_figure(demo, desktop):
    page = sign_in(desktop, "演示·吴审计")
    dashboard = "/supervision?district=110105&from=2026-01-01&to=" + time.strftime("%Y-%m-%d")
    figure = None
    for _ in range(30):  # supervision reads the topics as they are published: wait for the demo's facts
        desktop.go(dashboard)
        figure = page.locator('li.figure[data-indicator="plan_within_30_days"] a.big')
        if figure.count() and figure.inner_text().strip().endswith("%"):
            break
        time.sleep(2)
    assert figure is not None and figure.inner_text().endswith("%"), "supervision has no figure for the demo district"
    assert page.locator("li.figure .met, li.figure .not-met").count() > 0  # against their targets
    desktop.check("supervision-dashboard")

    figure.click()
    page.wait_for_url(re.compile(r".*/supervision/evidence/plan_within_30_days\?.*"))
    assert page.locator("table.evidence tbody tr").count() > 0
    desktop.check("supervision-evidence")
