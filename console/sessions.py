"""Server-side sessions: the browser's cookie carries only a random id; what the session
holds (the signed-in user and their bearer token, the CSRF token) stays in this process.

In memory: a restart signs everyone out, which is acceptable for a console whose sign-in
takes one click (or one OIDC round trip). Several console processes would need a shared
store behind the same interface."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from console.signin import SignedIn

COOKIE = "jk_session"


@dataclass
class Session:
    id: str
    csrf: str
    expires_at: float
    user: SignedIn | None = None  # None until sign-in finishes
    flash: list[str] = field(default_factory=list)  # one-time notices for the next page


class SessionStore:
    """Sessions by id, each with an absolute expiry; `pending` keeps short-lived sign-in state
    (e.g. an OIDC state/nonce/PKCE verifier) by a key of its own, because an identity provider's
    redirect back is a cross-site navigation that a SameSite=Strict cookie does not come with."""

    def __init__(self, ttl_seconds: int, clock: Callable[[], float] = time.time, anonymous_ttl_seconds: int = 3600):
        self.ttl = ttl_seconds
        self.anonymous_ttl = min(anonymous_ttl_seconds, ttl_seconds)
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._pending: dict[str, tuple[float, Any]] = {}

    def new(self) -> Session:
        """A session for a visitor not signed in yet (it carries the sign-in form's CSRF token)."""
        self._sweep()
        session = Session(id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32),
                          expires_at=self.clock() + self.anonymous_ttl)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with that id; None for an unknown (forged) or expired one."""
        session = self._sessions.get(session_id or "")
        if session is None:
            return None
        if session.expires_at <= self.clock():
            del self._sessions[session.id]
            return None
        return session

    def sign_in(self, old: Session | None, user: SignedIn) -> Session:
        """A new session (new id, new CSRF token) for the signed-in user; the one used before
        sign-in is dropped, so an id planted before sign-in is worth nothing after it."""
        if old is not None:
            self._sessions.pop(old.id, None)
        session = self.new()
        session.user = user
        session.expires_at = self.clock() + self.ttl
        return session

    def drop(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def put_pending(self, key: str, value: Any, ttl_seconds: int = 600) -> None:
        self._pending[key] = (self.clock() + ttl_seconds, value)

    def take_pending(self, key: str) -> Any | None:
        """The value kept under that key, once; None if unknown or expired."""
        expires, value = self._pending.pop(key, (0.0, None))
        return value if expires > self.clock() else None

    def _sweep(self) -> None:
        now = self.clock()
        for sid in [sid for sid, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[sid]
        for key in [k for k, (exp, _) in self._pending.items() if exp <= now]:
            del self._pending[key]

    def __len__(self) -> int:
        return len(self._sessions)
