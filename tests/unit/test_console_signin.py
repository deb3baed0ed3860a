"""The console's sign-in, sessions, CSRF and headers (console/signin.py, sessions.py, web.py):
in process, the services never called."""
from __future__ import annotations

import re
import time

import jwt
import pytest
from fastapi.testclient import TestClient

from console.app import create_app
from console.sessions import COOKIE, SessionStore
from console.settings import load_console_settings
from console.signin import SignedIn
from shared.settings import SettingsError

KEY = "unit-console-key-0123456789abcdef0123"


def console(environ: dict | None = None, **client_args) -> TestClient:
    settings = load_console_settings({"JINGKANG_JWT_KEY": KEY, **(environ or {})})
    return TestClient(create_app(settings), follow_redirects=False, **client_args)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, username: str = "worker1") -> str:
    page = client.get("/signin/dev")
    r = client.post("/signin/dev", data={"username": username, "csrf": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/"
    return csrf_of(client.get("/").text)


def test_the_dev_sign_in_lists_the_demo_staff_with_role_and_districts():
    with console() as client:
        page = client.get("/signin/dev")
    assert page.status_code == 200
    for shown in ("演示·王小丽", "驿站社工", "110105", "演示·李护士", "医院联络人"):
        assert shown in page.text


def test_signing_in_gives_a_token_the_services_accept_and_the_role_s_navigation():
    with console() as client:
        sign_in(client, "hospital1")
        home = client.get("/")
        session = client.app.state.sessions.get(client.cookies[COOKIE])
    assert home.status_code == 200 and "演示·李护士" in home.text
    assert 'href="/referrals"' in home.text and 'href="/clients"' not in home.text  # a hospital has no caseload
    claims = jwt.decode(session.user.token, KEY, algorithms=["HS256"], issuer="jingkang-dev")
    assert claims["sub"] == "staff-h-0001" and claims["role"] == "hospital" and claims["districts"] == ["110105"]
    assert "李" not in session.user.sub  # the actor the services record is a staff id, never a name


def test_the_cookie_carries_only_a_random_id_httponly_samesite_strict():
    with console() as client:
        page = client.get("/signin/dev")
        r = client.post("/signin/dev", data={"username": "worker1", "csrf": csrf_of(page.text)})
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http on the developer's machine
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(value) >= 40 and "." not in value  # not a token, not a signed payload: an id


def test_over_https_the_cookie_is_secure():
    with console(base_url="https://console.example") as client:
        page = client.get("/signin/dev")
        r = client.post("/signin/dev", data={"username": "worker1", "csrf": csrf_of(page.text)})
    assert "Secure" in r.headers["set-cookie"]


def test_signing_in_replaces_the_session_id_used_before_it():
    with console() as client:
        client.get("/signin/dev")
        before = client.cookies[COOKIE]
        sign_in(client)
        after = client.cookies[COOKIE]
        assert before != after and client.app.state.sessions.get(before) is None


@pytest.mark.parametrize("csrf", [None, "", "forged-token"])
def test_a_missing_or_wrong_csrf_token_is_403_and_signs_no_one_in(csrf):
    with console() as client:
        client.get("/signin/dev")
        data = {"username": "admin1"} | ({} if csrf is None else {"csrf": csrf})
        r = client.post("/signin/dev", data=data)
        assert r.status_code == 403 and "什么也没有改变" in r.text
        assert client.get("/").status_code == 303  # still not signed in


def test_sign_out_needs_the_csrf_token_and_then_ends_the_session():
    with console() as client:
        csrf = sign_in(client)
        assert client.post("/signout", data={"csrf": "wrong"}).status_code == 403
        assert client.get("/").status_code == 200  # the refused sign-out changed nothing
        assert client.get("/").headers["cache-control"] == "no-store"  # signed-in pages are not cached
        r = client.post("/signout", data={"csrf": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/signin"
        assert client.get("/").headers["location"] == "/signin"


def test_a_forged_cookie_is_the_sign_in_page():
    with console() as client:
        client.cookies.set(COOKIE, "forged-session-id")
        r = client.get("/clients")
    assert r.status_code == 303 and r.headers["location"] == "/signin"


def test_an_expired_session_is_the_sign_in_page():
    with console({"JINGKANG_CONSOLE_SESSION_SECONDS": "60"}) as client:
        sign_in(client)
        store: SessionStore = client.app.state.sessions
        store.clock = lambda: 10**12  # long after
        r = client.get("/clients")
    assert r.status_code == 303 and r.headers["location"] == "/signin"


def test_an_htmx_request_without_a_session_is_told_to_go_to_the_sign_in_page():
    with console() as client:
        r = client.get("/clients", headers={"HX-Request": "true"})
    assert r.headers["HX-Redirect"] == "/signin"


def test_unknown_demo_user_is_refused_plainly():
    with console() as client:
        page = client.get("/signin/dev")
        r = client.post("/signin/dev", data={"username": "mallory", "csrf": csrf_of(page.text)})
    assert r.status_code == 422 and "Traceback" not in r.text


def test_a_token_about_to_expire_is_renewed():
    with console() as client:
        sign_in(client)
        session = client.app.state.sessions.get(client.cookies[COOKIE])
        session.user = SignedIn(**{**session.user.__dict__, "token": "expired", "token_expires_at": 0})
        assert client.get("/").status_code == 200
        assert session.user.token != "expired" and session.user.token_expires_at > time.time() + 3600


def test_in_production_the_dev_sign_in_does_not_exist():
    with pytest.raises(SettingsError):
        load_console_settings({"JINGKANG_ENV": "production", "JINGKANG_JWT_KEY": KEY, "JINGKANG_CONSOLE_SIGNIN": "dev"})
    with pytest.raises(SettingsError, match="JINGKANG_OIDC_ISSUER"):  # oidc chosen: a console nobody can sign in to
        console({"JINGKANG_ENV": "production"})                       # does not start
    with console({"JINGKANG_ENV": "production", "JINGKANG_OIDC_ISSUER": "https://id.example.gov.cn/realms/jingkang",
                  "JINGKANG_CONSOLE_OIDC_CLIENT_SECRET": "a-secret"}) as client:
        assert client.get("/signin/dev").status_code == 404
        assert client.post("/signin/dev", data={"username": "worker1"}).status_code in (403, 404)
        assert client.get("/signin").headers["location"] == "/signin/oidc"


def test_every_page_has_the_security_headers():
    with console() as client:
        for r in (client.get("/signin/dev"), client.get("/nope"), client.get("/static/console.css")):
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert r.headers["server-timing"].startswith("total;dur=")


def test_pages_have_no_inline_script():
    with console() as client:
        sign_in(client)
        for path in ("/", "/clients", "/referrals", "/signin/dev"):
            html = client.get(path).text
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
            assert not re.search(r"\son[a-z]+=", html), path


def test_zh_cn_by_default_english_on_request_and_the_redirect_stays_on_the_site():
    with console() as client:
        assert 'lang="zh-CN"' in client.get("/signin/dev").text
        r = client.get("/lang/en", params={"next": "https://evil.example/"})
        assert r.headers["location"] == "/"
        r = client.get("/lang/en", params={"next": "/signin/dev"})
        assert r.headers["location"] == "/signin/dev"
        page = client.get("/signin/dev")
    assert 'lang="en"' in page.text and "Development sign-in" in page.text


def test_vendor_files_are_served_by_name_only():
    with console() as client:
        assert client.get("/vendor/..%2Fpackage.json").status_code == 404
        assert client.get("/vendor/package.json").status_code == 404


def test_time_waiting_for_services_asked_at_once_counts_once():
    from console.services import Services

    api = Services({}, None, "token")
    api.spans = [(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]
    assert (api.waited, api.calls) == (4.0, 3)
