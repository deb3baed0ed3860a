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
