"""Channel adapters: how a notification or a forwarded event leaves this service.

- `LogChannel` (development): one structured log line per reminder, pseudonymous fields only.
- `WebhookChannel`: POSTs a CloudEvent's JSON to a district integration's URL, signed with
  the subscription's secret. It only reports what happened (never raises); retries and dead
  letters are decided by the `Delivery` aggregate and driven by the worker's timer. It
  connects only to public addresses, or to networks the operator allow-lists
  (`WebhookNetworks`): the check is made on the address it actually connects to, at every
  delivery, so a name that later resolves to an internal address (DNS rebinding) is refused.

SMS and WeChat channels come later (not yet)."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable, Protocol, Sequence
from uuid import UUID

import httpcore
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


Resolver = Callable[[str, int], Sequence[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host (IP literals resolve to themselves)."""
    return list(dict.fromkeys(info[4][0].split("%")[0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))


class AddressRefused(httpcore.ConnectError):
    """The webhook's host is, or resolves to, an address deliveries may not reach."""


class WebhookNetworks:
    """Which addresses deliveries may connect to: public (global unicast) addresses, plus the
    networks in `allowed` (CIDRs, JINGKANG_NOTIFICATION_WEBHOOK_NETWORKS). Loopback,
    link-local (169.254.169.254, the cloud metadata service), private, shared, reserved and
    multicast addresses are refused unless allowed."""

    def __init__(self, allowed: Iterable[str] = (), resolver: Resolver = resolve):
        self.allowed = tuple(ipaddress.ip_network(n, strict=False) for n in allowed)
        self.resolver = resolver

    def permits(self, ip: IPAddress) -> bool:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.allowed):
            return True
        return ip.is_global and not ip.is_multicast

    def address_for(self, host: str, port: int) -> str:
        """The address to connect to; AddressRefused if host has any address not permitted
        (one bad answer among good ones is how rebinding is tried)."""
        try:
            addresses = [ipaddress.ip_address(a) for a in self.resolver(host.strip("[]"), port)]
        except (OSError, ValueError) as e:
            raise httpcore.ConnectError(f"cannot resolve the webhook host: {type(e).__name__}") from None
        if not addresses:
            raise httpcore.ConnectError("the webhook host has no address")
        for ip in addresses:
            if not self.permits(ip):
                raise AddressRefused(f"refused: the webhook host resolves to {ip}, a non-public address "
                                     "(allow its network in JINGKANG_NOTIFICATION_WEBHOOK_NETWORKS)")
        return str(addresses[0])


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend, connecting only to addresses WebhookNetworks permits: the
    address checked is the address connected to (TLS still verifies the URL's host name)."""

    def __init__(self, networks: WebhookNetworks):
        self.networks = networks
        self.inner = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return self.inner.connect_tcp(self.networks.address_for(host, port), port, timeout=timeout,
                                      local_address=local_address, socket_options=socket_options)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise AddressRefused("webhooks are delivered over TCP only")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def guarded_transport(networks: WebhookNetworks) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(trust_env=False)  # no proxy from the environment: connect directly
    # httpx 0.28 does not take a network backend; its pool keeps it here (httpcore 1.0).
    transport._pool._network_backend = GuardedBackend(networks)  # type: ignore[attr-defined]
    return transport


class WebhookChannel:
    name = "webhook"

    def __init__(self, timeout_seconds: float = 10.0, transport: httpx.BaseTransport | None = None,
                 networks: WebhookNetworks | None = None):
        # Redirects are not followed: a signed body goes only where it was registered to go.
        self.http = httpx.Client(timeout=timeout_seconds, follow_redirects=False, trust_env=False,
                                 transport=transport or guarded_transport(networks or WebhookNetworks()),
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
        except httpx.HTTPError as e:  # refused address, connection refused, DNS, TLS, protocol: try again later
            return WebhookResponse(None, f"{type(e).__name__}: {e}"[:200])
        except Exception as e:  # anything else (a URL httpx cannot use): a failed attempt, never a stopped round
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
