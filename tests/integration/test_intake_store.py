"""intake's store on real PostgreSQL: personal identifiers are encrypted at rest."""
from __future__ import annotations

from datetime import date

import psycopg
import pytest

from services.intake.application import create_application
from shared.settings import load_settings
from tests.support import applicant, guardian

pytestmark = pytest.mark.integration
KEY = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="


def test_personal_identifiers_are_not_stored_in_clear(pg_store_url):
    intake = create_application(load_settings("intake", {"JINGKANG_INTAKE_STORE": pg_store_url,
                                                         "JINGKANG_INTAKE_CIPHER_KEY": KEY}))
    person, parent = applicant(), guardian()
    person["birth_date"] = date.fromisoformat(person["birth_date"])
    application_id = intake.submit_application(source="guardian", applicant=person, guardian=parent,
                                               district_code="110105", street_code="110105001", hardship_categories=[])

    schema = pg_store_url.split("schema=")[1]
    with psycopg.connect(pg_store_url.split("?")[0]) as conn:
        rows = conn.execute(f"SELECT state FROM {schema}.intake_events").fetchall()
    raw = b"".join(bytes(r[0]) for r in rows)
    for secret in (person["id_number"], person["name"], person["phone"], person["address"],
                   parent["id_number"], parent["name"]):
        assert secret.encode() not in raw
    # ...and the application reads it back: opened from its sealed token with the person's key.
    identity = intake.identity_of(intake.get_application(application_id))
    assert identity["applicant"]["id_number"] == person["id_number"]
    assert identity["guardian"] == parent
    intake.close()


def test_concurrent_registrations_sharing_the_days_agenda_all_succeed(pg_store_url):
    """Every registration of a day appends to one of the day's 16 agendas: requests that
    collide there are run again on the new version, not refused with 409 (nothing is
    saved twice: one ClientRegistered and one agenda entry per application)."""
    from concurrent.futures import ThreadPoolExecutor

    from services.intake.domain import HANDOVER

    intake = create_application(load_settings("intake", {"JINGKANG_INTAKE_STORE": pg_store_url,
                                                         "JINGKANG_INTAKE_CIPHER_KEY": KEY}))
    ids = []
    for _ in range(48):
        person = applicant()
        person["birth_date"] = date.fromisoformat(person["birth_date"])
        application_id = intake.submit_application(source="guardian", applicant=person, guardian=guardian(),
                                                   district_code="110105", street_code="110105001", hardship_categories=[])
        intake.record_consent(application_id, signed_by="guardian", scope={"rehabilitation_services": True,
                                                                           "share_with_health": True,
                                                                           "share_with_disability_and_employment": False})
        ids.append(application_id)
    with ThreadPoolExecutor(12) as pool:
        clients = list(pool.map(intake.register_client, ids))
    assert len(set(clients)) == 48
    registered = [n for n in intake.notifications() if n.topic.endswith("Client.Registered")]
    assert len(registered) == 48
    entries = [e for n in intake.notifications() if n.topic.endswith("Agenda.Scheduled")
               for e in [intake.mapper.to_domain_event(n)] if e.kind == HANDOVER]
    assert sorted(e.subject_id for e in entries) == sorted(clients)
    intake.close()
