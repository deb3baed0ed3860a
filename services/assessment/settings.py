"""assessment's configuration, read from the environment when called (see shared.settings)."""
from __future__ import annotations

from typing import Mapping

from shared.settings import ServiceSettings
from shared.settings import load_settings as _load


def load_settings(environ: Mapping[str, str] | None = None) -> ServiceSettings:
    return _load("assessment", environ)
