"""Channel adapters: how a notification or a forwarded event leaves this service.

- `LogChannel` (development): one structured log line per reminder, pseudonymous fields only.
- `WebhookChannel`: POSTs a CloudEvent's JSON to a district integration's URL, signed with
  the subscription's secret. It only reports what happened; retries and dead letters are
  decided by the `Delivery` aggregate and driven by the worker's timer.

SMS and WeChat channels come later (not yet)."""
from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

import httpx

from services.notification.domain import Notification
from shared.envelope import CONTENT_TYPE

SIGNATURE_HEADER = "X-Jingkang-Signature"
DELIVERY_HEADER = "X-Jingkang-Delivery"


class Channel(Protocol):
    name: str

    def deliver(self, notification: Notification) -> None:
        """Deliver or raise; a raise marks the notification failed."""


class LogChannel:
    """Development channel: one structured log line per delivery. Only pseudonymous
    fields go into it, so the log never holds personal data."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None):
        self.log = logger or logging.getLogger("jingkang.notification.channel")

    def deliver(self, notification: Notification) -> None:
        fields = {"notification_id": str(notification.id), "kind": notification.kind,
                  "recipient": notification.recipient}
        if notification.client_id is not None:
            fields["client_id"] = str(notification.client_id)
        if notification.contract_id is not None:
            fields["contract_id"] = str(notification.contract_id)
        # key=value in the message for plain log files; the same fields as record
        # attributes for structured handlers.
        self.log.info("notification delivered " + " ".join(f"{k}={v}" for k, v in fields.items()), extra=fields)


def signature(secret: str, timestamp: int, body: str | bytes) -> str:
    """The X-Jingkang-Signature value: HMAC-SHA256 over "<timestamp>.<body>" with the
    subscription's secret. The timestamp is signed so a captured request cannot be replayed
    later (subscribers reject old timestamps)."""
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + raw, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance_seconds: float = 300) -> bool:
    """What a subscriber does (README shows the same in five lines)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (ValueError, KeyError):
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return abs(now - timestamp) <= tolerance_seconds and hmac.compare_digest(expected, fields.get("v1", ""))


@dataclass(frozen=True)
class WebhookResponse:
    """What one POST got: a status code, or no answer (error says why)."""

    status_code: int | None
    error: str | None = None
    retry_after: float | None = None


class WebhookChannel:
    name = "webhook"

    def __init__(self, timeout_seconds: float = 10.0, transport: httpx.BaseTransport | None = None):
        # Redirects are not followed: a signed body goes only where it was registered to go.
        self.http = httpx.Client(timeout=timeout_seconds, transport=transport, follow_redirects=False,
                                 headers={"user-agent": "jingkang-notification/1"})

    def post(self, *, url: str, secret: str, body: str, at: datetime, delivery_id: UUID) -> WebhookResponse:
        timestamp = int(at.timestamp())
        raw = body.encode()
        headers = {"content-type": CONTENT_TYPE, SIGNATURE_HEADER: signature(secret, timestamp, raw),
                   DELIVERY_HEADER: str(delivery_id)}
        try:
            response = self.http.post(url, content=raw, headers=headers)
        except httpx.TimeoutException:
            return WebhookResponse(None, "timeout")
        except httpx.HTTPError as e:  # connection refused, DNS, TLS, protocol: no answer, try again later
            return WebhookResponse(None, f"{type(e).__name__}: {e}"[:200])
        return WebhookResponse(response.status_code, retry_after=_retry_after(response.headers.get("retry-after")))

    def close(self) -> None:
        self.http.close()


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare from webhooks; ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
