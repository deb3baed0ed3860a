"""supervision's configuration, read from the environment when called (see shared.settings).

Its store (JINGKANG_SUPERVISION_STORE, SQLite by default, PostgreSQL in production) holds the
read model's tables and the small event store of what it publishes. Besides the common settings:
  JINGKANG_SUPERVISION_MAIN_DISTRICTS   comma-separated county codes held to 50% street
                                        coverage (others: 40%)
  JINGKANG_SUPERVISION_MAX_PERIOD_DAYS  the longest period a query may ask for (1096: three years)
  JINGKANG_SUPERVISION_CLOSE_AFTER_DAYS a month is closed, and checked against its targets,
                                        this many days after its last day (15)
  JINGKANG_SUPERVISION_REVIEW_MONTHS    how many closed months back the worker checks (12)
  JINGKANG_SUPERVISION_DISTRICTS_FILE   JSON {code: name} of the city's areas (default: the
                                        one beside this file)
  JINGKANG_SUPERVISION_BATCH            most messages the worker stores in one transaction (5000)
"""
from __future__ import annotations

from typing import Mapping

from shared.settings import ServiceSettings, SettingsError
from shared.settings import load_settings as _load


def load_settings(environ: Mapping[str, str] | None = None) -> ServiceSettings:
    settings = _load("supervision", environ)
    rules(settings)  # refuse to start with a bad value rather than answer wrongly
    batch_size(settings)
    return settings


def _whole(settings: ServiceSettings, name: str, default: int, minimum: int = 1) -> int:
    raw = settings.extra.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"JINGKANG_SUPERVISION_{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"JINGKANG_SUPERVISION_{name} must be at least {minimum}")
    return value


def batch_size(settings: ServiceSettings) -> int:
    return _whole(settings, "BATCH", 5000)


def rules(settings: ServiceSettings):
    from services.supervision.application import Rules, load_names

    main = tuple(d.strip() for d in (settings.extra.get("MAIN_DISTRICTS") or "").split(",") if d.strip())
    try:
        names = load_names(settings.extra.get("DISTRICTS_FILE") or None)
    except (OSError, ValueError) as e:
        raise SettingsError(f"JINGKANG_SUPERVISION_DISTRICTS_FILE cannot be read: {e}") from None
    return Rules(main_districts=main, max_period_days=_whole(settings, "MAX_PERIOD_DAYS", 1096),
                 close_after_days=_whole(settings, "CLOSE_AFTER_DAYS", 15, 0),
                 review_months=_whole(settings, "REVIEW_MONTHS", 12), names=names)


def create_supervision(settings: ServiceSettings, clock=None):
    """The composition of one process: the read model and the event store, both in the
    service's store, and the rules."""
    from services.supervision.application import Reviews, Supervision
    from services.supervision.readmodel import ReadModel
    from shared.clock import SystemClock
    from shared.settings import store_env

    url = settings.store_url
    reviews = Reviews(env=store_env(settings), clock=clock or SystemClock(settings.clock_file))
    model = ReadModel("memory://" if url.startswith("memory:") else url, pool=reviews.store_pool())
    return Supervision(model, rules(settings), reviews)
