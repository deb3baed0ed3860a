"""End to end, the funding loop on the running system, through HTTP and events alone: a
demonstration station registered at referral is learned by funding (its construction
subsidy is granted once); a purchase contract is signed for it; sessions recorded at
assessment accrue against the contract (a no-show does not); after the month is over
(every process's clock is moved ahead) the purchaser (the city) settles it with a
performance score, a second token holder approves (the district's officer may not: it is the
city's money), it is paid, and the contract's story is on Kafka in order:
PurchaseContractSigned, SessionAccrued ×3, SettlementApproved, PurchaseContractPaid."""
from __future__ import annotations

import calendar
import random
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest

from shared.clock import LOCAL
from tests.e2e.conftest import URL, auth, move_clock
from tests.support import application_body, keyed, read_topic, wait_until

pytestmark = pytest.mark.e2e
WORKER = auth("station_worker", sub="worker-e2e")
ADMIN = auth("district_admin", sub="admin-e2e")
# The city buys (purchaser 110000): its money is acted on by city-wide officers; the
# district's funding officer reads the contract of a station in the district.
OFFICER_A = auth("funding_officer", district="*", sub="officer-a-e2e")
OFFICER_B = auth("funding_officer", district="*", sub="officer-b-e2e")
DISTRICT_OFFICER = auth("funding_officer", sub="officer-d-e2e")


def system_today(system: dict) -> date:
    """Today as the running system sees it (its clock may have been moved ahead)."""
    path = system["clock_file"]
    offset = float(path.read_text()) if path.exists() else 0.0
    return (datetime.now(timezone.utc) + timedelta(seconds=offset)).astimezone(LOCAL).date()


def register_client(street: str) -> str:
    r = httpx.post(URL["intake"] + "/v1/applications", json=application_body(street_code=street), headers=WORKER)
    assert r.status_code == 201, r.text
    application_id = r.json()["application_id"]
    r = httpx.post(f"{URL['intake']}/v1/applications/{application_id}/consent", json={"signed_by": "self"},
                   headers=WORKER)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{URL['intake']}/v1/applications/{application_id}/register", headers=WORKER)
    assert r.status_code == 201, r.text
    return r.json()["client_id"]


def contract(contract_id: str) -> dict:
    return httpx.get(f"{URL['funding']}/v1/contracts/{contract_id}", headers=DISTRICT_OFFICER).json()


def test_sessions_accrue_are_settled_approved_by_a_second_person_and_paid(system):
    # Given a demonstration station registered at referral, which funding learns from StationRegistered
    street = f"110105{random.randrange(500, 1000):03d}"
    r = httpx.post(URL["referral"] + "/v1/stations", headers=ADMIN, json={
        "name": "朝阳区省级示范点（测试）", "operator": "朝阳区精神康复协会", "tier": "provincial_demo",
        "district_code": "110105", "streets": [street], "capacity": 20, "services": ["social_skills"]})
    assert r.status_code == 201, r.text
    station_id = r.json()["station_id"]
    station = f"{URL['funding']}/v1/stations/{station_id}"
    wait_until(lambda: httpx.get(station, headers=DISTRICT_OFFICER).json().get("tier") == "provincial_demo", timeout=60,
               what="funding to learn the station's tier")
    # its construction subsidy is granted once
    subsidy = {"kind": "construction", "amount": "200000.00"}
    r = httpx.post(f"{URL['funding']}/v1/stations/{station_id}/subsidies", json=subsidy, headers=keyed(OFFICER_A))
    assert r.status_code == 201, r.text
    assert httpx.post(f"{URL['funding']}/v1/stations/{station_id}/subsidies", json=subsidy,
                      headers=keyed(OFFICER_A)).status_code == 409

    # and a purchase contract for it from the start of this month
    today = system_today(system)
    r = httpx.post(URL["funding"] + "/v1/contracts", headers=OFFICER_A, json={
        "station_id": station_id, "district_code": "110105", "purchaser_code": "110000",
        "period_start": today.replace(day=1).isoformat(), "period_end": (today + timedelta(days=400)).isoformat(),
        "budget": "100000.00", "funding_sources": [{"source": "city_finance", "amount": "70000.00"},
                                                   {"source": "welfare_lottery", "amount": "30000.00"}],
        "unit_prices": {"social_skills": "120.00", "medication_training": "80.00"}})
    assert r.status_code == 201, r.text
    contract_id = r.json()["contract_id"]

    # When a client's sessions at the station are recorded at assessment (one a no-show)
    client_id = register_client(street)
    record = f"{URL['assessment']}/v1/clients/{client_id}/record"
    wait_until(lambda: httpx.get(record, headers=WORKER).status_code == 200, timeout=60,
               what="assessment to learn the client")
    for service_type, attendance in [("social_skills", "attended"), ("social_skills", "attended"),
                                     ("medication_training", "attended"), ("social_skills", "no_show")]:
        r = httpx.post(f"{URL['assessment']}/v1/clients/{client_id}/sessions", headers=WORKER, json={
            "service_type": service_type, "station_id": station_id, "session_date": today.isoformat(),
            "minutes": 60, "mode": "group", "attendance": attendance})
        assert r.status_code == 201, r.text

    # Then funding accrues the attended ones at the contract's prices: 2 × 120.00 + 80.00
    wait_until(lambda: contract(contract_id)["accrued"] == "320.00", timeout=60, what="sessions accrued")
    assert contract(contract_id)["sessions_accrued"] == 3

    # When the month is over and the purchaser settles it with the supervision score
    last_day = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    move_clock(system, (last_day - today).days + 1.01)
    period = f"{today:%Y-%m}"
    r = httpx.post(f"{URL['funding']}/v1/contracts/{contract_id}/settlements", headers=keyed(OFFICER_A), json={
        "period": period, "performance_score": "0.9", "reasons": ["督导评估：服务记录完整"]})
    assert r.status_code == 201, r.text
    settlement = r.json()
    assert (settlement["accrued"], settlement["amount"], settlement["status"]) == ("320.00", "288.00", "pending")
    approval = f"{URL['funding']}/v1/contracts/{contract_id}/settlements/{settlement['settlement_id']}/approval"
    # the district's officer may not approve the city's settlement; the one who prepared it
    # may not either; a second person does
    assert httpx.post(approval, headers=DISTRICT_OFFICER).status_code == 403
    assert httpx.post(approval, headers=OFFICER_A).status_code == 409
    r = httpx.post(approval, headers=OFFICER_B)
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    assert (r.json()["prepared_by"], r.json()["approved_by"]) == ("officer-a-e2e", "officer-b-e2e")
    r = httpx.post(f"{URL['funding']}/v1/contracts/{contract_id}/settlements/{settlement['settlement_id']}/payment",
                   headers=keyed(OFFICER_B))
    assert r.status_code == 201, r.text

    # Then the contract's figures
    figures = contract(contract_id)
    assert {k: figures[k] for k in ("budget", "accrued", "settled", "paid", "remaining")} == {
        "budget": "100000.00", "accrued": "320.00", "settled": "288.00", "paid": "288.00", "remaining": "99712.00"}

    # and the contract's story on Kafka, in order (one key, one partition)
    events = read_topic(system["kafka"], "jingkang.funding.v1", lambda ce: ce["subject"] == contract_id, 6)
    assert [ce["type"].split(".")[2] for _, ce in events] == [
        "PurchaseContractSigned", "SessionAccrued", "SessionAccrued", "SessionAccrued", "SettlementApproved",
        "PurchaseContractPaid"]
    assert events[0][1]["data"]["purchaser_code"] == "110000"
    assert sorted(ce["data"]["amount"] for _, ce in events[1:4]) == ["120.00", "120.00", "80.00"]
    assert (events[4][1]["data"]["amount"], events[5][1]["data"]["amount"], events[5][1]["data"]["period"]) == (
        "288.00", "288.00", period)
    assert all("督导" not in str(ce) for _, ce in events)  # the score's reasons stay inside funding
    [(_, granted)] = read_topic(system["kafka"], "jingkang.funding.v1", lambda ce: ce["subject"] == station_id, 1)
    assert (granted["type"], granted["data"]["kind"]) == ("jingkang.funding.SubsidyGranted.v1", "construction")
