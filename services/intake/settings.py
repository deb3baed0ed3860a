"""intake's configuration, read from the environment when called (see shared.settings)."""
from __future__ import annotations

from typing import Mapping

from shared.settings import ServiceSettings, SettingsError
from shared.settings import load_settings as _load


def load_settings(environ: Mapping[str, str] | None = None) -> ServiceSettings:
    settings = _load("intake", environ)
    if settings.production and not settings.cipher_key:
        # Personal identifiers are stored here; never in clear in production.
        raise SettingsError("JINGKANG_INTAKE_CIPHER_KEY is required in production")
    return settings
