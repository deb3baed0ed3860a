"""End to end: a client's exit and relocation in intake reach the other services by
events alone — assessment closes the record, the district changes where it is kept."""
from __future__ import annotations

import httpx

from tests.e2e.conftest import URL, auth
from tests.e2e.test_slice import register_client
from tests.support import wait_until


def test_an_exit_in_intake_closes_the_rehabilitation_record(system):
    worker = auth("station_worker")
    client_id = register_client()
    wait_until(lambda: httpx.get(f"{URL['assessment']}/v1/clients/{client_id}/record", headers=worker).status_code == 200,
               timeout=60, what="assessment to learn the client")
    baseline = httpx.post(f"{URL['assessment']}/v1/clients/{client_id}/assessments", headers=worker, json={
        "kind": "baseline", "stability": "stable", "risk_level": 1, "willing": True, "functional_score": 60, "assessor": "s-1"})
    assert baseline.status_code == 201, baseline.text

    exited = httpx.post(f"{URL['intake']}/v1/clients/{client_id}/exit", json={"reason": "moved_away"}, headers=worker)
    assert exited.status_code == 200, exited.text

    def refused_after_exit() -> bool:
        r = httpx.post(f"{URL['assessment']}/v1/clients/{client_id}/assessments", headers=worker, json={
            "kind": "process", "stability": "stable", "risk_level": 0, "willing": True, "functional_score": 70,
            "assessor": "s-1"})
        assert r.status_code in (201, 409), r.text  # 201 while the exit is still on its way
        return r.status_code == 409

    wait_until(refused_after_exit, timeout=60, what="assessment to refuse sessions after the exit")
