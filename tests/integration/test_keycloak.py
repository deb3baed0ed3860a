"""Sign-in against a real Keycloak (deploy/keycloak/, realm.json), started by the test setup
on JINGKANG_TEST_KEYCLOAK_PORT: demo users get tokens by password (the development client),
the district integration by client credentials, and every service accepts them by the
realm's published keys. The realm's key rotation needs no restart of the services; a
disabled user can do nothing once the token in hand expires; a role removed takes effect
at the next token. The services run in-process over in-memory stores: what is under test
is the token, not the store."""
from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from services.assessment.api import create_app as assessment_api
from services.funding.api import create_app as funding_api
from services.intake.api import create_app as intake_api
from services.intake.application import create_application as create_intake
from services.notification.api import create_app as notification_api
from services.referral.api import create_app as referral_api
from shared.settings import load_settings
from shared.store import event_meta
from tests.integration.keycloak_admin import Admin
from tests.support import application_body

pytestmark = pytest.mark.integration

APIS = {"intake": intake_api, "assessment": assessment_api, "referral": referral_api, "funding": funding_api,
        "notification": notification_api}
INTEGRATION = ("district-dashboard-110105", "district-dashboard-110105-development-secret")


def service_settings(name: str, issuer: str, **settings: str):
    """A service trusting the realm, as `make up IDP=keycloak` runs it; `settings`: other JINGKANG_OIDC_* values."""
    return load_settings(name, {f"JINGKANG_{name.upper()}_STORE": "memory://", "JINGKANG_OIDC_ISSUER": issuer,
                                "JINGKANG_OIDC_ACTOR_CLAIM": "staff_id",
                                **{f"JINGKANG_OIDC_{k.upper()}": v for k, v in settings.items()}})


def services(issuer: str, **settings: str) -> dict[str, TestClient]:
    """The five services' APIs, in-process."""
    return {name: TestClient(create_app(service_settings(name, issuer, **settings))) for name, create_app in APIS.items()}


def post(url: str, **kwargs) -> httpx.Response:
    return httpx.post(url, timeout=60, **kwargs)  # a busy machine makes Keycloak slow, not wrong


def password_token(issuer: str, username: str) -> dict:
    r = post(f"{issuer}/protocol/openid-connect/token", data={
        "grant_type": "password", "client_id": "jingkang-dev-cli", "username": username, "password": username})
    assert r.status_code == 200, r.text
    return r.json()


def bearer(token: dict | str) -> dict[str, str]:
    return {"authorization": "Bearer " + (token if isinstance(token, str) else token["access_token"])}


@pytest.fixture
def admin(keycloak_issuer):
    return Admin(keycloak_issuer)


def test_a_demo_user_signed_in_at_the_provider_is_served_by_every_service(keycloak_issuer):
    apis = services(keycloak_issuer)
    worker, funding, admin = (password_token(keycloak_issuer, u) for u in ("worker1", "funding1", "admin1"))

    created = apis["intake"].post("/v1/applications", json=application_body(), headers=bearer(worker))
    assert created.status_code == 201, created.text
    application = apis["intake"].get(f"/v1/applications/{created.json()['application_id']}", headers=bearer(worker))
    assert application.status_code == 200 and application.json()["district_code"] == "110105"
    nobody = uuid.uuid4()
    assert apis["assessment"].get(f"/v1/clients/{nobody}/record", headers=bearer(worker)).status_code == 404
    assert apis["referral"].get("/v1/stations?district=110105", headers=bearer(worker)).status_code == 200
    assert apis["funding"].get("/v1/purchasers/110105", headers=bearer(funding)).status_code in (200, 404)
    assert apis["notification"].get("/v1/subscriptions?district=110105", headers=bearer(admin)).status_code == 200
    # the realm's roles are the services' roles: a funding officer may not record an application
    assert apis["intake"].post("/v1/applications", json=application_body(), headers=bearer(funding)).status_code == 403
    # a token altered after signing: every service refuses it
    altered = {"authorization": "Bearer " + worker["access_token"][:-6] + "AAAAAA"}
    paths = {"intake": f"/v1/applications/{nobody}", "assessment": f"/v1/clients/{nobody}/record",
             "referral": "/v1/stations?district=110105", "funding": "/v1/purchasers/110105",
             "notification": f"/v1/notifications?client_id={nobody}"}
    for name, api in apis.items():
        assert api.get(paths[name], headers=altered).status_code == 401, name


def test_the_recorded_actor_is_the_staff_id_the_provider_vouches_for(keycloak_issuer):
    settings = service_settings("intake", keycloak_issuer)
    intake = create_intake(settings)
    created = TestClient(intake_api(settings, intake)).post(
        "/v1/applications", json=application_body(), headers=bearer(password_token(keycloak_issuer, "worker1")))
    assert created.status_code == 201
    events = [intake.mapper.to_domain_event(n) for n in intake.recorder.select_notifications(start=1, limit=100)]
    assert events and {(event_meta(e)["actor"], event_meta(e)["role"]) for e in events} == {
        ("staff-w-0001", "station_worker")}


def test_a_district_integration_gets_its_token_by_client_credentials(keycloak_issuer):
    r = post(f"{keycloak_issuer}/protocol/openid-connect/token", data={"grant_type": "client_credentials"},
                   auth=INTEGRATION)
    assert r.status_code == 200, r.text
    token = r.json()
    assert "refresh_token" not in token and token["expires_in"] <= 300
    notification = services(keycloak_issuer)["notification"]
    assert notification.get("/v1/subscriptions?district=110105", headers=bearer(token)).status_code == 200
    assert notification.get("/v1/subscriptions?district=110108", headers=bearer(token)).status_code == 403
    # its role is integration: a worker's list is not for it
    assert notification.get(f"/v1/notifications?client_id={uuid.uuid4()}", headers=bearer(token)).status_code == 403
    wrong = post(f"{keycloak_issuer}/protocol/openid-connect/token", data={"grant_type": "client_credentials"},
                       auth=(INTEGRATION[0], "not-the-secret"))
    assert wrong.status_code == 401


def test_a_rotated_realm_key_is_accepted_without_restart_and_a_removed_one_refused(keycloak_issuer, admin):
    referral = services(keycloak_issuer, refresh_seconds="0")["referral"]
    before = password_token(keycloak_issuer, "worker1")
    assert referral.get("/v1/stations?district=110105", headers=bearer(before)).status_code == 200
    old_keys = admin.signing_keys()

    admin.add_signing_key(priority=1000 + int(time.time()) % 1000)  # the highest priority signs from now on
    for component in set(old_keys.values()):
        admin.call("DELETE", f"/components/{component}")
    after = password_token(keycloak_issuer, "worker1")
    assert set(admin.signing_keys()).isdisjoint(old_keys)

    assert referral.get("/v1/stations?district=110105", headers=bearer(after)).status_code == 200  # fetched the new key
    refused = referral.get("/v1/stations?district=110105", headers=bearer(before))
    assert refused.status_code == 401 and "does not have" in refused.json()["detail"], refused.text


def test_a_disabled_user_can_do_nothing_once_the_token_in_hand_expires(keycloak_issuer, admin):
    admin.token_lifespan("jingkang-dev-cli", 5)
    try:
        referral = services(keycloak_issuer, leeway_seconds="0")["referral"]
        token = password_token(keycloak_issuer, "worker2")
        assert referral.get("/v1/stations?district=110108", headers=bearer(token)).status_code == 200
        admin.set_enabled("worker2", False)
        try:
            # no new token: neither by password nor by the refresh token
            again = post(f"{keycloak_issuer}/protocol/openid-connect/token", data={
                "grant_type": "password", "client_id": "jingkang-dev-cli", "username": "worker2", "password": "worker2"})
            assert again.status_code in (400, 401), again.text
            refreshed = post(f"{keycloak_issuer}/protocol/openid-connect/token", data={
                "grant_type": "refresh_token", "client_id": "jingkang-dev-cli", "refresh_token": token["refresh_token"]})
            assert refreshed.status_code in (400, 401), refreshed.text
            # the token in hand lives at most its lifetime (5 s here, 300 in the realm)
            time.sleep(max(0.0, jwt.decode(token["access_token"], options={"verify_signature": False})["exp"]
                           + 1 - time.time()))
            expired = referral.get("/v1/stations?district=110108", headers=bearer(token))
            assert expired.status_code == 401 and "expired" in expired.json()["detail"], expired.text
        finally:
            admin.set_enabled("worker2", True)
    finally:
        admin.token_lifespan("jingkang-dev-cli", None)


def test_a_role_removed_takes_effect_at_the_next_token(keycloak_issuer, admin):
    referral = services(keycloak_issuer)["referral"]
    admin.move_role("worker2", "station_worker", "funding_officer")
    try:
        token = password_token(keycloak_issuer, "worker2")
        assert referral.get("/v1/waitlist?district=110108", headers=bearer(token)).status_code == 403  # a funding officer now
        assert referral.get("/v1/stations?district=110108", headers=bearer(token)).status_code == 200
    finally:
        admin.move_role("worker2", "funding_officer", "station_worker")


def test_tokens_the_services_must_not_take_are_401_with_the_reason_and_record_nothing(keycloak_issuer):
    settings = service_settings("intake", keycloak_issuer)
    intake = create_intake(settings)
    http = TestClient(intake_api(settings, intake))
    signed_in = post(f"{keycloak_issuer}/protocol/openid-connect/token", data={
        "grant_type": "password", "client_id": "jingkang-dev-cli", "username": "worker1", "password": "worker1",
        "scope": "openid"}).json()
    access = signed_in["access_token"]
    header, payload, signature = access.split(".")
    cases = {
        "for another audience": signed_in["id_token"],  # the ID token is for the client, not for the services
        "Signature verification failed": f"{header}.{payload}.{signature[:-6]}AAAAAA",
        "algorithm 'none' is not accepted": jwt.encode(jwt.decode(access, options={"verify_signature": False}),
                                                       None, algorithm="none"),
    }
    for reason, token in cases.items():
        r = http.post("/v1/applications", json=application_body(), headers=bearer(token))
        assert r.status_code == 401 and reason in r.text, (reason, r.text)
    assert intake.recorder.max_notification_id() in (None, 0)
    assert http.post("/v1/applications", json=application_body(), headers=bearer(access)).status_code == 201
