"""notification's configuration, read from the environment when called (see shared.settings).

Besides the common settings:
  JINGKANG_NOTIFICATION_WEBHOOK_ATTEMPTS            attempts before a delivery is a dead letter (6)
  JINGKANG_NOTIFICATION_WEBHOOK_BACKOFF_SECONDS     wait after the first failed attempt; doubles each time (30)
  JINGKANG_NOTIFICATION_WEBHOOK_MAX_BACKOFF_SECONDS longest wait between attempts (3600)
  JINGKANG_NOTIFICATION_WEBHOOK_TIMEOUT_SECONDS     how long one POST may take (10)
  JINGKANG_NOTIFICATION_PLAN_REMINDER_DAYS          "plan due soon" reminder N days after registration (25)
  JINGKANG_NOTIFICATION_WEBHOOK_HOSTS               hosts webhooks may point at, comma-separated (an entry
                                                    also allows its subdomains); required in production,
                                                    where webhooks must also be https; empty: any host
  JINGKANG_NOTIFICATION_WEBHOOK_NETWORKS            non-public networks webhooks may reach, CIDRs,
                                                    comma-separated (e.g. 127.0.0.0/8 for a subscriber
                                                    on this machine); by default deliveries reach public
                                                    addresses only (checked at every connection)
"""
from __future__ import annotations

import ipaddress
import re
from typing import Mapping

from services.notification.domain import RetryPolicy, WebhookHosts
from shared.settings import ServiceSettings, SettingsError
from shared.settings import load_settings as _load


def load_settings(environ: Mapping[str, str] | None = None) -> ServiceSettings:
    settings = _load("notification", environ)
    if settings.production and not settings.cipher_key:
        # Subscribers' webhook secrets are kept here: never in clear in production.
        raise SettingsError("JINGKANG_NOTIFICATION_CIPHER_KEY is required in production")
    # Refuse to start with a bad value rather than fail at the first delivery.
    retry_policy(settings)
    webhook_timeout(settings)
    plan_reminder_days(settings)
    webhook_networks(settings)
    if settings.production and not webhook_hosts(settings).allowed:
        raise SettingsError("JINGKANG_NOTIFICATION_WEBHOOK_HOSTS is required in production: the hosts webhooks may "
                            "point at (deliveries come from inside the platform)")
    return settings


def _number(settings: ServiceSettings, name: str, default: float, minimum: float, whole: bool = False) -> float:
    raw = settings.extra.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise SettingsError(f"JINGKANG_NOTIFICATION_{name} must be a {'whole ' if whole else ''}number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"JINGKANG_NOTIFICATION_{name} must be at least {minimum}, not {raw}")
    return value


def retry_policy(settings: ServiceSettings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=int(_number(settings, "WEBHOOK_ATTEMPTS", 6, 1, whole=True)),
        backoff_seconds=_number(settings, "WEBHOOK_BACKOFF_SECONDS", 30.0, 0),
        max_backoff_seconds=_number(settings, "WEBHOOK_MAX_BACKOFF_SECONDS", 3600.0, 0),
    )


def webhook_timeout(settings: ServiceSettings) -> float:
    return _number(settings, "WEBHOOK_TIMEOUT_SECONDS", 10.0, 0.1)


def plan_reminder_days(settings: ServiceSettings) -> int:
    return int(_number(settings, "PLAN_REMINDER_DAYS", 25, 1, whole=True))


def webhook_hosts(settings: ServiceSettings) -> WebhookHosts:
    raw = settings.extra.get("WEBHOOK_HOSTS") or ""
    allowed = tuple(h.strip().lower().strip(".") for h in raw.split(",") if h.strip())
    for host in allowed:
        if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", host):
            raise SettingsError(f"JINGKANG_NOTIFICATION_WEBHOOK_HOSTS: {host!r} is not a host name")
    return WebhookHosts(allowed=allowed, https_only=settings.production, networks=webhook_networks(settings))


def webhook_networks(settings: ServiceSettings) -> tuple[str, ...]:
    raw = settings.extra.get("WEBHOOK_NETWORKS") or ""
    networks = []
    for entry in (e.strip() for e in raw.split(",") if e.strip()):
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise SettingsError(f"JINGKANG_NOTIFICATION_WEBHOOK_NETWORKS: {entry!r} is not a network (CIDR)") from None
    return tuple(networks)
