"""End to end in a real browser on a desktop: the hospital's liaison nurse answers a
green-channel referral in the console — it is first on the list with the time left, the
client's record is there because they consented to sharing with health services, and the
referral is accepted and then completed."""
from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.conftest import URL, auth
from tests.support import application_body, wait_until

pytestmark = pytest.mark.e2e
WORKER = auth("station_worker", sub="worker-console-e2e")


def relapsed_client() -> str:
    """A client of 110105 who shares with health services, assessed in relapse: a medical referral opens."""
    r = httpx.post(URL["intake"] + "/v1/applications", json=application_body(), headers=WORKER)
    assert r.status_code == 201, r.text
    application = r.json()["application_id"]
    r = httpx.post(f"{URL['intake']}/v1/applications/{application}/consent", headers=WORKER, json={
        "signed_by": "self", "scope": {"rehabilitation_services": True, "share_with_health": True}})
    assert r.status_code == 201, r.text
    client_id = httpx.post(f"{URL['intake']}/v1/applications/{application}/register", headers=WORKER).json()["client_id"]
    wait_until(lambda: httpx.get(f"{URL['assessment']}/v1/clients/{client_id}/record", headers=WORKER).status_code == 200,
               timeout=60, what="assessment to learn the client")
    r = httpx.post(f"{URL['assessment']}/v1/clients/{client_id}/assessments", headers=WORKER, json={
        "kind": "baseline", "stability": "unstable", "risk_level": 4, "willing": True, "functional_score": 41,
        "assessor": "staff-w-0001"})
    assert r.status_code == 201, r.text
    return client_id


def test_the_hospital_answers_a_green_channel_referral(desktop):
    client_id = relapsed_client()
    referral = wait_until(lambda: httpx.get(URL["referral"] + "/v1/referrals", params={"client_id": client_id},
                                            headers=WORKER).json()["referrals"], timeout=60, what="the medical referral")[0]
    page = desktop.go("/signin/dev")
    page.get_by_role("button", name=re.compile("演示·李护士")).click()
    page.get_by_role("navigation").get_by_role("link", name="转介").click()
    row = page.locator(".row", has_text=client_id[:8])
    assert "绿色通道" in row.inner_text() and "剩余" in row.inner_text()
    desktop.check("referrals")
    row.get_by_role("link").click()
    page.get_by_role("heading", name="康复记录").wait_for()
    assert page.get_by_text("不稳定").first.is_visible()  # the record: the client consented to sharing
    desktop.check("referral")
    page.get_by_role("button", name="接收", exact=True).click()
    page.get_by_text("已接收转介").wait_for()
    page.get_by_role("button", name="出院 / 完成").click()
    page.get_by_text("已完成转介").wait_for()
    desktop.check("referral-completed")
    r = httpx.get(f"{URL['referral']}/v1/referrals/{referral['referral_id']}", headers=WORKER)
    assert r.json()["status"] == "completed"
