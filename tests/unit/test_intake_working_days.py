"""The working-day calendar of the registration time limit, and intake's settings: weekends
off, public holidays off, adjusted working days (调休) on; production refuses to start
without its own lookup key, like the cipher key."""
from __future__ import annotations

from datetime import date

import pytest

from services.intake.settings import DEVELOPMENT_LOOKUP_KEY, load_settings, lookup_key, working_days
from services.intake.working_days import WorkingDays, parse_days
from shared.settings import SettingsError

FRIDAY = date(2026, 1, 9)
PRODUCTION = {"JINGKANG_ENV": "production", "JINGKANG_INTAKE_STORE": "postgresql://u:p@db:5432/intake",
              "JINGKANG_OIDC_ISSUER": "https://id.example.gov.cn/realms/jingkang", "JINGKANG_INTAKE_CIPHER_KEY": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="}


def test_five_working_days_from_a_friday_end_on_the_next_friday():
    assert WorkingDays().add(FRIDAY, 5) == date(2026, 1, 16)
    assert WorkingDays().add(FRIDAY, 1) == date(2026, 1, 12)  # Saturday and Sunday do not count


def test_from_a_saturday_the_week_starts_on_monday():
    assert WorkingDays().add(date(2026, 1, 10), 5) == date(2026, 1, 16)


def test_holidays_are_skipped_and_adjusted_working_days_count():
    # National Day week: 1-7 October off; Saturday 10 October worked instead
    calendar = WorkingDays(holidays=parse_days("2026-10-01..2026-10-07"), extra_workdays=parse_days("2026-10-10"))
    assert calendar.add(date(2026, 9, 30), 5) == date(2026, 10, 13)  # Thu 8, Fri 9, Sat 10, Mon 12, Tue 13
    assert calendar.is_working_day(date(2026, 10, 10)) and not calendar.is_working_day(date(2026, 10, 5))


def test_day_lists_parse_dates_and_ranges_and_refuse_nonsense():
    assert parse_days(" 2026-05-01..2026-05-03 , 2026-06-19,") == {
        date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3), date(2026, 6, 19)}
    assert parse_days(None) == frozenset()
    for bad in ("2026-13-01", "2026-05-03..2026-05-01", "tomorrow"):
        with pytest.raises(ValueError):
            parse_days(bad)
    with pytest.raises(SettingsError):
        load_settings({"JINGKANG_INTAKE_HOLIDAYS": "someday"})


def test_the_calendar_comes_from_the_settings():
    settings = load_settings({"JINGKANG_INTAKE_HOLIDAYS": "2026-01-12", "JINGKANG_INTAKE_EXTRA_WORKDAYS": "2026-01-10"})
    assert working_days(settings).add(FRIDAY, 2) == date(2026, 1, 13)


def test_production_refuses_to_start_without_its_own_lookup_key():
    with pytest.raises(SettingsError, match="JINGKANG_INTAKE_LOOKUP_KEY"):
        load_settings(PRODUCTION)
    with pytest.raises(SettingsError, match="at least"):
        load_settings({**PRODUCTION, "JINGKANG_INTAKE_LOOKUP_KEY": "short"})
    settings = load_settings({**PRODUCTION, "JINGKANG_INTAKE_LOOKUP_KEY": "a production secret of some length"})
    assert lookup_key(settings) == b"a production secret of some length"


def test_development_uses_a_fixed_key_unless_given_one():
    assert lookup_key(load_settings({})) == DEVELOPMENT_LOOKUP_KEY.encode()
    assert lookup_key(load_settings({"JINGKANG_INTAKE_LOOKUP_KEY": "my own development key"})) == b"my own development key"


def test_the_registration_time_limit_is_a_positive_number_of_working_days():
    for bad in ("0", "five", "-1"):
        with pytest.raises(SettingsError):
            load_settings({"JINGKANG_INTAKE_REGISTRATION_WORKING_DAYS": bad})
