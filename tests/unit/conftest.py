"""Fixtures the referral unit modules share (test_referral_consumer_and_api,
test_referral_placement_flow): referral's application over an in-memory store, on a
FixedClock that starts at NOW, and its HTTP API. Each module builds its own `consumer`
(the production wiring, or one that never sleeps between attempts). A module of another
service that names a fixture `settings`, `clock`, `app` or `http` defines its own, which
takes precedence over these."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from services.referral.api import create_app
from services.referral.application import Referrals, create_application
from shared.clock import FixedClock
from shared.settings import load_settings

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)  # 17:00 in Shanghai: business day 2026-01-05


@pytest.fixture
def settings():
    return load_settings("referral", {"JINGKANG_REFERRAL_STORE": "memory://"})


@pytest.fixture
def clock():
    return FixedClock(NOW)


@pytest.fixture
def app(settings, clock) -> Referrals:
    return create_application(settings, clock=clock)


@pytest.fixture
def http(settings, app):
    return TestClient(create_app(settings, app))
