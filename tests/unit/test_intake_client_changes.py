"""A registered client's consent withdrawal, relocation and exit: each becomes a public
event the other services act on; after an exit every change is refused (409) and a
refused command stores nothing."""
from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from services.intake.api import create_app
from services.intake.application import create_application
from services.intake.contracts import to_public
from shared.contract.intake import ClientExited, ClientRelocated, ConsentWithdrawn
from shared.settings import load_settings
from tests.support import application_body


@pytest.fixture
def intake():
    return create_application(load_settings("intake", {"JINGKANG_INTAKE_STORE": "memory://"}))


@pytest.fixture
def http(intake):
    return TestClient(create_app(load_settings("intake", {"JINGKANG_INTAKE_STORE": "memory://"}), intake))


@pytest.fixture
def client_id(http):
    application_id = http.post("/v1/applications", json=application_body()).json()["application_id"]
    http.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "self", "scope": {
        "rehabilitation_services": True, "share_with_health": True, "share_with_disability_and_employment": True}})
    return http.post(f"/v1/applications/{application_id}/register").json()["client_id"]


def public(intake, kind):
    return [p for n in intake.recorder.select_notifications(start=1, limit=100)
            for p in to_public(intake.mapper.to_domain_event(n)) if isinstance(p, kind)]


def stored(intake) -> int:
    return intake.recorder.max_notification_id()


def test_withdrawing_health_sharing_publishes_the_remaining_consent(http, intake, client_id):
    r = http.post(f"/v1/clients/{client_id}/consent/withdrawals", json={"scopes": ["share_with_health"]})
    assert r.status_code == 200
    assert r.json()["consent"] == {"rehabilitation_services": True, "share_with_health": False,
                                   "share_with_disability_and_employment": True}
    (withdrawn,) = public(intake, ConsentWithdrawn)
    assert str(withdrawn.client_id) == client_id and withdrawn.consent.share_with_health is False


def test_withdrawing_what_is_not_given_or_unknown_scopes_is_refused_and_stores_nothing(http, intake, client_id):
    http.post(f"/v1/clients/{client_id}/consent/withdrawals", json={"scopes": ["share_with_health"]})
    before = stored(intake)
    assert http.post(f"/v1/clients/{client_id}/consent/withdrawals", json={"scopes": ["share_with_health"]}).status_code == 409
    bad = http.post(f"/v1/clients/{client_id}/consent/withdrawals", json={"scopes": ["share_with_police"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("scopes")
    assert http.post(f"/v1/clients/{client_id}/consent/withdrawals", json={"scopes": []}).status_code == 422
    assert stored(intake) == before


def test_a_relocation_is_published_and_must_stay_consistent(http, intake, client_id):
    r = http.post(f"/v1/clients/{client_id}/relocation", json={"district_code": "110106", "street_code": "110106003"})
    assert (r.status_code, r.json()["district_code"], r.json()["street_code"]) == (200, "110106", "110106003")
    (moved,) = public(intake, ClientRelocated)
    assert (moved.district_code, moved.street_code) == ("110106", "110106003")
    before = stored(intake)
    mismatch = http.post(f"/v1/clients/{client_id}/relocation", json={"district_code": "110105", "street_code": "110106003"})
    assert (mismatch.status_code, mismatch.json()["errors"][0]["field"]) == (422, "street_code")
    same = http.post(f"/v1/clients/{client_id}/relocation", json={"district_code": "110106", "street_code": "110106003"})
    assert same.status_code == 409
    assert stored(intake) == before


def test_after_an_exit_every_change_is_refused_and_stores_nothing(http, intake, client_id):
    r = http.post(f"/v1/clients/{client_id}/exit", json={"reason": "recovered"})
    assert (r.status_code, r.json()["exited"]) == (200, True)
    (exited,) = public(intake, ClientExited)
    assert exited.reason == "recovered"
    before = stored(intake)
    for path, body in (("exit", {"reason": "died"}), ("relocation", {"district_code": "110106", "street_code": "110106003"}),
                       ("consent/withdrawals", {"scopes": ["share_with_health"]})):
        refused = http.post(f"/v1/clients/{client_id}/{path}", json=body)
        assert refused.status_code == 409, path
        assert "exited" in refused.json()["detail"]
    assert stored(intake) == before


def test_bad_exit_reason_and_unknown_client(http, client_id):
    bad = http.post(f"/v1/clients/{client_id}/exit", json={"reason": "bored"})
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "reason")
    assert http.post(f"/v1/clients/{uuid.uuid4()}/exit", json={"reason": "recovered"}).status_code == 404
