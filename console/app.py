"""The console's composition root: `create_app(settings)` wires the sign-in provider, the
session store, the HTTP client for the services, the page areas and the error pages.

  python -m console      # serves on JINGKANG_CONSOLE_PORT (default 8000); see console/README.md"""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from console import pages
from console.i18n import COOKIE as LANG_COOKIE, LANGUAGES, catalogue
from console.services import ServiceRefused, SignInExpired
from console.sessions import SessionStore
from console.settings import ConsoleSettings
from console.signin import SignIn, provider_for
from console.web import (SignInRequired, csrf_protected, local_path, render, session_middleware, signed_in, store_of,
                         t_of)
from shared.clock import LOCAL, SystemClock

HERE = Path(__file__).resolve().parent
# Third-party files the pages use, installed from npm by `make install` (npm ci --prefix console):
# served by name from this list only, never the whole node_modules.
VENDOR = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "echarts.min.js": "echarts/dist/echarts.min.js",
}
log = logging.getLogger("jingkang.console")


def create_app(settings: ConsoleSettings, *, signin: SignIn | None = None,
               transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """`signin` replaces the provider the settings choose (tests); `transport` the network under
    the services' HTTP client (unit tests answer as the services' OpenAPI says)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with httpx.AsyncClient(timeout=settings.timeout_seconds, transport=transport) as http:
            app.state.http = http
            yield

    app = FastAPI(title="Jingkang console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.clock = SystemClock(settings.clock_file)
    app.state.sessions = SessionStore(settings.session_seconds)
    app.state.signin = signin if signin is not None else provider_for(settings)
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.state.templates.env.filters["local"] = local_time
    app.state.messages = catalogue(area.MESSAGES for area in pages.AREAS)
    app.state.nav = [item for area in pages.AREAS for item in area.NAV]
    app.middleware("http")(session_middleware)
    install_error_pages(app)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/vendor/{name}")
    def vendor(name: str) -> Response:
        if name not in VENDOR or not (HERE / "node_modules" / VENDOR[name]).is_file():
            return render_not_found_plain()
        return FileResponse(HERE / "node_modules" / VENDOR[name], headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/")
    async def home(request: Request, session=Depends(signed_in)) -> Response:
        return render(request, "home.html")

    @app.get("/signin")
    async def signin_start(request: Request) -> Response:
        provider = app.state.signin
        if provider is None:
            return render(request, "error.html", status_code=404, message=t_of(request)("signin.none"))
        return RedirectResponse(provider.start_path, status_code=303)

    if app.state.signin is not None:
        app.include_router(app.state.signin.router())

    @app.post("/signout", dependencies=[Depends(csrf_protected)])
    async def signout(request: Request) -> Response:
        session = getattr(request.state, "session", None)
        target = "/signin"
        if session is not None:
            if session.user is not None and app.state.signin is not None:
                target = await app.state.signin.sign_out(session.user) or target
            store_of(request).drop(session)
            request.state.session = None
        return RedirectResponse(target, status_code=303)

    @app.get("/lang/{code}")
    def language(code: str, next: str = "/") -> Response:
        response = RedirectResponse(local_path(next), status_code=303)
        if code in LANGUAGES:
            response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="strict", path="/")
        return response

    for area in pages.AREAS:
        app.include_router(area.router)
    return app


def local_time(iso: str) -> str:
    """A service's UTC timestamp as the programme's local time (Asia/Shanghai), to the minute."""
    return datetime.fromisoformat(iso).astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")


def render_not_found_plain() -> Response:
    return Response("not found", status_code=404, media_type="text/plain")


def install_error_pages(app: FastAPI) -> None:
    """Every failure is a page with a plain sentence (never a trace); htmx requests get the
    same page as a fragment target, or a redirect header for the sign-in page."""

    def to_signin(request: Request) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": "/signin"})
        return RedirectResponse("/signin", status_code=303)

    @app.exception_handler(SignInRequired)
    async def signin_required(request: Request, _: SignInRequired) -> Response:
        return to_signin(request)

    @app.exception_handler(SignInExpired)
    async def signin_expired(request: Request, _: SignInExpired) -> Response:
        session = getattr(request.state, "session", None)
        if session is not None:
            store_of(request).drop(session)
            request.state.session = None
        return to_signin(request)

    @app.exception_handler(ServiceRefused)
    async def refused(request: Request, exc: ServiceRefused) -> Response:
        return render(request, "error.html", status_code=exc.page_status, message=exc.sentence(t_of(request)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        t = t_of(request)
        if exc.status_code == 403 and exc.detail == "csrf":
            message = t("error.csrf")
        elif exc.status_code == 404:
            message = t("error.page_not_found")
        elif exc.status_code == 403:
            message = t("error.forbidden")
        else:
            message = str(exc.detail) if exc.status_code < 500 else t("error.unexpected")
        return render(request, "error.html", status_code=exc.status_code, message=message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(str(e.get("loc", ("", ""))[-1]) for e in exc.errors())
        return render(request, "error.html", status_code=422, message=f"{t_of(request)('error.invalid')} ({fields})")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.scope.get("route") and
                  getattr(request.scope["route"], "path", "?"))
        return render(request, "error.html", status_code=500, message=t_of(request)("error.unexpected"))
