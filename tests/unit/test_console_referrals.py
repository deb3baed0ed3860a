"""The referral pages (console/pages/referrals.py): the incoming list's order and time left,
and a hospital answering a green-channel referral against the real referral and assessment
APIs in process, the record shown only where the client's consent allows."""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from console.pages.referrals import incoming
from tests.unit.test_console_clients import csrf_of, sign_in, world  # noqa: F401  (the fixture)

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)


def referral(kind: str, due_in: timedelta, status: str = "requested") -> dict:
    """A referral as referral's API answers it."""
    return {"referral_id": str(uuid.uuid4()), "client_id": str(uuid.uuid4()), "kind": kind, "status": status,
            "reason": "other", "note": None, "to_station_id": None, "requested_at": (NOW - timedelta(hours=1)).isoformat(),
            "due_by": (NOW + due_in).isoformat(), "overdue": False, "outcome_reason": None, "outcome_note": None}


def test_the_green_channel_comes_first_then_the_least_time_left_and_accepted_ones_last():
    community_soon = referral("community", timedelta(hours=2))
    medical_later = referral("medical", timedelta(hours=20))
    medical_late = referral("medical", timedelta(minutes=-90))
    accepted = referral("medical", timedelta(hours=1), status="accepted")
    rows = incoming([community_soon, accepted, medical_later, medical_late], NOW)
    assert [r.referral for r in rows] == [medical_late, medical_later, community_soon, accepted]
    assert rows[0].overdue and rows[0].time_left == (1, 30)
    assert not rows[1].overdue and rows[1].time_left == (20, 0)
    assert not rows[3].overdue  # under way: nothing to answer


def registered(apps, sharing: bool) -> uuid.UUID:
    """A client of 110105 as assessment and referral learn them from intake's ClientRegistered."""
    client = uuid.uuid4()
    consent = {"rehabilitation_services": True, "share_with_health": sharing}
    apps["assessment"].open_record(client_id=client, district_code="110105", street_code="110105001",
                                   registered_on=date.today(), consent=consent)
    apps["assessment"].complete_assessment(client, kind="baseline", stability="unstable", risk_level=4, willing=True,
                                           functional_score=40, assessor="staff-w-0001")
    apps["referral"].register_client(client_id=client, district_code="110105", street_code="110105001",
                                     registered_on=date.today(), consent=consent)
    return client


def test_a_hospital_answers_a_green_channel_referral_and_sees_the_record_only_with_consent(world):  # noqa: F811
    browser, apps = world
    sharing, private = registered(apps, True), registered(apps, False)
    shared_referral = apps["referral"].open_medical_referral(client_id=sharing, cause_event_id="ce-1")
    private_referral = apps["referral"].open_medical_referral(client_id=private, cause_event_id="ce-2")
    csrf = sign_in(browser, "hospital1")
    page = browser.get("/referrals").text
    assert page.count("绿色通道") >= 2 and str(shared_referral) in page and "剩余" in page

    detail = browser.get(f"/referrals/{private_referral}").text
    assert "未同意与卫生健康部门共享" in detail and "危险性等级" not in detail
    detail = browser.get(f"/referrals/{shared_referral}").text
    assert "不稳定" in detail and "危险性等级" in detail and "未同意" not in detail

    # Declining without a reason code: the reason field says so, nothing changes
    r = browser.post(f"/referrals/{shared_referral}/decline", data={"csrf": csrf, "reason": ""})
    assert r.status_code == 422 and re.search(r'has-error">\s*<label for="f-reason"', r.text)
    assert apps["referral"].get_referral(shared_referral).status == "requested"
    # Accept, then complete
    assert browser.post(f"/referrals/{shared_referral}/accept", data={"csrf": csrf}).status_code == 303
    assert "已接收转介" in browser.get(f"/referrals/{shared_referral}").text
    assert browser.post(f"/referrals/{shared_referral}/complete", data={"csrf": csrf}).status_code == 303
    assert apps["referral"].get_referral(shared_referral).status == "completed"
    # Completing again is a conflict, said plainly
    r = browser.post(f"/referrals/{shared_referral}/complete", data={"csrf": csrf})
    assert r.status_code == 409 and "冲突" in r.text and "Traceback" not in r.text
    # And the finished one has left the list
    assert str(shared_referral) not in browser.get("/referrals").text
