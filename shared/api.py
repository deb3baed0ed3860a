"""HTTP plumbing every service's api.py uses: domain errors to clear 4xx responses,
/health and /ready, the command context of a request, tracing."""
from __future__ import annotations

import json
import logging
import socket
import time
from typing import Callable, Mapping

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from shared import metrics
from shared.auth import Authority, guard
from shared.contract import REGISTRY
from shared.contract.generate import ASYNCAPI, SCHEMA_DIR
from shared.errors import Conflict, InvalidInput, NotFound, NotReady
from shared.settings import DEFAULT_MAX_REQUEST_BYTES
from shared.store import command_context

log = logging.getLogger("jingkang.api")


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError):
        errors = []
        for err in exc.errors():
            field, reason = _field(tuple(err.get("loc", ()))), err.get("msg", "invalid")
            if err.get("type") == "json_invalid":
                field, reason = "body", "malformed JSON: " + str(err.get("ctx", {}).get("error", "cannot parse"))
            errors.append({"field": field, "reason": reason})
        return JSONResponse(status_code=422, content={"error": "invalid_input", "errors": errors})

    @app.exception_handler(InvalidInput)
    async def invalid_input(_: Request, exc: InvalidInput):
        return JSONResponse(status_code=422, content={"error": "invalid_input", "errors": [{"field": exc.field, "reason": exc.reason}]})

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound):
        return JSONResponse(status_code=404, content={"error": "not_found", "detail": str(exc)})

    @app.exception_handler(IntegrityError)
    async def concurrent_change(_: Request, exc: IntegrityError):
        # Optimistic concurrency: another command changed the aggregate first. Nothing was saved.
        return JSONResponse(status_code=409, content={"error": "conflict",
                                                      "detail": "changed concurrently by another request; reload and retry"})

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def store_unavailable(_: Request, exc: Exception):
        # The event store is unreachable: the command was not applied; say when to retry.
        log.warning("event store unavailable: %s", type(exc).__name__)
        return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                            content={"error": "unavailable", "detail": "the event store is unavailable; nothing was changed, retry later"})

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict):
        return JSONResponse(status_code=409, content={"error": "conflict", "detail": str(exc)})


def broker_reachable(bootstrap: str, timeout: float = 1.0) -> None:
    last: Exception | None = None
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
            return
        except OSError as e:
            last = e
    raise ConnectionError(f"no Kafka broker reachable at {bootstrap}: {last}")


def install_health(app: FastAPI, checks: Mapping[str, Callable[[], None]]) -> None:
    @app.get("/health", tags=["operations"])
    def health() -> dict:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"])
    def ready():
        """The event store and the Kafka broker are reachable, and the relay is not blocked."""
        results = {}
        for name, check in checks.items():
            try:
                check()
                results[name] = "ok"
            except NotReady as e:
                results[name] = f"not ready: {e}"
            except Exception as e:  # report, don't raise: this endpoint is for probes
                results[name] = f"unavailable: {type(e).__name__}"
        ok = all(v == "ok" for v in results.values())
        return JSONResponse(status_code=200 if ok else 503, content={"status": "ready" if ok else "not_ready", "checks": results})


def install_contract(app: FastAPI) -> None:
    """The published contract, served as committed (shared/contract/): the AsyncAPI
    document of the five topics and the JSON Schema of every public event type."""
    @app.get("/contract/asyncapi.json", tags=["contract"])
    def asyncapi() -> FileResponse:
        """AsyncAPI 3.0: topics, messages, keys and headers."""
        return FileResponse(ASYNCAPI, media_type="application/json")

    @app.get("/contract/schemas", tags=["contract"])
    def schemas() -> dict:
        """Every public event type (jingkang.<service>.<Event>.v<N>) with a schema here."""
        return {"types": sorted(REGISTRY)}

    @app.get("/contract/schemas/{event_type}.json", tags=["contract"])
    def schema(event_type: str) -> FileResponse:
        """The JSON Schema of one public event type: the whole CloudEvent, envelope and data."""
        if event_type not in REGISTRY:  # only registered names reach the file system
            raise NotFound("public event type", event_type)
        return FileResponse(SCHEMA_DIR / f"{event_type}.json", media_type="application/schema+json")


class CommandContextMiddleware:
    """Opens the command context of the request, so every event it records names who acted.
    With authorisation on, shared.auth's guard puts the token's holder and role in it; only
    without a JWT key (development, unit tests) do X-Jingkang-Actor / X-Jingkang-Role headers
    name the caller, recorded, not trusted. Pure ASGI so the context variable reaches the
    endpoint's worker thread."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        with command_context(
            actor=headers.get("x-jingkang-actor", "anonymous")[:64],
            role=headers.get("x-jingkang-role", "unknown")[:32],
            correlation_id=headers.get("x-correlation-id"),
        ):
            await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses a request body over `max_bytes` with 413 before anything parses it: by its
    Content-Length, or, for a chunked body, as soon as the bytes read pass the bound."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._refuse(send)
        if declared is not None:
            return await self.app(scope, receive, send)
        # No length given: read the body here (at most the bound), then hand it on.
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self._refuse(send)
            if not message.get("more_body", False):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send) -> None:
        body = json.dumps({"error": "too_large", "errors": [{"field": "body", "reason": (
            f"the request body is over {self.max_bytes} bytes")}]}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class MetricsMiddleware:
    """Request count and latency by route template (never the raw path: it holds ids)."""

    def __init__(self, app, service: str):
        self.app = app
        self.service = service

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), {"code": 500}

        async def send_status(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.REQUESTS.labels(self.service, scope["method"], route, str(status["code"])).inc()
            metrics.COMMAND_SECONDS.labels(self.service, scope["method"], route).observe(time.perf_counter() - started)


def create_service_api(title: str, description: str, checks: Mapping[str, Callable[[], None]],
                       authority: Authority | None = None, access: Mapping[str, tuple[str, ...]] | None = None,
                       max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> FastAPI:
    """The FastAPI app every service starts from; its api.py adds the routes. With an
    ACCESS table every route is authorised by bearer token (shared/auth.py)."""
    from shared.audit import AUDIT_ACCESS  # every service serves the audit routes (install_audit)

    table = {**dict(access or {}), **AUDIT_ACCESS}
    dependencies = [Depends(guard(authority, table))] if authority is not None and access is not None else []
    api = FastAPI(title=title, description=description, version="1", dependencies=dependencies)
    install_error_handlers(api)
    install_health(api, checks)

    install_contract(api)

    @api.get("/metrics", tags=["operations"], include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    api.add_middleware(CommandContextMiddleware)
    api.add_middleware(BodyLimitMiddleware, max_bytes=max_request_bytes)
    api.add_middleware(MetricsMiddleware, service=title.split()[-1].lower())
    FastAPIInstrumentor.instrument_app(api, excluded_urls="health,ready")
    return api
