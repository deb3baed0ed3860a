"""assessment's configuration, read from the environment when called (see shared.settings).

Besides the common settings, the programme's time limits (DESIGN.md §4: "configurable
per city, with these defaults"):
  JINGKANG_ASSESSMENT_PLAN_DAYS               plan agreed within N days of registration (30)
  JINGKANG_ASSESSMENT_REASSESSMENT_DAYS       a process assessment at least every N days (90)
  JINGKANG_ASSESSMENT_REASSESSMENT_GRACE_DAYS ReassessmentOverdue after N more days (14)
"""
from __future__ import annotations

from typing import Mapping

from services.assessment.domain import Rules
from shared.settings import ServiceSettings, SettingsError
from shared.settings import load_settings as _load

RULE_SETTINGS = {"PLAN_DAYS": "plan_within_days", "REASSESSMENT_DAYS": "reassess_every_days",
                 "REASSESSMENT_GRACE_DAYS": "reassessment_grace_days"}


def load_settings(environ: Mapping[str, str] | None = None) -> ServiceSettings:
    settings = _load("assessment", environ)
    rules(settings)  # refuse to start with a bad time limit
    return settings


def rules(settings: ServiceSettings) -> Rules:
    values = {}
    for name, attribute in RULE_SETTINGS.items():
        raw = settings.extra.get(name)
        if raw is None or raw == "":
            continue
        try:
            values[attribute] = int(raw)
        except ValueError:
            raise SettingsError(f"JINGKANG_ASSESSMENT_{name} must be a whole number of days, not {raw!r}") from None
        if values[attribute] < (0 if name == "REASSESSMENT_GRACE_DAYS" else 1):
            raise SettingsError(f"JINGKANG_ASSESSMENT_{name} is out of range: {raw}")
    return Rules(**values)
