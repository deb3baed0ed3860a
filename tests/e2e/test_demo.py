"""`python -m console.demo` on the running system: the demo district is loaded through the
public APIs with a history (the movable clock), and a second run adds nothing."""
from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.conftest import ROOT
from tests.e2e.conftest import BASE, JWT_KEY, URL, auth


def load(system) -> subprocess.CompletedProcess:
    env = dict(os.environ, JINGKANG_JWT_KEY=JWT_KEY, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "console.demo", "--base-port", str(BASE), "--data-dir",
                           str(system["data"]), "--clock-file", str(system["clock_file"])],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_demo_district_loads_once_with_a_history(system):
    clock_before = system["clock_file"].read_text() if system["clock_file"].exists() else None
    run = load(system)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "loaded" in run.stdout and "without a history" not in run.stdout  # or already loaded by another test
    # The clock is back where it was.
    assert (system["clock_file"].read_text() if system["clock_file"].exists() else None) == clock_before

    admin = auth("district_admin", sub="staff-a-0001")
    stations = [s for s in httpx.get(URL["referral"] + "/v1/stations?district=110105", headers=admin).json()["stations"]
                if s["name"].startswith("演示·")]
    assert len(stations) == 3
    assert all(s["occupancy"] > 0 for s in stations)
    small = next(s for s in stations if s["tier"] == "provincial_demo")
    assert small["free_places"] == 0
    waitlist = httpx.get(URL["referral"] + "/v1/waitlist?district=110105", headers=admin).json()
    # Two of the small station's street waited more than 90 days (the history the clock gave them).
    lapsed = [w for w in waitlist["needs_reverification"] if w["street_code"] == "110105014"]
    assert len(lapsed) >= 2 and all(w["days_waited"] > 90 for w in lapsed)

    funding = auth("funding_officer", sub="staff-f-0002")
    station = httpx.get(f"{URL['funding']}/v1/stations/{stations[0]['station_id']}", headers=funding).json()
    contract = httpx.get(f"{URL['funding']}/v1/contracts/{station['contracts'][0]['contract_id']}",
                         headers=funding).json()
    statuses = sorted(s["status"] for s in contract["settlements"])
    assert statuses == ["paid", "pending"]
    assert {s["prepared_by"] for s in contract["settlements"]} == {"staff-f-0001"}
    assert contract["sessions_accrued"] > 0 and contract["paid"] != "0.00"

    again = load(system)
    assert again.returncode == 0 and "already loaded" in again.stdout, again.stdout + again.stderr
