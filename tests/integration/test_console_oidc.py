"""The console's OpenID Connect sign-in (console/signin.py OidcSignIn) against the real
Keycloak of the test setup: the authorization code flow with PKCE through Keycloak's own
login form (posted here as a browser would; tests/e2e/test_console_oidc.py does it in
Chromium), the state and nonce checks, the refresh token kept server-side, sign-out at the
provider, and the provider being unreachable. The console runs in-process (and the services
it calls, where a test needs them, over in-memory stores)."""
from __future__ import annotations

import html
import json
import re
import socket
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from console.app import create_app
from console.sessions import COOKIE
from console.settings import load_console_settings
from services.assessment.api import create_app as assessment_api
from services.intake.api import create_app as intake_api
from services.intake.application import create_application as create_intake
from services.referral.api import create_app as referral_api
from shared.settings import load_settings
from shared.store import event_meta
from tests.conftest import ROOT
from tests.integration.keycloak_admin import Admin
from tests.support import applicant

pytestmark = pytest.mark.integration

CONSOLE_URL = "http://127.0.0.1:8000"  # a redirect URI the realm allows; the test client never listens there
SECRET = "jingkang-console-development-secret"


def console(issuer: str) -> TestClient:
    settings = load_console_settings({
        "JINGKANG_CONSOLE_SIGNIN": "oidc", "JINGKANG_OIDC_ISSUER": issuer, "JINGKANG_OIDC_ACTOR_CLAIM": "staff_id",
        "JINGKANG_CONSOLE_OIDC_CLIENT_SECRET": SECRET, "JINGKANG_CONSOLE_URL": CONSOLE_URL})
    return TestClient(create_app(settings), base_url=CONSOLE_URL, follow_redirects=False)


def login_at_keycloak(authorize_url: str, username: str, password: str | None = None) -> str:
    """What a browser does at Keycloak's login page; returns where Keycloak sends it back."""
    with httpx.Client(timeout=60, follow_redirects=False) as browser:
        page = browser.get(authorize_url)
        assert page.status_code == 200, page.text[:500]
        action = html.unescape(re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text).group(1))
        # Keycloak marks its cookies Secure even on http://127.0.0.1, where browsers send them and httpx does not
        cookies = "; ".join(f"{c.name}={c.value}" for c in browser.cookies.jar)
        answer = browser.post(action, data={"username": username, "password": password or username},
                              headers={"cookie": cookies})
        assert answer.status_code == 302, answer.text[:500]
        return answer.headers["location"]


def begin(client: TestClient) -> str:
    start = client.get("/signin")
    assert start.status_code == 303 and start.headers["location"] == "/signin/oidc"
    redirect = client.get("/signin/oidc")
    assert redirect.status_code == 303, redirect.text
    return redirect.headers["location"]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == CONSOLE_URL
    return f"{parts.path}?{parts.query}"


def test_a_worker_signs_in_through_the_provider_and_the_tokens_stay_on_the_server(keycloak_issuer):
    with console(keycloak_issuer) as client:
        authorize = begin(client)
        query = parse_qs(urlsplit(authorize).query)
        assert authorize.startswith(keycloak_issuer + "/protocol/openid-connect/auth?")
        assert query["code_challenge_method"] == ["S256"] and query["client_id"] == ["jingkang-console"]
        assert query["state"][0] and query["nonce"][0] and query["redirect_uri"] == [CONSOLE_URL + "/signin/oidc/callback"]

        done = client.get(path_of(login_at_keycloak(authorize, "worker1")))
        assert done.status_code == 303 and done.headers["location"] == "/", done.text
        home = client.get("/")
        assert home.status_code == 200 and "演示·王小丽" in home.text
        user = client.app.state.sessions.get(client.cookies[COOKIE]).user
        assert (user.sub, user.role, user.districts) == ("staff-w-0001", "station_worker", ("110105",))
        assert user.refresh_token and user.token
        assert {c.name for c in client.cookies.jar} == {COOKIE}  # the browser holds a session id, no token


def signed_in_user(client: TestClient):
    session = client.app.state.sessions.get(client.cookies.get(COOKIE))
    return session.user if session is not None else None


def test_a_state_the_console_did_not_send_is_refused_and_a_callback_is_good_once(keycloak_issuer):
    with console(keycloak_issuer) as client:
        callback = path_of(login_at_keycloak(begin(client), "worker1"))
        made_up = client.get("/signin/oidc/callback?state=made-up&code=x")
        assert made_up.status_code == 400 and "这次登录已失效" in made_up.text
        assert client.get(callback).status_code == 303
        client.cookies.clear()
        assert client.get(callback).status_code == 400  # replayed


def test_a_code_brought_back_by_another_browser_is_refused(keycloak_issuer):
    with console(keycloak_issuer) as client:
        callback = path_of(login_at_keycloak(begin(client), "worker1"))
        client.cookies.clear()  # the browser that comes back is not the one that started (no binding cookie)
        assert client.get(callback).status_code == 400
        assert signed_in_user(client) is None


def test_an_id_token_with_another_nonce_is_refused(keycloak_issuer):
    with console(keycloak_issuer) as client:
        authorize = begin(client)
        state = parse_qs(urlsplit(authorize).query)["state"][0]
        store = client.app.state.sessions
        pending = store.take_pending("oidc:" + state)
        store.put_pending("oidc:" + state, replace(pending, nonce="not-the-nonce-sent"))
        refused = client.get(path_of(login_at_keycloak(authorize, "worker1")))
        assert refused.status_code == 403
        assert signed_in_user(client) is None


def test_signing_out_ends_the_session_at_the_provider(keycloak_issuer):
    with console(keycloak_issuer) as client:
        client.get(path_of(login_at_keycloak(begin(client), "hospital1")))
        session = client.app.state.sessions.get(client.cookies[COOKIE])
        refresh_token, csrf = session.user.refresh_token, session.csrf
        out = client.post("/signout", data={"csrf": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/signin/oidc/signed-out"
        assert "您已退出本平台" in client.get(out.headers["location"]).text
        assert client.get("/").status_code == 303  # signed out here
    after = httpx.post(f"{keycloak_issuer}/protocol/openid-connect/token", timeout=60, auth=("jingkang-console", SECRET),
                       data={"grant_type": "refresh_token", "refresh_token": refresh_token})
    assert after.status_code == 400, after.text  # and there


def test_the_token_is_renewed_by_the_refresh_token(keycloak_issuer):
    with console(keycloak_issuer) as client:
        client.get(path_of(login_at_keycloak(begin(client), "worker1")))
        session = client.app.state.sessions.get(client.cookies[COOKIE])
        old = session.user
        session.user = replace(old, token_expires_at=0)  # as if it were about to expire
        assert client.get("/").status_code == 200
        assert session.user.token != old.token and session.user.token_expires_at > old.token_expires_at - 300
        assert session.user.sub == "staff-w-0001"


def test_when_the_provider_is_unreachable_sign_in_says_so():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with console(f"http://127.0.0.1:{port}/realms/jingkang") as client:
        page = client.get("/signin/oidc")
    assert page.status_code == 503 and "登录服务（统一身份认证）暂时无法访问" in page.text



def test_a_user_disabled_at_the_provider_is_signed_out_at_the_next_renewal(keycloak_issuer):
    admin = Admin(keycloak_issuer)
    with console(keycloak_issuer) as client:
        client.get(path_of(login_at_keycloak(begin(client), "worker2")))
        session = client.app.state.sessions.get(client.cookies[COOKIE])
        assert client.get("/").status_code == 200
        admin.set_enabled("worker2", False)
        try:
            session.user = replace(session.user, token_expires_at=0)  # the token in hand has run out
            assert client.get("/").headers["location"] == "/signin"  # no new one: sign in again
            assert signed_in_user(client) is None
        finally:
            admin.set_enabled("worker2", True)


DEMO = json.loads((ROOT / "deploy/demo/users.json").read_text(encoding="utf-8"))["users"]


@pytest.mark.parametrize("person", DEMO, ids=[p["username"] for p in DEMO])
def test_every_demo_user_signs_in_with_their_role_and_districts(keycloak_issuer, person):
    with console(keycloak_issuer) as client:
        assert client.get(path_of(login_at_keycloak(begin(client), person["username"]))).status_code == 303
        home = client.get("/")
        user = signed_in_user(client)
    assert home.status_code == 200 and person["name"] in home.text
    assert (user.sub, user.role, list(user.districts)) == (person["sub"], person["role"], person["districts"])


class ServiceApps(httpx.AsyncBaseTransport):
    """The console's calls to each service, answered by that service's app in process (by port)."""

    def __init__(self, apps: dict[int, object]):
        self.transports = {port: httpx.ASGITransport(app=app) for port, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transports[request.url.port].handle_async_request(request)


def test_the_console_acts_with_the_keycloak_token_and_the_services_record_the_staff_id(keycloak_issuer):
    env = {"JINGKANG_OIDC_ISSUER": keycloak_issuer, "JINGKANG_OIDC_ACTOR_CLAIM": "staff_id"}
    settings = {s: load_settings(s, {f"JINGKANG_{s.upper()}_STORE": "memory://", **env})
                for s in ("intake", "assessment", "referral")}
    intake = create_intake(settings["intake"])
    transport = ServiceApps({8001: intake_api(settings["intake"], intake), 8002: assessment_api(settings["assessment"]),
                             8003: referral_api(settings["referral"])})
    console_settings = load_console_settings({
        **env, "JINGKANG_CONSOLE_SIGNIN": "oidc", "JINGKANG_CONSOLE_OIDC_CLIENT_SECRET": SECRET,
        "JINGKANG_CONSOLE_URL": CONSOLE_URL})
    with TestClient(create_app(console_settings, transport=transport), base_url=CONSOLE_URL,
                    follow_redirects=False) as client:
        client.get(path_of(login_at_keycloak(begin(client), "worker1")))
        assert client.get("/clients").status_code == 200
        csrf = client.app.state.sessions.get(client.cookies[COOKIE]).csrf
        person = applicant()
        created = client.post("/clients/new", data={
            "source": "self", **{f"applicant_{k}": v for k, v in person.items()}, "district_code": "110105",
            "street_code": "110105001", "csrf": csrf})
        assert created.status_code == 303, created.text
    events = [intake.mapper.to_domain_event(n) for n in intake.recorder.select_notifications(start=1, limit=100)]
    assert events and {(event_meta(e)["actor"], event_meta(e)["role"]) for e in events} == {
        ("staff-w-0001", "station_worker")}
