"""What every page uses: the session from its cookie, CSRF checks, rendering with the user's
language and navigation, the services with the user's token, and the security headers.

Pages declare `session: Session = Depends(signed_in)` (a forged or expired cookie sends the
browser to the sign-in page) and, for a POST, `Depends(csrf_protected)` (a missing or wrong
token is 403 and the handler never runs, so nothing changes)."""
from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.i18n import COOKIE as LANG_COOKIE, language_of, translator
from console.services import Services
from console.sessions import COOKIE, Session, SessionStore

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str  # message key
    roles: tuple[str, ...]


class SignInRequired(Exception):
    """No live session: the browser goes to the sign-in page."""


def store_of(request: Request) -> SessionStore:
    return request.app.state.sessions


def session_of(request: Request) -> Session:
    """This request's session, made (for a visitor not signed in) when a page first needs one."""
    session = getattr(request.state, "session", None)
    if session is None:
        session = store_of(request).new()
        request.state.session = session
    return session


async def signed_in(request: Request) -> Session:
    """The signed-in user's session; its token renewed shortly before it expires."""
    session = getattr(request.state, "session", None)
    if session is None or session.user is None:
        raise SignInRequired()
    if session.user.token_expires_at - time.time() < 120:
        provider = request.app.state.signin
        fresh = await provider.refresh(session.user) if provider is not None else None
        if fresh is None:
            store_of(request).drop(session)
            request.state.session = None
            raise SignInRequired()
        session.user = fresh
    return session


def csrf_checked(session: Session | None, token: str | None) -> None:
    if session is None or not token or not hmac.compare_digest(session.csrf.encode(), token.encode()):
        raise HTTPException(403, "csrf")


async def csrf_protected(request: Request) -> None:
    """Every state-changing request carries the session's CSRF token: a form field `csrf`, or
    the X-CSRF-Token header (htmx requests; base.html puts it in hx-headers)."""
    token = request.headers.get("x-csrf-token")
    if token is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        token = (await request.form()).get("csrf")
    csrf_checked(getattr(request.state, "session", None), token if isinstance(token, str) else None)


def services(request: Request, session: Session = Depends(signed_in)) -> Services:
    api = Services(request.app.state.settings.service_urls, request.app.state.http, session.user.token)
    request.state.services = api  # for the Server-Timing header: how long the page waited for them
    return api


def finish_sign_in(request: Request, user) -> Response:
    """The end of every provider's flow: a new session for `user`, and home."""
    old = getattr(request.state, "session", None)
    request.state.session = store_of(request).sign_in(old, user)
    return RedirectResponse("/", status_code=303)


def local_path(target: str | None, default: str = "/") -> str:
    """Only a path on this site (no scheme, no host, no //): never an open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


DISTRICT = re.compile(r"^[0-9]{6}$")


def district_of(session: Session, asked: str | None) -> str:
    """The district a page shows: the one asked for (a 6-digit code), else the user's first."""
    if asked and DISTRICT.match(asked):
        return asked
    return next(iter(session.user.districts), "")


def t_of(request: Request):
    return translator(request.app.state.messages, language_of(request.cookies.get(LANG_COOKIE)))


def render(request: Request, template: str, status_code: int = 200, headers: dict | None = None,
           **context: Any) -> HTMLResponse:
    lang = language_of(request.cookies.get(LANG_COOKIE))
    session = getattr(request.state, "session", None)
    if session is None and template.startswith("signin"):
        session = session_of(request)  # the sign-in form needs a CSRF token
    user = session.user if session is not None else None
    nav = [item for item in request.app.state.nav if user is not None and user.role in item.roles]
    flash, session_flash = (list(session.flash), session.flash.clear()) if session is not None else ([], None)
    return request.app.state.templates.TemplateResponse(request, template, {
        "t": translator(request.app.state.messages, lang), "lang": lang, "user": user, "nav": nav,
        "csrf": session.csrf if session is not None else "", "flash": flash, "path": request.url.path,
        **context}, status_code=status_code, headers=headers)


async def session_middleware(request: Request, call_next) -> Response:
    """Loads the session named by the cookie (an unknown or expired id is as good as none),
    and sets or clears the cookie when the session changed; adds the security headers and
    Server-Timing."""
    started = time.perf_counter()
    cookie = request.cookies.get(COOKIE)
    request.state.session = store_of(request).get(cookie)
    response = await call_next(request)
    api = getattr(request.state, "services", None)
    # The page's server time and the part of it spent waiting for the services (bench/console.py
    # reads both; a browser's developer tools show them).
    response.headers["Server-Timing"] = (f"total;dur={(time.perf_counter() - started) * 1000:.1f}, "
                                         f"services;dur={(api.waited if api else 0) * 1000:.1f};desc=\"{api.calls if api else 0} calls\"")
    session = getattr(request.state, "session", None)
    if session is not None and session.id != cookie:
        response.set_cookie(COOKIE, session.id, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
    elif session is None and cookie:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                               secure=request.url.scheme == "https")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if session is not None and session.user is not None and response.headers.get("content-type", "").startswith("text/html"):
        # A signed-in page is about someone's case: not kept in the browser's cache after sign-out.
        response.headers.setdefault("Cache-Control", "no-store")
    return response
