"""The funding officer's page (console/pages/funding.py) in process, funding and referral
answering as their OpenAPI says: the bars' figures, who prepared a settlement, the service's
answer when the same officer approves, an Idempotency-Key per form reused on a resubmit."""
from __future__ import annotations

import json
import re
import uuid

import httpx

from console.pages.funding import bars, contract_views
from tests.unit.test_console_admin import console, csrf_of, sign_in

STATION, CONTRACT, PENDING, PAID = (str(uuid.uuid4()) for _ in range(4))


def settlement(sid, period, status, prepared_by="staff-f-0001", approved_by=None):
    return {"settlement_id": sid, "period": period, "accrued": "2400.00", "performance_score": "0.92",
            "amount": "2208.00", "reasons": ["演示"], "status": status, "prepared_by": prepared_by,
            "prepared_on": "2026-12-01", "approved_by": approved_by, "approved_on": None, "declined_by": None,
            "payment_id": None}


CONTRACTS = {"purchaser_code": "110105", "contracts": [{
    "contract_id": CONTRACT, "station_id": STATION, "district_code": "110105", "purchaser_code": "110105",
    "purchaser_level": "district", "period_start": "2026-07-01", "period_end": "2027-06-30", "budget": "120000.00",
    "accrued": "9800.00", "settled": "2208.00", "awaiting_approval": "2024.00", "paid": "2208.00",
    "remaining": "115768.00", "sessions_accrued": 88, "funding_sources": [], "unit_prices": {},
    "lottery_share_below_minimum": None,
    "settlements": [settlement(PAID, "2026-10", "paid", approved_by="staff-f-0002"),
                    settlement(PENDING, "2026-11", "pending")],
    "payments": [{"payment_id": str(uuid.uuid4()), "amount": "2208.00", "period": "2026-10", "paid_on": "2026-12-02",
                  "settlement_id": PAID}], "budget_rejections": []}]}


class Funding:
    def __init__(self):
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        path = request.url.path
        if path == "/v1/contracts":
            return httpx.Response(200, json=CONTRACTS)
        if path == "/v1/stations":
            return httpx.Response(200, json={"stations": [{"station_id": STATION, "name": "演示·朝阳区宁康驿站"}]})
        if path.endswith("/approval"):
            bearer = request.headers["authorization"].split()[1]
            sub = json.loads(__import__("base64").urlsafe_b64decode(bearer.split(".")[1] + "=="))["sub"]
            if sub == "staff-f-0001":
                return httpx.Response(409, json={"error": "conflict",
                                                 "detail": "the officer who prepared a settlement may not approve it"})
            return httpx.Response(200, json={**settlement(PENDING, "2026-11", "approved", approved_by=sub)})
        if path.endswith("/payments"):
            return httpx.Response(201, json={"payment_id": str(uuid.uuid4()), "amount": "500.00", "paid_total": "2708.00",
                                             "remaining": "115268.00"})
        return httpx.Response(404, json={"error": "not_found", "detail": "unknown"})


def test_the_view_names_the_preparer_and_the_bars_carry_every_figure():
    views = contract_views(CONTRACTS, {STATION: "演示·朝阳区宁康驿站"}, {"staff-f-0001": "演示·孙会计"}, "staff-f-0002")
    assert views[0].station == "演示·朝阳区宁康驿站"
    assert [(s.period, s.prepared_by, s.prepared_by_me) for s in views[0].settlements] == [
        ("2026-10", "演示·孙会计", False), ("2026-11", "演示·孙会计", False)]
    option = bars(views, lambda key: key)
    assert [s["name"] for s in option["series"]] == ["funding.budget", "funding.accrued", "funding.settled",
                                                     "funding.paid", "funding.remaining"]
    assert [s["data"] for s in option["series"]] == [[120000.0], [9800.0], [2208.0], [2208.0], [115768.0]]


def test_the_second_officer_sees_the_first_officers_name_and_approves():
    answers = Funding()
    with console(answers) as client:
        csrf = sign_in(client, "funding2")
        page = client.get("/funding")
        assert "由 演示·孙会计 经办" in page.text and "data-chart=" in page.text
        key = re.search(rf'/settlements/{PENDING}/approval".*?name="key" value="([^"]+)"', page.text, re.S).group(1)
        r = client.post(f"/funding/contracts/{CONTRACT}/settlements/{PENDING}/approval",
                        data={"csrf": csrf, "purchaser": "110105", "key": key})
        assert r.status_code == 303
        assert "已审批 2026-11 的结算" in client.get("/funding").text
    approval = [r for r in answers.sent if r.method == "POST"][0]
    assert approval.headers["idempotency-key"] == key


def test_the_same_officer_approving_is_shown_the_services_refusal():
    answers = Funding()
    with console(answers) as client:
        csrf = sign_in(client, "funding1")
        r = client.post(f"/funding/contracts/{CONTRACT}/settlements/{PENDING}/approval",
                        data={"csrf": csrf, "purchaser": "110105", "key": str(uuid.uuid4())})
    assert r.status_code == 409  # the page again, the service's answer at the top
    assert re.search(r'class="problem" role="alert">[^<]*冲突[^<]*may not approve', r.text)
    assert "由 演示·孙会计 经办" in r.text


def test_a_resubmitted_payment_form_sends_the_same_idempotency_key():
    answers = Funding()
    with console(answers) as client:
        csrf = sign_in(client, "funding1")
        page = client.get("/funding").text
        key = re.search(rf'/contracts/{CONTRACT}/payments".*?name="key" value="([^"]+)"', page, re.S).group(1)
        form = {"csrf": csrf, "purchaser": "110105", "key": key, "amount": "500.00", "period": "2026-11"}
        client.post(f"/funding/contracts/{CONTRACT}/payments", data=form)
        client.post(f"/funding/contracts/{CONTRACT}/payments", data=form)  # a double click
        bad = {**form, "amount": "五百"}
        client.post(f"/funding/contracts/{CONTRACT}/payments", data=bad)
    payments = [r for r in answers.sent if r.method == "POST"]
    assert len(payments) == 2  # the bad amount never left the console
    assert {r.headers["idempotency-key"] for r in payments} == {key}
    assert json.loads(payments[0].content) == {"amount": "500.00", "period": "2026-11"}
    assert len(set(re.findall(r'name="key" value="([^"]+)"', page))) == len(re.findall(r'name="key" value=', page))


def test_a_refused_settlement_keeps_the_input_with_the_services_reason_beside_the_field():
    answers = Funding()

    def handler(request):
        if request.url.path.endswith("/settlements"):
            answers.sent.append(request)
            return httpx.Response(422, json={"error": "invalid_input", "errors": [
                {"field": "period", "reason": "is outside the contract period 2026-07-01 to 2027-06-30"}]})
        return answers(request)

    with console(handler) as client:
        csrf = sign_in(client, "funding1")
        page = client.post(f"/funding/contracts/{CONTRACT}/settlements",
                           data={"csrf": csrf, "purchaser": "110105", "key": "k-1", "period": "2025-Q1",
                                 "score": "0.9", "reason": "演示：季度评分"})
    assert page.status_code == 422
    assert "is outside the contract period" in page.text and 'href="#p-1"' in page.text
    assert 'value="2025-Q1"' in page.text and 'value="0.9"' in page.text and 'value="演示：季度评分"' in page.text
    assert "<details open>" in page.text
    assert 'value="k-1"' not in page.text  # the corrected form is a new request: a new key
