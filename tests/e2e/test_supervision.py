"""After the soak (tests/e2e/test_soak.py runs before this module), the supervision service of
the running system serves, for the soak's district and for 110105, the same figures the
auditor's `jingkang indicators` computes from the five topics itself."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import httpx
import pytest

from services.supervision.consumers import indicators_from_topics
from tests.conftest import ROOT
from tests.e2e.conftest import URL, auth
from tests.support import wait_until

pytestmark = pytest.mark.e2e

PERIOD = {"from": "2025-01-01", "to": "2027-12-31"}  # every day the soak (and its clock moves) can reach


def served(district: str) -> dict:
    answer = httpx.get(URL["supervision"] + "/v1/indicators", params={"district": district, **PERIOD},
                       headers=auth("auditor", district=district), timeout=30)
    assert answer.status_code == 200, answer.text
    return {f["name"]: [f["value"], f["numerator"], f["denominator"], f["target"], f["met"]]
            for f in answer.json()["indicators"]}


def computed(result: dict) -> dict:
    as_text = lambda v: v if v is None or isinstance(v, (bool, int)) else str(v)  # noqa: E731  (JSON's Decimals)
    return {name: [as_text(f[k]) for k in ("value", "numerator", "denominator", "target", "met")]
            for name, f in result["indicators"].items()}


@pytest.mark.parametrize("district", ["110106", "110105"])
def test_the_service_s_figures_equal_those_jingkang_computes_from_the_topics(system, district):
    start, end = date.fromisoformat(PERIOD["from"]), date.fromisoformat(PERIOD["to"])

    def agree():
        mine = computed(indicators_from_topics(system["kafka"], district=district, start=start, end=end))
        return mine if served(district) == mine else None

    # The worker follows the topics; the soak's last events may still be on their way
    figures = wait_until(agree, timeout=120, what=f"supervision's figures for {district} equal the topics'")
    assert any(f[2] for f in figures.values()), "the district has something to count"

    # And the command itself, as an auditor runs it, prints the same
    env = dict(os.environ, JINGKANG_KAFKA=system["kafka"], PYTHONPATH=str(ROOT))
    printed = subprocess.run([sys.executable, "-m", "cli", "indicators", "--district", district, "--from", PERIOD["from"],
                              "--to", PERIOD["to"], "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
    assert printed.returncode == 0, printed.stderr
    assert computed(json.loads(printed.stdout)) == served(district)
