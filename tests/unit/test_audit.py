"""An auditor replays: the log in order with who did what, and one aggregate as it
was at an earlier version; intake's personal identifiers are never printed."""
from __future__ import annotations

import uuid
from datetime import date

from services.intake.application import create_application as create_intake
from services.referral.application import create_application as create_referrals
from shared.audit import aggregate, log
from shared.settings import load_settings
from shared.store import command_context
from tests.support import applicant


def test_log_names_the_actor_and_an_aggregate_replays_at_an_earlier_version():
    referrals = create_referrals(load_settings("referral", {"JINGKANG_REFERRAL_STORE": "memory://"}))
    with command_context(actor="doctor-17", role="hospital"):
        referral_id = referrals.request_referral(client_id=uuid.uuid4(), kind="medical", reason="relapse")
    with command_context(actor="nurse-3", role="hospital"):
        referrals.accept_referral(referral_id)

    rows = log(referrals, after=0, limit=10)
    assert [r["position"] for r in rows] == sorted(r["position"] for r in rows)
    mine = [r for r in rows if r["aggregate"] == str(referral_id)]
    assert [(r["event"], r["actor"], r["role"]) for r in mine] == [
        ("Referral.Requested", "doctor-17", "hospital"), ("Referral.StatusChanged", "nurse-3", "hospital")]
    assert aggregate(referrals, referral_id, version=1)["state"]["status"] == "requested"
    assert aggregate(referrals, referral_id, version=None)["state"]["status"] == "accepted"


def test_intake_replay_redacts_the_applicant():
    intake = create_intake(load_settings("intake", {"JINGKANG_INTAKE_STORE": "memory://"}))
    person = applicant()
    person["birth_date"] = date.fromisoformat(person["birth_date"])
    application_id = intake.submit_application(source="self", applicant=person, district_code="110105",
                                               street_code="110105001", hardship_categories=[])
    replayed = aggregate(intake, application_id, version=None)
    assert replayed["state"]["applicant"] == "<redacted>"
    assert person["id_number"] not in str(replayed)
