"""intake's configuration, read from the environment when called (see shared.settings).

Beyond the common settings:
  JINGKANG_INTAKE_LOOKUP_KEY   secret key of the keyed hash (HMAC-SHA256) that finds a person
                               again by resident id (duplicate detection); at least 16
                               characters; required in production, a fixed key otherwise
  JINGKANG_INTAKE_REGISTRY     the severe-mental-disorder registry adapter (services/intake/registry.py):
                               unset, csv:///path/file.csv or an http(s) URL
  JINGKANG_INTAKE_REGISTRY_TIMEOUT  seconds for the HTTP registry (default 3)
  JINGKANG_INTAKE_HOLIDAYS     public holidays off the working-day calendar: ISO dates or
                               first..last ranges, comma separated
  JINGKANG_INTAKE_EXTRA_WORKDAYS  weekend days worked instead (调休), same format
  JINGKANG_INTAKE_REGISTRATION_WORKING_DAYS  time limit from application to registration (default 5)
  JINGKANG_INTAKE_HANDOVER_WORKING_DAYS  further time limit from registration to a provider (default 5)
"""
from __future__ import annotations

from typing import Mapping

from services.intake.registry import Registry, registry_from
from services.intake.working_days import WorkingDays, parse_days
from shared.settings import ServiceSettings, SettingsError
from shared.settings import load_settings as _load

# Development only: production refuses to start without its own key.
DEVELOPMENT_LOOKUP_KEY = "jingkang-development-lookup-key-not-secret"
MIN_LOOKUP_KEY = 16


def load_settings(environ: Mapping[str, str] | None = None) -> ServiceSettings:
    settings = _load("intake", environ)
    if settings.production and not settings.cipher_key:
        # Personal identifiers are stored here; never in clear in production.
        raise SettingsError("JINGKANG_INTAKE_CIPHER_KEY is required in production")
    if settings.production and not settings.extra.get("LOOKUP_KEY"):
        # Without its own key the person index would be a hash anyone can recompute.
        raise SettingsError("JINGKANG_INTAKE_LOOKUP_KEY is required in production")
    # fail at startup, not later
    lookup_key(settings), working_days(settings), registration_working_days(settings), handover_working_days(settings)
    try:
        registry_from(settings.extra.get("REGISTRY"), b"", registry_timeout(settings))
    except ValueError as e:
        raise SettingsError(f"JINGKANG_INTAKE_REGISTRY: {e}") from None
    return settings


def lookup_key(settings: ServiceSettings) -> bytes:
    key = settings.extra.get("LOOKUP_KEY") or ("" if settings.production else DEVELOPMENT_LOOKUP_KEY)
    if len(key) < MIN_LOOKUP_KEY:
        raise SettingsError(f"JINGKANG_INTAKE_LOOKUP_KEY must have at least {MIN_LOOKUP_KEY} characters")
    return key.encode()


def working_days(settings: ServiceSettings) -> WorkingDays:
    try:
        return WorkingDays(holidays=parse_days(settings.extra.get("HOLIDAYS")),
                           extra_workdays=parse_days(settings.extra.get("EXTRA_WORKDAYS")))
    except ValueError as e:
        raise SettingsError(f"JINGKANG_INTAKE_HOLIDAYS / _EXTRA_WORKDAYS: {e}") from None


def registration_working_days(settings: ServiceSettings) -> int:
    return _working_days_limit(settings, "REGISTRATION_WORKING_DAYS")


def handover_working_days(settings: ServiceSettings) -> int:
    return _working_days_limit(settings, "HANDOVER_WORKING_DAYS")


def _working_days_limit(settings: ServiceSettings, name: str, default: str = "5") -> int:
    try:
        days = int(settings.extra.get(name, default))
    except ValueError:
        days = 0
    if days < 1:
        raise SettingsError(f"JINGKANG_INTAKE_{name} must be a whole number of at least 1")
    return days


def registry_timeout(settings: ServiceSettings) -> float:
    try:
        return float(settings.extra.get("REGISTRY_TIMEOUT", "3"))
    except ValueError:
        raise SettingsError("JINGKANG_INTAKE_REGISTRY_TIMEOUT must be a number of seconds") from None


def registry(settings: ServiceSettings) -> Registry:
    return registry_from(settings.extra.get("REGISTRY"), lookup_key(settings), registry_timeout(settings))
