"""End to end, privacy on the running system: one person's identifiers (the applicant's and
the guardian's name, resident id, phone, address) go in through intake's API, the case goes
on through every service (a refused duplicate and a bad birth date among it), and then not
one byte of them is anywhere but behind intake's identity read: not in any process's logs,
not in the traces, not on any Kafka topic (public or dead letter, value, key or header),
and not in clear in any service's store — intake's included, which is encrypted at rest.
Runs last in the tier (after the soak), so it scans what the whole tier left too."""
from __future__ import annotations

import random
import uuid
from datetime import date, timedelta

import httpx
import pytest

from shared.topics import SERVICES, public_topics
from tests.e2e.conftest import URL, auth
from tests.support import messages, read_topic, resident_id, wait_until

pytestmark = pytest.mark.e2e
WORKER = auth("station_worker", sub="worker-privacy")


def person() -> tuple[dict, dict]:
    tag = uuid.uuid4().hex[:6]
    born = date(1970, 1, 1) + timedelta(days=random.randrange(0, 12000))
    applicant = {"name": f"隐私测试{tag}", "id_number": resident_id(born, "male"), "birth_date": born.isoformat(),
                 "sex": "male", "phone": f"139{random.randrange(10**7, 10**8)}", "address": f"海淀区隐私路{tag}号"}
    guardian = {"name": f"监护人{tag}", "id_number": resident_id(born - timedelta(days=9000), "female"),
                "relationship": "parent", "phone": f"137{random.randrange(10**7, 10**8)}"}
    return applicant, guardian


def secrets(applicant: dict, guardian: dict) -> list[bytes]:
    values = [applicant["name"], applicant["id_number"], applicant["phone"], applicant["address"],
              guardian["name"], guardian["id_number"], guardian["phone"]]
    return [v.encode() for v in values]


def test_identifiers_stay_behind_the_audited_identity_read(system):
    applicant, guardian = person()
    body = {"source": "guardian", "applicant": applicant, "guardian": guardian, "lacks_capacity": True,
            "district_code": "110105", "street_code": "110105001", "hardship_categories": ["marginal"]}
    # A bad birth date is refused naming the field, not echoing the identifiers
    wrong = httpx.post(URL["intake"] + "/v1/applications", headers=WORKER,
                       json={**body, "applicant": {**applicant, "birth_date": "1969-12-31"}})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "applicant.birth_date"
    # The application, a refused duplicate, consent by the guardian, registration
    r = httpx.post(URL["intake"] + "/v1/applications", headers=WORKER, json=body)
    assert r.status_code == 201, r.text
    application = r.json()["application_id"]
    duplicate = httpx.post(URL["intake"] + "/v1/applications", headers=WORKER, json=body)
    assert duplicate.status_code == 409 and application in duplicate.text
    for leaked in (wrong.text, duplicate.text):
        assert not [s for s in secrets(applicant, guardian) if s in leaked.encode()]
    r = httpx.post(f"{URL['intake']}/v1/applications/{application}/consent", headers=WORKER,
                   json={"signed_by": "guardian", "scope": {"rehabilitation_services": True, "share_with_health": True,
                                                            "share_with_disability_and_employment": True}})
    assert r.status_code == 201, r.text
    r = httpx.post(f"{URL['intake']}/v1/applications/{application}/register", headers=WORKER)
    assert r.status_code == 201, r.text
    client = r.json()["client_id"]
    # The identity is readable only through the audited read
    r = httpx.get(f"{URL['intake']}/v1/clients/{client}/identity", params={"purpose": "guardian_contact"}, headers=WORKER)
    assert r.status_code == 200 and r.json()["applicant"]["id_number"] == applicant["id_number"]
    # The case goes on in assessment (a relapse opens a referral, notification tells the hospital)
    wait_until(lambda: httpx.get(f"{URL['assessment']}/v1/clients/{client}/record", headers=WORKER).status_code == 200,
               timeout=60, what="assessment learned the client")
    for kind, stability, risk in (("baseline", "stable", 1), ("process", "unstable", 4)):
        r = httpx.post(f"{URL['assessment']}/v1/clients/{client}/assessments", headers=WORKER,
                       json={"kind": kind, "stability": stability, "risk_level": risk, "willing": True,
                             "functional_score": 50, "assessor": "staff-p1"})
        assert r.status_code == 201, r.text
    r = httpx.post(f"{URL['intake']}/v1/clients/{client}/exit", headers=WORKER, json={"reason": "moved_away"})
    assert r.status_code == 200, r.text
    # Wait until the last of it is published and consumed (referral opened the medical referral)
    read_topic(system["kafka"], "jingkang.intake.v1", lambda ce: ce["subject"] == client
               and ce["type"] == "jingkang.intake.ClientExited.v1", expect=1)
    wait_until(lambda: httpx.get(URL["referral"] + "/v1/referrals", params={"client_id": client},
                                 headers=WORKER).json().get("referrals"), timeout=60, what="the medical referral")

    wanted = secrets(applicant, guardian)
    # Then no file the running system wrote holds them: logs, traces, every store (and its WAL)
    found = []
    for path in sorted(p for p in system["data"].rglob("*") if p.is_file()):
        content = path.read_bytes()
        found += [(str(path.relative_to(system["data"])), s.decode()) for s in wanted if s in content]
    assert found == []
    assert (system["data"] / "logs").is_dir() and any((system["data"] / "logs").iterdir())
    assert system["trace_file"].stat().st_size > 0
    # and no Kafka message does, on any topic the services write
    topics = public_topics() + [f"jingkang.{s}.dlq" for s in SERVICES]
    everything = messages(system["kafka"], topics)
    assert any(client.encode() in (m.value or b"") for m in everything)  # the case itself is there
    leaks = [(m.topic, s.decode()) for m in everything for s in wanted
             if s in (m.value or b"") or s in (m.key or b"") or any(s in (v or b"") for _, v in m.headers)]
    assert leaks == []


def test_identifiers_typed_into_the_console_stay_out_of_its_log_and_urls(system):
    """The same person through the staff console (a form post, a refused one among it, and the
    audited identity read): the console's log, and every other file, hold none of it."""
    import re

    applicant, guardian = person()
    console = httpx.Client(base_url=system["console"], follow_redirects=False)
    page = console.get("/signin/dev")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert console.post("/signin/dev", data={"username": "worker1", "csrf": csrf}).status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', console.get("/clients/new").text).group(1)
    form = {"csrf": csrf, "source": "guardian", "lacks_capacity": "on", "district_code": "110105",
            "street_code": "110105001", **{f"applicant_{k}": v for k, v in applicant.items()},
            **{f"guardian_{k}": v for k, v in guardian.items()}}
    refused = console.post("/clients/new", data={**form, "applicant_birth_date": "1969-12-31"})
    assert refused.status_code == 422  # the form comes back with the input: only in that answer
    r = console.post("/clients/new", data=form)
    assert r.status_code == 303, r.text
    application = r.headers["location"]
    assert console.post(application + "/consent", data={"csrf": csrf, "signed_by": "guardian",
                                                        "rehabilitation_services": "on"}).status_code == 303
    client_page = console.post(application + "/register", data={"csrf": csrf}).headers["location"]
    identity = console.post(client_page + "/identity", data={"csrf": csrf, "purpose": "guardian_contact"})
    assert identity.status_code == 200 and applicant["name"] in identity.text
    assert identity.headers["cache-control"] == "no-store"
    for url in (application, client_page):
        assert not [s for s in secrets(applicant, guardian) if s in url.encode()]

    log = system["data"] / "logs" / "console-web.log"
    assert log.stat().st_size > 0 and b"/clients/new" in log.read_bytes()  # it does log requests
    found = [(str(p.relative_to(system["data"])), s.decode()) for p in sorted(system["data"].rglob("*")) if p.is_file()
             for s in secrets(applicant, guardian) if s in p.read_bytes()]
    assert found == []
