"""The district admin's pages (console/pages/stations.py) in process, the services answering
as their OpenAPI says (httpx.MockTransport): view models, what the page shows, what it sends."""
from __future__ import annotations

import json
import re
import uuid

import httpx
from fastapi.testclient import TestClient

from console.app import create_app
from console.pages.stations import referral_rows, station_rows, waiting_rows
from console.settings import load_console_settings

KEY = "unit-console-key-0123456789abcdef0123"
S1, S2 = str(uuid.uuid4()), str(uuid.uuid4())
EARLY, LATE, LAPSED = (str(uuid.uuid4()) for _ in range(3))
STATIONS = {"stations": [
    {"station_id": S1, "name": "演示·朝阳区宁康驿站", "operator": "演示", "tier": "ningkang_post", "district_code": "110105",
     "streets": ["110105011"], "services": ["social_skills"], "capacity": 10, "occupancy": 7, "free_places": 3},
    {"station_id": S2, "name": "演示·朝阳区省级示范点", "operator": "演示", "tier": "provincial_demo",
     "district_code": "110105", "streets": ["110105014"], "services": ["peer_support"], "capacity": 3, "occupancy": 3,
     "free_places": 0}]}
WAITLIST = {"district_code": "110105",
            "waiting": [{"position": 1, "client_id": EARLY, "street_code": "110105014", "waiting_since": "2026-09-10",
                         "days_waited": 86},
                        {"position": 2, "client_id": LATE, "street_code": "110105014", "waiting_since": "2026-11-23",
                         "days_waited": 12}],
            "needs_reverification": [{"client_id": LAPSED, "street_code": "110105014", "waited_since": "2026-07-03",
                                      "days_waited": 155}]}


def referral(status="requested", overdue=False, due="2026-12-06T09:00:00+08:00", kind="medical"):
    return {"referral_id": str(uuid.uuid4()), "client_id": str(uuid.uuid4()), "kind": kind, "status": status,
            "reason": "relapse_detected", "note": None, "to_station_id": None, "requested_at": "2026-12-05T09:00:00+08:00",
            "due_by": due, "overdue": overdue, "outcome_reason": None, "outcome_note": None}


class Services:
    """The services' answers, and the requests the console sent."""

    def __init__(self):
        self.sent: list[httpx.Request] = []
        self.referrals = {"referrals": [referral(), referral(overdue=True, due="2026-12-03T09:00:00+08:00"),
                                        referral(status="completed")]}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        path = request.url.path
        if path == "/v1/stations":
            return httpx.Response(200, json=STATIONS)
        if path == "/v1/waitlist":
            return httpx.Response(200, json=WAITLIST)
        if path == "/v1/referrals":
            return httpx.Response(200, json=self.referrals)
        if path.endswith("/capacity"):
            capacity = json.loads(request.content)["capacity"]
            return httpx.Response(200, json={**STATIONS["stations"][1], "capacity": capacity})
        if path.endswith("/reverification"):
            return httpx.Response(200, json={"client_id": LAPSED, "district_code": "110105", "status": "waitlisted",
                                             "station_id": None, "since": "2026-12-05", "waitlist_position": 3,
                                             "in_hospital": False})
        if path.endswith("/identity/erasure"):
            return httpx.Response(200, json={"client_id": path.split("/")[3], "reason": "data_subject_request",
                                             "erased_on": "2026-12-05"})
        return httpx.Response(404, json={"error": "not_found", "detail": "unknown"})


def console(answers: Services) -> TestClient:
    settings = load_console_settings({"JINGKANG_JWT_KEY": KEY})
    return TestClient(create_app(settings, transport=httpx.MockTransport(answers)), follow_redirects=False)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, username: str = "admin1") -> str:
    page = client.get("/signin/dev")
    client.post("/signin/dev", data={"username": username, "csrf": csrf_of(page.text)})
    return csrf_of(client.get("/").text)


def test_view_models_show_occupancy_days_to_the_90_day_limit_and_overdue_referrals_first():
    rows = station_rows(STATIONS)
    assert [(r.name, r.occupancy, r.capacity, r.full) for r in rows] == [
        ("演示·朝阳区宁康驿站", 7, 10, False), ("演示·朝阳区省级示范点", 3, 3, True)]
    waiting, lapsed = waiting_rows(WAITLIST)
    assert [(w.client_id, w.days, w.days_left, w.level) for w in waiting] == [(EARLY, 86, 4, "warn"), (LATE, 12, 78, "ok")]
    assert [(w.client_id, w.days, w.level) for w in lapsed] == [(LAPSED, 155, "over")]
    refs = referral_rows(Services().referrals)
    assert [r.overdue for r in refs] == [True, False]  # overdue first; the completed one is not open


def test_the_admin_page_shows_stations_waitlist_and_open_referrals_of_the_users_district():
    answers = Services()
    with console(answers) as client:
        sign_in(client)
        page = client.get("/stations")
    assert page.status_code == 200
    assert "演示·朝阳区宁康驿站" in page.text and "7 / 10" in page.text
    assert EARLY in page.text and LAPSED in page.text and "155" in page.text
    assert "已逾期" in page.text  # the overdue referral
    assert {r.url.params.get("district") for r in answers.sent} == {"110105"}
    assert all(r.headers["authorization"].startswith("Bearer ") for r in answers.sent)


def test_without_a_district_referral_list_the_page_says_so_instead_of_failing():
    answers = Services()
    answers.referrals = None

    def handler(request):
        if request.url.path == "/v1/referrals":
            return httpx.Response(422, json={"error": "invalid_input", "errors": [{"field": "client_id",
                                                                                   "reason": "required"}]})
        return answers(request)

    with console(handler) as client:
        sign_in(client)
        page = client.get("/stations")
    assert page.status_code == 200 and "暂不提供按辖区的列表" in page.text


def test_more_places_and_a_reverification_are_sent_to_referral_and_the_answer_shown():
    answers = Services()
    with console(answers) as client:
        csrf = sign_in(client)
        r = client.post(f"/stations/{S2}/capacity", data={"capacity": "4", "district": "110105", "csrf": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/stations?district=110105"
        shown = client.get("/stations").text
        assert "容量为 4" in shown
        client.post(f"/stations/reverification/{LAPSED}", data={"district": "110105", "csrf": csrf})
        assert "已记录重新核实：重新候补" in client.get("/stations").text
    posts = [(r.url.path, json.loads(r.content)) for r in answers.sent if r.method == "POST"]
    assert posts == [(f"/v1/stations/{S2}/capacity", {"capacity": 4}), (f"/v1/clients/{LAPSED}/reverification", {})]


def test_without_the_csrf_token_nothing_is_sent():
    answers = Services()
    with console(answers) as client:
        sign_in(client)
        r = client.post(f"/stations/{S2}/capacity", data={"capacity": "4"})
    assert r.status_code == 403
    assert not [r for r in answers.sent if r.method == "POST"]


def test_erasure_asks_then_shows_the_answers_to_check_then_erases():
    answers = Services()
    client_id = str(uuid.uuid4())
    with console(answers) as client:
        csrf = sign_in(client)
        bad = client.post("/stations/erasure/check", data={"client": "张三", "reason": "", "csrf": csrf})
        assert bad.status_code == 422 and 'href="#f-client"' in bad.text and 'href="#f-reason"' in bad.text
        assert 'value="张三"' in bad.text  # the input is kept
        check = client.post("/stations/erasure/check", data={"client": client_id, "reason": "data_subject_request",
                                                             "csrf": csrf})
        assert check.status_code == 200 and client_id in check.text and "本人申请" in check.text
        assert not [r for r in answers.sent if r.method == "POST"]  # nothing erased before the confirmation
        done = client.post("/stations/erasure", data={"client": client_id, "reason": "data_subject_request",
                                                      "csrf": csrf_of(check.text)})
        assert done.status_code == 303
        assert f"已删除服务对象 {client_id} 的身份信息" in client.get("/stations").text
    posts = [(r.url.path, json.loads(r.content)) for r in answers.sent if r.method == "POST"]
    assert posts == [(f"/v1/clients/{client_id}/identity/erasure", {"reason": "data_subject_request"})]


def test_a_refusal_is_said_at_the_top_of_the_page_and_changes_nothing():
    answers = Services()

    def handler(request):
        if request.url.path.endswith("/capacity"):
            answers.sent.append(request)
            return httpx.Response(409, json={"error": "conflict", "detail": "capacity 2 is below the 3 clients placed"})
        return answers(request)

    with console(handler) as client:
        csrf = sign_in(client)
        r = client.post(f"/stations/{S2}/capacity", data={"capacity": "2", "district": "110105", "csrf": csrf})
    assert r.status_code == 409
    assert re.search(r'class="problem" role="alert">[^<]*below the 3 clients placed', r.text)
    assert "演示·朝阳区省级示范点" in r.text  # the page itself, not an error page
