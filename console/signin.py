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

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from shared.auth import Authority
from shared.oidc import Provider, ProviderUnreachable, TokenRefused
from shared.settings import SettingsError

log = logging.getLogger("jingkang.console.signin")


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


@dataclass(frozen=True)
class PendingSignIn:
    """What the console remembers between sending the browser to the provider and its return."""
    nonce: str
    verifier: str  # PKCE: only the console knows it; the provider saw its hash
    binding: str  # also in a cookie of the browser that started: a code brought by another browser is refused


class OidcSignIn:
    """OpenID Connect, authorization code flow with PKCE (S256), for a confidential client.

    /signin/oidc sends the browser to the provider's login page with a fresh `state`, `nonce`
    and PKCE challenge; /signin/oidc/callback takes the code back, checks the state (once,
    from this browser), exchanges the code with the client secret and the PKCE verifier,
    checks the ID token (signature, issuer, audience = this client, nonce) and reads who the
    user is from the access token exactly as the services will (shared.auth). The refresh
    token stays in the server-side session; sign-out ends the session at the provider
    (its end_session_endpoint, from the server, so no token travels in a URL)."""

    name = "oidc"
    start_path = "/signin/oidc"
    binding_cookie = "jk_signin"

    def __init__(self, provider: Provider, client_id: str, client_secret: str, console_url: str,
                 timeout_seconds: float = 10.0):
        self.provider = provider
        self.authority = Authority(provider=provider)
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uri = console_url.rstrip("/") + "/signin/oidc/callback"
        self.secure_cookie = console_url.startswith("https://")
        self.timeout = timeout_seconds

    async def endpoint(self, name: str) -> str:
        metadata = await run_in_threadpool(self.provider.metadata)
        if not isinstance(metadata.get(name), str):
            raise ProviderUnreachable(f"{self.provider.issuer} names no {name}")
        return metadata[name]

    async def post(self, endpoint: str, **form: str) -> httpx.Response:
        """A form POST to one of the provider's endpoints, authenticated as this client."""
        async with httpx.AsyncClient(timeout=self.timeout) as http:
            try:
                return await http.post(await self.endpoint(endpoint), data=form,
                                       auth=(self.client_id, self.client_secret))
            except httpx.HTTPError as e:
                raise ProviderUnreachable(f"{endpoint}: {type(e).__name__}") from None

    async def principal(self, access_token: str):
        """Who the access token names, read exactly as the services read it."""
        try:
            return await run_in_threadpool(self.authority.principal, "Bearer " + access_token)
        except HTTPException as e:
            raise TokenRefused(str(e.detail)) from None

    async def signed_in(self, tokens: dict, nonce: str) -> SignedIn:
        """The user the provider's answer to a sign-in vouches for; TokenRefused if anything does not hold."""
        if not isinstance(tokens.get("access_token"), str) or not isinstance(tokens.get("id_token"), str):
            raise TokenRefused("the provider's answer lacks an access or an ID token")
        identity = await run_in_threadpool(self.provider.verify, tokens["id_token"], audience=self.client_id)
        if not hmac.compare_digest(str(identity.get("nonce", "")), nonce):
            raise TokenRefused("the ID token's nonce is not the one this sign-in sent")
        principal = await self.principal(tokens["access_token"])
        return SignedIn(sub=principal.actor, name=str(identity.get("name") or identity.get("preferred_username") or
                                                      principal.actor), role=principal.role,
                        districts=principal.districts, token=tokens["access_token"],
                        token_expires_at=time.time() + float(tokens.get("expires_in") or 60),
                        refresh_token=tokens.get("refresh_token"), id_token=tokens["id_token"])

    def router(self) -> APIRouter:
        from console.web import finish_sign_in, render, store_of, t_of

        router = APIRouter()

        def problem(request: Request, key: str, status: int) -> Response:
            return render(request, "error.html", status_code=status, message=t_of(request)(key), back="/signin")

        @router.get("/signin/oidc")
        async def begin(request: Request) -> Response:
            try:
                authorize = await self.endpoint("authorization_endpoint")
            except ProviderUnreachable as e:
                log.warning("sign-in provider unreachable: %s", e)
                return problem(request, "signin.oidc.unreachable", 503)
            state, pending = secrets.token_urlsafe(32), PendingSignIn(
                nonce=secrets.token_urlsafe(32), verifier=secrets.token_urlsafe(64), binding=secrets.token_urlsafe(32))
            store_of(request).put_pending("oidc:" + state, pending)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(pending.verifier.encode()).digest()).rstrip(b"=")
            query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                               "scope": "openid profile", "state": state, "nonce": pending.nonce,
                               "code_challenge": challenge.decode(), "code_challenge_method": "S256"})
            response = RedirectResponse(f"{authorize}?{query}", status_code=303)
            # Lax: it must come back with the provider's top-level redirect, which Strict cookies do not.
            response.set_cookie(self.binding_cookie, pending.binding, max_age=600, path="/signin/oidc",
                                httponly=True, samesite="lax", secure=self.secure_cookie)
            return response

        @router.get("/signin/oidc/callback")
        async def callback(request: Request, state: str = "", code: str = "", error: str = "") -> Response:
            pending = store_of(request).take_pending("oidc:" + state) if state else None
            binding = request.cookies.get(self.binding_cookie, "")
            if not isinstance(pending, PendingSignIn) or not hmac.compare_digest(pending.binding, binding):
                return problem(request, "signin.oidc.expired", 400)
            if error or not code:  # e.g. access_denied: the user cancelled at the provider
                return problem(request, "signin.oidc.failed", 401)
            try:
                answer = await self.post("token_endpoint", grant_type="authorization_code", code=code,
                                                  redirect_uri=self.redirect_uri, code_verifier=pending.verifier)
                if answer.status_code != 200:
                    log.warning("sign-in code refused by the provider: %s", answer.status_code)
                    return problem(request, "signin.oidc.failed", 401)
                user = await self.signed_in(answer.json(), pending.nonce)
            except ProviderUnreachable as e:
                log.warning("sign-in provider unreachable: %s", e)
                return problem(request, "signin.oidc.unreachable", 503)
            except (TokenRefused, ValueError) as e:
                log.warning("sign-in refused: %s", e)
                return problem(request, "signin.oidc.refused", 403)
            response = finish_sign_in(request, user)
            response.delete_cookie(self.binding_cookie, path="/signin/oidc", httponly=True, samesite="lax",
                                   secure=self.secure_cookie)
            return response

        @router.get("/signin/oidc/signed-out")
        async def signed_out(request: Request) -> Response:
            # A page of our own: the sign-out form may not redirect to the provider (CSP form-action 'self').
            return render(request, "signed_out.html")

        return router

    async def refresh(self, user: SignedIn) -> SignedIn | None:
        """A new access token by the refresh token (its role and districts as the provider now
        says); None when the provider says no (the user was disabled, the session ended), or when
        it cannot be reached and the token in hand has expired."""
        if not user.refresh_token:
            return None
        try:
            answer = await self.post("token_endpoint", grant_type="refresh_token", refresh_token=user.refresh_token)
            if answer.status_code != 200:
                return None
            tokens = answer.json()
            principal = await self.principal(tokens["access_token"])
        except ProviderUnreachable:
            return user if user.token_expires_at > time.time() else None
        except (TokenRefused, ValueError, KeyError, TypeError) as e:
            log.warning("refreshed token refused: %s", e)
            return None
        if principal.actor != user.sub:
            return None
        return replace(user, role=principal.role, districts=principal.districts, token=tokens["access_token"],
                       token_expires_at=time.time() + float(tokens.get("expires_in") or 60),
                       refresh_token=tokens.get("refresh_token") or user.refresh_token,
                       id_token=tokens.get("id_token") or user.id_token)

    async def sign_out(self, user: SignedIn) -> str | None:
        """Ends the user's session at the provider: its end_session_endpoint, called by the
        console with the refresh token (Keycloak's back-channel form), so the next sign-in asks
        for the password again."""
        if user.refresh_token:
            try:
                answer = await self.post("end_session_endpoint", refresh_token=user.refresh_token)
                if answer.status_code >= 400:
                    log.warning("provider sign-out answered %s", answer.status_code)
            except ProviderUnreachable as e:
                log.warning("provider sign-out not possible: %s", e)
        return "/signin/oidc/signed-out"


def provider_for(settings) -> SignIn | None:
    """The provider the settings name; None when none is available (then /signin is 404)."""
    if settings.signin == "dev" and not settings.production:
        return DevSignIn(load_demo_users(settings.demo_users), Authority(settings.jwt_key, settings.jwt_issuer),
                         settings.session_seconds)
    if settings.signin == "oidc":
        return oidc_sign_in(settings)
    return None


def oidc_sign_in(settings) -> OidcSignIn:
    """JINGKANG_OIDC_* name the issuer and its claims (as for the services); the console's own
    client: JINGKANG_CONSOLE_OIDC_CLIENT_ID (default jingkang-console), _OIDC_CLIENT_SECRET, and
    JINGKANG_CONSOLE_URL, where the browser reaches the console (default http://127.0.0.1:<port>)."""
    if settings.oidc is None:
        raise SettingsError("JINGKANG_CONSOLE_SIGNIN=oidc needs JINGKANG_OIDC_ISSUER")
    secret = settings.extra.get("OIDC_CLIENT_SECRET")
    if not secret:
        raise SettingsError("JINGKANG_CONSOLE_SIGNIN=oidc needs JINGKANG_CONSOLE_OIDC_CLIENT_SECRET")
    return OidcSignIn(Provider(settings.oidc), settings.extra.get("OIDC_CLIENT_ID") or "jingkang-console", secret,
                      settings.extra.get("URL") or f"http://127.0.0.1:{settings.port}", settings.timeout_seconds)
