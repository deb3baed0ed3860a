"""The intake and assessment scenarios of tests/unit/test_scenarios.py, run unchanged on a
real PostgreSQL event store (a fresh schema per test, from the `pg_store_url` fixture)."""
from __future__ import annotations

import pytest

from tests.unit.test_scenarios import AssessmentScenario, IntakeScenario

pytestmark = pytest.mark.integration


class TestIntakeScenarioOnPostgres(IntakeScenario):
    @pytest.fixture(autouse=True)
    def _on_postgres(self, pg_store_url):
        self.store_url = pg_store_url


class TestAssessmentScenarioOnPostgres(AssessmentScenario):
    @pytest.fixture(autouse=True)
    def _on_postgres(self, pg_store_url):
        self.store_url = pg_store_url
