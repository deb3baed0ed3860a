"""One person, one place, under real concurrency on PostgreSQL: two submissions for the
same person racing past the duplicate check both try to create the person's index
aggregate at version 1; the store keeps exactly one and the other answers 409."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from services.intake.api import create_app
from services.intake.application import create_application
from services.intake.domain import Application
from services.intake.registry import RegistryResult
from shared.settings import load_settings
from tests.support import applicant, application_body

pytestmark = pytest.mark.integration


class RegistryAtTheStartingLine:
    """A registry that answers only when both submissions have reached it, i.e. both have
    passed the duplicate check and neither has saved yet: the race is certain, not lucky."""

    def __init__(self):
        self.barrier = threading.Barrier(2, timeout=30)

    def lookup(self, id_number: str) -> RegistryResult:
        self.barrier.wait()
        return RegistryResult("not_listed", "test")


@pytest.mark.parametrize("round_", range(3))
def test_two_concurrent_submissions_for_one_person_exactly_one_wins(pg_store_url, round_):
    settings = load_settings("intake", {"JINGKANG_INTAKE_STORE": pg_store_url})
    registry = RegistryAtTheStartingLine()
    # Two API processes' worth of Application, each with its own connection pool
    services = [create_application(settings, registry_adapter=registry) for _ in range(2)]
    apis = [TestClient(create_app(settings, s)) for s in services]
    person = applicant()
    bodies = [application_body(applicant=person), application_body(applicant=person, street_code="110105002")]
    try:
        with ThreadPoolExecutor(2) as pool:
            responses = list(pool.map(lambda i: apis[i].post("/v1/applications", json=bodies[i]), range(2)))
        assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
        loser = next(r for r in responses if r.status_code == 409)
        assert person["id_number"] not in loser.text
        # The store holds one application for the person, and it is the winner's
        winner = next(r for r in responses if r.status_code == 201).json()["application_id"]
        submitted = [e for e in map(services[0].mapper.to_domain_event,
                                    services[0].recorder.select_notifications(start=1, limit=100))
                     if isinstance(e, Application.Submitted)]
        assert [str(e.originator_id) for e in submitted] == [winner]
        # And a third, later submission is refused naming the winner
        later = apis[0].post("/v1/applications", json=application_body(applicant=person))
        assert later.status_code == 409 and winner in later.json()["detail"]
    finally:
        for s in services:
            s.close()
