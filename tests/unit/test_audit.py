"""An auditor replays: the log in order with who did what, and one aggregate as it
was at an earlier version; intake's personal identifiers are never printed."""
from __future__ import annotations

import uuid
from datetime import date

from services.intake.application import create_application as create_intake
from services.referral.application import create_application as create_referrals
from shared.audit import aggregate, client_history, log
from shared.settings import load_settings
from shared.store import command_context
from tests.support import applicant


def test_log_names_the_actor_and_an_aggregate_replays_at_an_earlier_version():
    referrals = create_referrals(load_settings("referral", {"JINGKANG_REFERRAL_STORE": "memory://"}))
    with command_context(actor="doctor-17", role="hospital"):
        referral_id = referrals.request_referral(client_id=uuid.uuid4(), kind="medical", reason="relapse_detected")
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
    assert replayed["state"]["identity"] == "<redacted>"
    assert person["id_number"] not in str(replayed)


def test_a_client_case_replays_across_services_in_time_order_and_as_of_a_moment():
    import time
    from datetime import datetime, timezone

    from services.assessment.application import create_application as create_assessments
    from shared.clock import FixedClock

    clock = FixedClock(datetime(2026, 3, 2, 1, tzinfo=timezone.utc))
    intake = create_intake(load_settings("intake", {"JINGKANG_INTAKE_STORE": "memory://"}), clock=clock)
    assessments = create_assessments(load_settings("assessment", {"JINGKANG_ASSESSMENT_STORE": "memory://"}), clock=clock)
    referrals = create_referrals(load_settings("referral", {"JINGKANG_REFERRAL_STORE": "memory://"}), clock=clock)
    person = applicant()
    person["birth_date"] = date.fromisoformat(person["birth_date"])
    with command_context(actor="worker-1", role="station_worker"):
        application_id = intake.submit_application(source="self", applicant=person, district_code="110105",
                                                   street_code="110105001", hardship_categories=[])
        intake.record_consent(application_id, signed_by="self", scope={
            "rehabilitation_services": True, "share_with_health": True, "share_with_disability_and_employment": False})
        client_id = intake.register_client(application_id)
    assessments.open_record(client_id=client_id, district_code="110105", street_code="110105001", registered_on=clock.today())
    # "As of" is when the store recorded a fact (wall-clock event timestamps), not a business date.
    time.sleep(0.01)
    before_relapse = datetime.now(timezone.utc)
    time.sleep(0.01)
    referrals.open_medical_referral(client_id=client_id, cause_event_id="relapse-1")
    other = uuid.uuid4()
    referrals.open_medical_referral(client_id=other, cause_event_id="relapse-2")  # someone else: not in the case

    apps = {"intake": intake, "assessment": assessments, "referral": referrals}
    whole = client_history(apps, client_id)
    times = [row["time"] for row in whole["events"]]
    assert times == sorted(times)
    kinds = [(row["service"], row["event"]) for row in whole["events"]]
    assert ("intake", "Application.Submitted") in kinds  # the application, related through the client
    assert ("intake", "Client.Registered") in kinds and ("referral", "Referral.Requested") in kinds
    assert str(other) not in str(whole)
    assert person["id_number"] not in str(whole)

    then = client_history(apps, client_id, as_of=before_relapse)
    assert ("referral", "Referral.Requested") not in [(r["service"], r["event"]) for r in then["events"]]
    assert then["believed"]["referral"] == {} or all(
        v["state"].get("referral_ids") == [] for v in then["believed"]["referral"].values())
    application = then["believed"]["intake"][str(application_id)]
    assert application["state"]["identity"] == "<redacted>" and application["state"]["client_id"] == str(client_id)


def test_a_placed_clients_case_replays_with_the_district_placement_keyed_by_client():
    # Given a client placed at a station (the district's placement keeps its clients by id)
    from tests.unit.test_access_control import WORLDS

    world = WORLDS["referral"]()
    client = world.new_client()
    # Then the auditor's case history shows the placement as it stood, its ids as text
    history = client_history({"referral": world.app}, client)
    placements = [b for b in history["believed"]["referral"].values() if b["type"] == "DistrictPlacement"]
    assert placements and str(client) in placements[0]["state"]["placed"]
    assert "DistrictPlacement.Placed" in [row["event"] for row in history["events"]]


def test_every_service_serves_its_chain_and_a_client_s_events_to_auditors_only():
    from fastapi.testclient import TestClient

    from services.referral.api import create_app
    from shared.auth import Authority

    key = "k" * 32
    settings = load_settings("referral", {"JINGKANG_REFERRAL_STORE": "memory://", "JINGKANG_JWT_KEY": key})
    referrals = create_referrals(settings)
    client_id, someone_else = uuid.uuid4(), uuid.uuid4()
    with command_context(actor="doctor-17", role="hospital"):
        referral_id = referrals.request_referral(client_id=client_id, kind="medical", reason="relapse_detected")
        referrals.request_referral(client_id=someone_else, kind="medical", reason="relapse_detected")
    with command_context(actor="nurse-3", role="hospital"):
        referrals.accept_referral(referral_id)
    http = TestClient(create_app(settings, referrals))

    def as_(role):
        return {"authorization": "Bearer " + Authority(key).issue(sub="a-1", role=role, districts=["*"])}

    chain = http.get("/v1/audit/chain", headers=as_("auditor"))
    assert chain.status_code == 200 and chain.json()["service"] == "referral" and chain.json()["verified"] is True
    events = http.get(f"/v1/audit/clients/{client_id}/events", headers=as_("auditor")).json()["events"]
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    referral = [e for e in events if e["aggregate_id"] == str(referral_id)]
    assert [(e["type"], e["actor"]) for e in referral] == [("Referral.Requested", "doctor-17"),
                                                           ("Referral.StatusChanged", "nurse-3")]
    assert referral[0]["public_type"] == "jingkang.referral.TransferRequested.v1"
    assert set(events[0]) == {"position", "time", "type", "public_type", "aggregate_id", "version", "actor"}
    others = {e["aggregate_id"] for e in http.get(f"/v1/audit/clients/{someone_else}/events",
                                                 headers=as_("auditor")).json()["events"]}
    assert not others & {e["aggregate_id"] for e in referral}
    early = http.get(f"/v1/audit/clients/{client_id}/events", params={"as_of": referral[0]["time"]},
                     headers=as_("auditor")).json()["events"]
    assert "Referral.StatusChanged" not in [e["type"] for e in early]
    assert http.get("/v1/audit/chain", headers=as_("district_admin")).status_code == 403
    assert http.get(f"/v1/audit/clients/{client_id}/events", headers=as_("hospital")).status_code == 403
    assert http.get("/v1/audit/clients/not-a-uuid/events", headers=as_("auditor")).status_code == 422
