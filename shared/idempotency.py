"""Safe retries of commands: the `Idempotency-Key` request header (IETF HTTP API working
group, draft "The Idempotency-Key HTTP Header Field").

A POST command sent with a key is answered once: the answer (status and body) is recorded
in the service's own event store *in the same transaction as the command's events* (an
`IdempotentRequest` aggregate keyed by uuid5(caller, key), never published). A retry with
the same key and the same request (method, path, body) from the same caller gets the
recorded answer again, marked `Idempotent-Replayed: true`, and records nothing; the same
key with another request is refused (422, field `Idempotency-Key`). Concurrent retries race
on the record: the losers' transactions fail as a whole and they answer what the winner
recorded. A key is honoured for JINGKANG_IDEMPOTENCY_HOURS (default 24); after that it
starts a new request. Routes a service names as requiring a key (money moving) refuse a
request without one (422). Only answers that recorded events are kept: a refusal that
changed nothing (404, 409, most 422) is simply answered again on a retry.

How: the router-wide dependency (after the token guard, so the caller is known) looks the
key up and, for a new request, puts a `Pending` in the command context; the service's
save() hands its events to it instead of writing them (shared.store); the ASGI middleware
holds back the response, commits the events with the answer, and sends it (or, if another
request with the key won, that request's answer)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Collection
from uuid import NAMESPACE_URL, UUID, uuid5

import anyio
from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from shared.errors import InvalidInput
from shared.store import ServiceApplication, current_context

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
REUSED = "this key was used for another request; use a new key for a new request"


class IdempotentRequest(Aggregate):
    """The answer given to one caller's key. Internal: never published."""

    @staticmethod
    def id_for(service: str, caller: str, key: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"jingkang:{service}:idempotency:{caller}\n{key}")

    @staticmethod
    def create_id(service: str, caller: str, key: str) -> UUID:
        return IdempotentRequest.id_for(service, caller, key)

    @event("Answered")
    def __init__(self, service: str, caller: str, key: str, fingerprint: str, status: int, body: str,
                 answered_at: datetime):
        self._answer(fingerprint, status, body, answered_at)

    def _answer(self, fingerprint: str, status: int, body: str, answered_at: datetime) -> None:
        self.fingerprint, self.status, self.body, self.answered_at = fingerprint, status, body, answered_at

    @event("AnsweredAgain")
    def answer_again(self, fingerprint: str, status: int, body: str, answered_at: datetime) -> None:
        """The key was used again after its retention: a new request."""
        self._answer(fingerprint, status, body, answered_at)


class IdempotentReplay(Exception):
    """The request was answered before: send that answer again."""

    def __init__(self, status: int, body: str):
        self.status, self.body = status, body


def replay_response(status: int, body: str) -> Response:
    return Response(content=body, status_code=status, media_type="application/json", headers={REPLAYED: "true"})


def parse_key(raw: str) -> str:
    """The key as the draft writes it (a structured-field string: "…"), or bare."""
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > MAX_KEY_LENGTH or not all(0x21 <= ord(c) <= 0x7E for c in key):
        raise InvalidInput(HEADER, f"must be 1 to {MAX_KEY_LENGTH} visible ASCII characters, e.g. a UUID")
    return key


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What "the same request" means: method, path and body (JSON compared by value, so a
    client that re-serialises its retry is not refused)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def answered(app: ServiceApplication, record_id: UUID) -> IdempotentRequest | None:
    """The stored answer of a key, if any (however old)."""
    try:
        record = app.repository.get(record_id)
    except AggregateNotFoundError:
        return None
    return record if isinstance(record, IdempotentRequest) else None


@dataclass
class Pending:
    """A new keyed request: the events its command saves wait here for its answer."""

    app: ServiceApplication
    record_id: UUID
    caller: str
    key: str
    fingerprint: str
    previous: IdempotentRequest | None
    processing: ProcessingEvent = field(default_factory=ProcessingEvent)

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        self.processing.collect_events(*objs, **kwargs)

    @property
    def aggregates(self) -> dict[UUID, Any]:
        """What the request saved so far, by id (read back by the repository before the commit)."""
        return self.processing.aggregates

    @property
    def has_events(self) -> bool:
        return bool(self.processing.events)

    def commit(self, status: int, body: bytes) -> None:
        text, now = body.decode("utf-8"), self.app.clock.now()
        if self.previous is None:
            record = IdempotentRequest(service=self.app.name, caller=self.caller, key=self.key,
                                       fingerprint=self.fingerprint, status=status, body=text, answered_at=now)
        else:
            record = self.previous
            record.answer_again(fingerprint=self.fingerprint, status=status, body=text, answered_at=now)
        self.processing.collect_events(record)
        self.app.commit(self.processing)


def idempotency_for(settings, app: ServiceApplication, required: Collection[str] = ()) -> "Idempotency":
    return Idempotency(app, timedelta(hours=settings.idempotency_hours), required)


class Idempotency:
    """The keys of one service's commands (see the module's docstring)."""

    def __init__(self, app: ServiceApplication, retention: timedelta, required: Collection[str] = ()):
        self.app = app
        self.retention = retention
        self.required = frozenset(required)

    def fresh(self, record: IdempotentRequest) -> bool:
        """Still honoured: answered within the retention period."""
        return self.app.clock.now() < record.answered_at + self.retention

    async def dependency(self, request: Request) -> None:
        """Router-wide, after the token guard: replay a known request, refuse a reused key,
        or hold a new request's events until its answer is known."""
        if request.method != "POST":
            return
        route = f"POST {getattr(request.scope.get('route'), 'path', request.url.path)}"
        raw = request.headers.get(HEADER)
        if raw is None:
            if route in self.required:
                raise InvalidInput(HEADER, "Idempotency-Key required: this command moves money; send a unique key "
                                           "(e.g. a UUID) and the same key when retrying")
            return
        key = parse_key(raw)
        ctx = current_context()
        if ctx is None:
            return
        caller = f"{ctx.role}:{ctx.actor}"
        request_print = fingerprint(request.method, request.url.path, await request.body())
        record_id = IdempotentRequest.id_for(self.app.name, caller, key)
        record = await anyio.to_thread.run_sync(answered, self.app, record_id)
        if record is not None and self.fresh(record):
            if record.fingerprint != request_print:
                raise InvalidInput(HEADER, REUSED)
            raise IdempotentReplay(record.status, record.body)
        ctx.held = Pending(self.app, record_id, caller, key, request_print, record)


class IdempotencyMiddleware:
    """Holds back the answer of a keyed request until its events and the answer are
    committed together. Pure ASGI, inside the command context."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not any(
                name.lower() == b"idempotency-key" for name, _ in scope.get("headers", [])):
            return await self.app(scope, receive, send)
        messages: list[dict] = []

        async def hold(message):
            messages.append(message)

        await self.app(scope, receive, hold)
        ctx = current_context()
        pending = ctx.held if ctx is not None else None
        if isinstance(pending, Pending):
            ctx.held = None
            start = next((m for m in messages if m["type"] == "http.response.start"), None)
            status = start["status"] if start else 500
            if pending.has_events and status < 500:
                body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
                response = await self._commit(pending, status, body)
                if response is not None:
                    return await response(scope, receive, send)
        for message in messages:
            await send(message)

    @staticmethod
    async def _commit(pending: Pending, status: int, body: bytes) -> Response | None:
        """None when committed (send the held answer), else the answer to send instead."""
        try:
            await anyio.to_thread.run_sync(pending.commit, status, body)
            return None
        except IntegrityError:
            pass
        except InvalidInput as e:  # refused only as it is stored (the size budget): nothing was
            return JSONResponse(status_code=422, content={  # stored, and the refusal is not kept
                "error": "invalid_input", "errors": [{"field": e.field, "reason": e.reason}]})
        except (OperationalError, InterfaceError):
            return JSONResponse(status_code=503, headers={"Retry-After": "5"}, content={
                "error": "unavailable", "detail": "the event store is unavailable; nothing was changed, retry later"})
        # Another request got there first: the one with this key (answer as it did) or another
        # command on the same aggregate (the usual concurrent-change conflict).
        record = await anyio.to_thread.run_sync(answered, pending.app, pending.record_id)
        newer = record is not None and (pending.previous is None or record.version > pending.previous.version)
        if newer and record.fingerprint == pending.fingerprint:
            return replay_response(record.status, record.body)
        if newer:
            return JSONResponse(status_code=422, content={"error": "invalid_input", "errors": [
                {"field": HEADER, "reason": REUSED}]})
        return JSONResponse(status_code=409, content={
            "error": "conflict", "detail": "changed concurrently by another request; reload and retry"})


def install_idempotency(api) -> None:
    @api.exception_handler(IdempotentReplay)
    async def replay(_: Request, exc: IdempotentReplay):
        return replay_response(exc.status, exc.body)
