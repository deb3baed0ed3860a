"""End to end in Chromium: the console configured for OpenID Connect (JINGKANG_CONSOLE_SIGNIN=oidc)
sends a station worker to Keycloak's own login page (the realm of deploy/keycloak, started by
the test setup), and back to the worker's home page; signing out ends the session at Keycloak
too, so the next sign-in asks for the password again."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import BASE
from tests.support import wait_until

pytestmark = pytest.mark.e2e

PORT = BASE + 98  # 18K99: a redirect URI the realm's console client allows (deploy/keycloak/realm.json)
URL = f"http://127.0.0.1:{PORT}"


@pytest.fixture(scope="module")
def oidc_console(keycloak_issuer, tmp_path_factory):
    """`python -m console` signing in at Keycloak (its home page calls no service, so none runs here)."""
    log = tmp_path_factory.mktemp("oidc-console") / "console.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT), JINGKANG_CONSOLE_SIGNIN="oidc", JINGKANG_OIDC_ISSUER=keycloak_issuer,
               JINGKANG_OIDC_ACTOR_CLAIM="staff_id", JINGKANG_CONSOLE_OIDC_CLIENT_SECRET="jingkang-console-development-secret",
               JINGKANG_CONSOLE_PORT=str(PORT), JINGKANG_CONSOLE_URL=URL)
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "console"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is None and httpx.get(URL + "/health").status_code == 200, timeout=60,
                   what=f"the console on {URL} (log: {log})")
        yield URL
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def screen(chromium, oidc_console, tmp_path):
    from tests.e2e.browser import PHONE, Screen

    context = chromium.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    try:
        yield Screen(context.new_page(), oidc_console, tmp_path, "phone")
    finally:
        context.close()


def test_a_worker_signs_in_at_keycloak_sees_their_page_and_signs_out_there_too(screen, keycloak_issuer):
    page = screen.go("/")
    page.wait_for_url(re.compile("^" + re.escape(keycloak_issuer) + "/"))  # Keycloak's own login page
    screen.shot("signin-keycloak")
    page.fill("#username", "worker1")
    page.fill("#password", "worker1")
    page.click("#kc-login")
    page.wait_for_url(screen.base_url + "/")
    assert page.get_by_text("演示·王小丽").first.is_visible()
    assert page.get_by_role("navigation").get_by_role("link", name="我的服务对象").is_visible()
    screen.check("home-worker-oidc")
    cookies = {c["name"]: c for c in page.context.cookies(screen.base_url)}
    assert set(cookies) == {"jk_session"} and cookies["jk_session"]["httpOnly"]  # no token in the browser

    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(screen.base_url + "/signin/oidc/signed-out")
    screen.check("signed-out-oidc")
    page.get_by_role("link", name="重新登录").click()
    page.wait_for_url(re.compile("^" + re.escape(keycloak_issuer) + "/"))
    assert page.locator("#password").is_visible()  # the provider's session ended: the password again
