"""Nothing across districts, and the small holes of issue 10 (items 3 and 5): each case is a
request someone sent to the running system that was answered wrongly (a 500, a disclosure,
an accepted nonsense) and is now refused clearly, storing nothing."""
from __future__ import annotations

import uuid

import jwt
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from services.funding import api as funding_api
from services.funding.application import create_application as funding_application
from services.intake import api as intake_api
from services.intake.application import NOT_HERE
from services.intake.application import create_application as intake_application
from services.intake.contracts import to_public
from services.referral import api as referral_api
from services.referral.application import create_application as referral_application
from shared.auth import Authority
from shared.clock import FixedClock
from shared.settings import load_settings
from shared.store import event_meta
from tests.support import applicant, application_body
from tests.unit.test_idempotency import PAYMENT, funding_world

KEY = "test-key-hardening-0123456789abcdef-xyz"
HERE, THERE = "110105", "110108"


def assert_invalid(response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input"
    assert field in [e["field"] for e in response.json()["errors"]], response.json()


class Intake:
    """intake with authorisation on: staff of HERE and of THERE."""

    def __init__(self):
        self.settings = load_settings("intake", {"JINGKANG_INTAKE_STORE": "memory://", "JINGKANG_JWT_KEY": KEY})
        self.app = intake_application(self.settings, clock=FixedClock())
        self.http = TestClient(intake_api.create_app(self.settings, self.app))
        self.authority = Authority(KEY)

    def staff(self, district: str, sub: str = "worker-1") -> dict[str, str]:
        token = self.authority.issue(sub=sub, role="station_worker", districts=[district])
        return {"Authorization": f"Bearer {token}"}

    def submit(self, person: dict, district: str, sub: str = "worker-1"):
        return self.http.post("/v1/applications", headers=self.staff(district, sub), json=application_body(
            applicant=person, district_code=district, street_code=district + "001"))

    def stored(self) -> int:
        return self.app.recorder.max_notification_id() or 0


# --- nothing across districts --------------------------------------------------------------------

def test_another_districts_duplicate_check_names_nothing_confirms_nothing_and_is_recorded():
    intake = Intake()
    # Given a person with an open application in HERE, and another registered as a client in HERE
    applying, registered = applicant(), applicant()
    application_id = intake.submit(applying, HERE).json()["application_id"]
    other = intake.submit(registered, HERE).json()["application_id"]
    intake.http.post(f"/v1/applications/{other}/consent", json={"signed_by": "self"}, headers=intake.staff(HERE))
    client_id = intake.http.post(f"/v1/applications/{other}/register", headers=intake.staff(HERE)).json()["client_id"]
    before = intake.stored()
    # When a worker of THERE submits each of them
    answers = [intake.submit(person, THERE, sub="worker-there") for person in (applying, registered)]
    # Then both get the same neutral refusal: no id, no "client" or "application", nothing to tell them apart
    for answer in answers:
        assert answer.status_code == 409
        assert answer.json() == {"error": "conflict", "detail": NOT_HERE}
        for said in (application_id, other, client_id, "client_id", "application_id", "registered", "open"):
            assert said not in answer.text
    # And each attempt is kept on the record held, for HERE to see, with who made it
    seen = intake.http.get(f"/v1/applications/{application_id}", headers=intake.staff(HERE)).json()
    assert seen["duplicate_attempts"] == [{"district_code": THERE, "attempted_on": str(FixedClock().today())}]
    client = intake.http.get(f"/v1/clients/{client_id}", headers=intake.staff(HERE)).json()
    assert [a["district_code"] for a in client["duplicate_attempts"]] == [THERE]
    recorded = [intake.app.mapper.to_domain_event(n) for n in intake.app.recorder.select_notifications(
        start=before, limit=100, inclusive_of_start=False)]
    assert [type(e).__name__ for e in recorded] == ["DuplicateAttempted", "DuplicateAttempted"]
    assert {event_meta(e)["actor"] for e in recorded} == {"worker-there"}
    # and nothing about it is published (it would say the person is in the programme)
    assert [p for e in recorded for p in to_public(e)] == []
    # While THERE may read neither record
    assert intake.http.get(f"/v1/applications/{application_id}", headers=intake.staff(THERE)).status_code == 403


def test_the_holding_district_is_told_what_it_holds():
    intake = Intake()
    person = applicant()
    application_id = intake.submit(person, HERE).json()["application_id"]
    before = intake.stored()
    again = intake.submit(person, HERE)
    assert again.status_code == 409 and f"application_id={application_id}" in again.json()["detail"]
    assert intake.stored() == before


def test_a_city_token_covering_the_holding_district_is_told_too():
    intake = Intake()
    person = applicant()
    application_id = intake.submit(person, HERE).json()["application_id"]
    again = intake.http.post(
        "/v1/applications", json=application_body(applicant=person, district_code=THERE, street_code=THERE + "001"),
        headers={"Authorization": "Bearer " + intake.authority.issue(sub="city-1", role="district_admin",
                                                                     districts=["110000"])})
    assert again.status_code == 409 and f"application_id={application_id}" in again.json()["detail"]


# --- the smaller list ----------------------------------------------------------------------------

@pytest.mark.parametrize("period", ["0000-Q1", "0000-01", "0999-Q4"])
def test_a_period_in_year_zero_is_refused_not_a_500(period):
    app, http, contract_id = funding_world()
    before = app.recorder.max_notification_id()
    assert_invalid(http.post(f"/v1/contracts/{contract_id}/payments", json={**PAYMENT, "period": period},
                             headers={"Idempotency-Key": str(uuid.uuid4())}), "period")
    assert_invalid(http.post(f"/v1/contracts/{contract_id}/settlements",
                             json={"period": period, "performance_score": "0.9", "reasons": ["visit"]},
                             headers={"Idempotency-Key": str(uuid.uuid4()), "X-Jingkang-Actor": "a"}), "period")
    assert app.recorder.max_notification_id() == before


@pytest.mark.parametrize("districts", [110105, None, "110105", [110105], {"a": 1}])
def test_a_malformed_districts_claim_is_401_not_500(districts):
    intake = Intake()
    token = jwt.encode({"sub": "w", "role": "station_worker", "districts": districts, "iss": "jingkang-dev",
                        "exp": 4102444800}, KEY, algorithm="HS256")
    r = intake.http.post("/v1/applications", json=application_body(), headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "unauthorized" and "districts" in r.json()["detail"]


@pytest.mark.parametrize("sub", [12, None, ""])
def test_a_malformed_sub_claim_is_401(sub):
    intake = Intake()
    token = jwt.encode({"sub": sub, "role": "station_worker", "districts": [HERE], "iss": "jingkang-dev",
                        "exp": 4102444800}, KEY, algorithm="HS256")
    assert intake.http.get(f"/v1/clients/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_street_outside_its_district_is_refused_at_submission():
    intake = Intake()
    before = intake.stored()
    r = intake.http.post("/v1/applications", headers=intake.staff(HERE),
                         json=application_body(district_code=HERE, street_code="110108001"))
    assert_invalid(r, "street_code")
    assert intake.stored() == before


def test_a_referral_for_a_client_referral_never_heard_of_is_refused():
    settings = load_settings("referral", {"JINGKANG_REFERRAL_STORE": "memory://"})
    app = referral_application(settings, clock=FixedClock())
    http = TestClient(referral_api.create_app(settings, app))
    r = http.post("/v1/referrals", json={"client_id": str(uuid.uuid4()), "kind": "medical", "reason": "relapse_detected"})
    assert_invalid(r, "client_id")
    assert (app.recorder.max_notification_id() or 0) == 0


@pytest.mark.parametrize("name", ["   ", "\u200b\u200b", "张\u0000三", "\u202eabc", "\u2066王五\u2069", "\t", "李\u200d四",
                                  "1234"])
def test_names_that_are_blank_invisible_or_control_characters_are_refused(name):
    intake = Intake()
    before = intake.stored()
    assert_invalid(intake.http.post("/v1/applications", headers=intake.staff(HERE),
                                    json=application_body(applicant={**applicant(), "name": name})), "applicant.name")
    assert intake.stored() == before


def test_ordinary_names_are_taken():
    intake = Intake()
    for name in ("张三", "欧阳娜娜", "Zhang San", "阿卜杜·热合曼", "O'Brien-Li"):
        r = intake.http.post("/v1/applications", headers=intake.staff(HERE),
                             json=application_body(applicant={**applicant(), "name": name}))
        assert r.status_code == 201, (name, r.text)


@pytest.mark.parametrize("birth_date", [-315619200, 0, 1700000000, 19600101.0, True])
def test_a_birth_date_that_is_a_number_is_refused(birth_date):
    intake = Intake()
    assert_invalid(intake.http.post("/v1/applications", headers=intake.staff(HERE), json=application_body(
        applicant={**applicant(), "birth_date": birth_date})), "applicant.birth_date")


def test_a_contract_date_that_is_a_number_is_refused():
    settings = load_settings("funding", {"JINGKANG_FUNDING_STORE": "memory://"})
    http = TestClient(funding_api.create_app(settings, funding_application(settings)))
    r = http.post("/v1/contracts", json={
        "station_id": str(uuid.uuid4()), "district_code": HERE, "period_start": 1767225600,
        "period_end": "2026-12-31", "budget": "100.00",
        "funding_sources": [{"source": "district_finance", "amount": "100.00"}], "unit_prices": {}})
    assert_invalid(r, "period_start")


def test_metrics_label_only_known_methods():
    intake = Intake()
    for method in ("PROBEA1", "PROBEA2", "get"):
        intake.http.request(method, "/health")
    methods = {s.labels["method"] for m in REGISTRY.collect() if m.name == "jingkang_http_requests"
               for s in m.samples if s.labels.get("service") == "intake"}
    assert "PROBEA1" not in methods and "PROBEA2" not in methods and "get" not in methods
    assert "other" in methods


def test_a_body_that_is_not_utf8_is_400_naming_the_body():
    intake = Intake()
    r = intake.http.post("/v1/applications", content=b'{"source": "self\xff"}', headers={
        **intake.staff(HERE), "Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_input" and r.json()["errors"][0]["field"] == "body"
