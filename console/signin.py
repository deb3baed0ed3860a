"""Sign-in behind one interface, so the way staff prove who they are can change without
touching a page.

A provider (`SignIn`) owns the routes of its own flow under /signin/<name>: the development
provider shows the demo staff and signs a token with the development key; an OpenID Connect
provider redirects to the identity provider and takes the code back. Either ends by handing a
`SignedIn` (who, and the bearer token the services accept) to `console.web.finish_sign_in`,
which starts the session. The console never decides what a role may do: the token goes to the
services as it is, and they decide.

`provider_for(settings)` chooses by JINGKANG_CONSOLE_SIGNIN; in production the development
provider is never built, so its page does not exist (404)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response

from shared.auth import Authority


@dataclass(frozen=True)
class SignedIn:
    """The signed-in user: display information for the pages and the bearer token for the services."""
    sub: str  # a staff id, never a name: it is what logs and the services see
    name: str  # shown on the page only
    role: str
    districts: tuple[str, ...]
    token: str
    token_expires_at: float
    title: str = ""
    refresh_token: str | None = None  # OIDC: to renew the access token
    id_token: str | None = None  # OIDC: the hint for the identity provider's sign-out


class SignIn(Protocol):
    name: str  # dev, oidc: its routes live under /signin/<name>

    @property
    def start_path(self) -> str:
        """Where /signin sends the browser to begin."""

    def router(self) -> APIRouter:
        """The provider's own pages and callbacks; they end with console.web.finish_sign_in."""

    async def refresh(self, user: SignedIn) -> SignedIn | None:
        """A SignedIn with a fresh token before the old one expires; None if it cannot (sign in again)."""

    async def sign_out(self, user: SignedIn) -> str | None:
        """Ends the user's sign-in where the provider keeps one; a URL to send the browser to, or None."""


@dataclass(frozen=True)
class DemoUser:
    username: str
    sub: str
    name: str
    role: str
    districts: tuple[str, ...]
    title: str = ""


def load_demo_users(path: Path) -> list[DemoUser]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [DemoUser(u["username"], u["sub"], u["name"], u["role"], tuple(u["districts"]), u.get("title", ""))
            for u in data["users"]]


class DevSignIn:
    """Development only: pick one of the demo staff; the console signs their token with the
    development key the services verify (shared.auth.Authority)."""

    name = "dev"
    start_path = "/signin/dev"

    def __init__(self, users: list[DemoUser], authority: Authority, ttl_seconds: int):
        if not authority.enabled:
            raise ValueError("the development sign-in needs JINGKANG_JWT_KEY (make up keeps one in .data/jwt.key)")
        self.users = {u.username: u for u in users}
        self.authority = authority
        self.ttl = ttl_seconds

    def issue(self, user: DemoUser) -> SignedIn:
        token = self.authority.issue(sub=user.sub, role=user.role, districts=list(user.districts), ttl_seconds=self.ttl)
        return SignedIn(sub=user.sub, name=user.name, role=user.role, districts=user.districts, token=token,
                        token_expires_at=time.time() + self.ttl, title=user.title)

    def router(self) -> APIRouter:
        from console.web import csrf_checked, finish_sign_in, render, session_of

        router = APIRouter()

        @router.get("/signin/dev")
        async def choose(request: Request) -> Response:
            return render(request, "signin_dev.html", users=list(self.users.values()))

        @router.post("/signin/dev")
        async def chosen(request: Request, username: str = Form(""), csrf: str = Form("")) -> Response:
            session = session_of(request)
            csrf_checked(session, csrf)
            user = self.users.get(username)
            if user is None:
                raise HTTPException(422, "username: not one of the demo staff")
            return finish_sign_in(request, self.issue(user))

        return router

    async def refresh(self, user: SignedIn) -> SignedIn | None:
        demo = next((u for u in self.users.values() if u.sub == user.sub), None)
        return None if demo is None else replace(self.issue(demo), name=user.name)

    async def sign_out(self, user: SignedIn) -> str | None:
        return None  # nothing kept anywhere but the console's own session


def provider_for(settings) -> SignIn | None:
    """The provider the settings name; None when none is available (then /signin is 404)."""
    if settings.signin == "dev" and not settings.production:
        return DevSignIn(load_demo_users(settings.demo_users), Authority(settings.jwt_key, settings.jwt_issuer),
                         settings.session_seconds)
    return None  # oidc: added by the OpenID Connect provider
