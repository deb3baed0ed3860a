"""The public event contract: every public event validates against its committed JSON
Schema, the schemas and the AsyncAPI document regenerate without a diff, and no
schema has room for a personal identifier."""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from jsonschema import Draft202012Validator

from shared.contract import REGISTRY, event_type
from shared.contract.supervision import IndicatorBelowTarget
from shared.contract.assessment import (
    AssessmentCompleted, AssessmentCompletedV2, ClientClassified, DynamicCareContactDue, FollowUpContactRecorded, PlanOverdue, ReassessmentDue, ReassessmentOverdue,
    RehabPlanAgreed, RelapseDetected, ServiceSessionDelivered,
)
from shared.contract.funding import (
    BudgetExceededRejected, FundingShare, LotteryShareBelowMinimum, PurchaseContractPaid, PurchaseContractSigned,
    SessionAccrued, SettlementApproved, SubsidyGranted,
)
from shared.contract.generate import LOCK, SCHEMA_DIR, incompatibilities, render
from shared.contract.intake import (
    ApplicationSubmitted, ClientExited, ClientRegistered, ClientRelocated, ConsentRecorded, ConsentScope,
    ConsentWithdrawn, DeadlineBreached, ApplicationWithdrawn, IdentityRejected, IdentityVerified, RegistryChecked,
)
from shared.contract.notification import NotificationFailed, NotificationSent
from shared.contract.referral import (
    ClientPlaced, ClientWaitlisted, ReferralAccepted, ReferralCancelled, ReferralCompleted, ReferralDeclined,
    ReferralOverdue, StationCapacityChanged, StationRegistered, TransferRequested, WaitlistExceeded,
)
from shared.contract.withheld import WITHHELD
from shared.envelope import decode, encode, encode_cloudevent, event_id, to_cloudevent

CLIENT, OTHER = uuid.uuid4(), uuid.uuid4()
AT = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)
SCOPE = ConsentScope(rehabilitation_services=True, share_with_health=True, share_with_disability_and_employment=False)
EXAMPLES = [
    IndicatorBelowTarget(district_code="110105", indicator="standardised_service", period="2026-03",
                         value=Decimal("0.3000"), target=Decimal("0.45"), numerator="6", denominator="20"),
    ApplicationSubmitted(application_id=OTHER, source="hospital_discharge", district_code="110105", street_code="110105001", submitted_on=date(2026, 3, 1)),
    ConsentRecorded(application_id=OTHER, signed_by="guardian", scope=SCOPE),
    IdentityVerified(application_id=OTHER, method="resident_id_check", verified_on=date(2026, 3, 1)),
    RegistryChecked(application_id=OTHER, status="not_listed", checked_on=date(2026, 3, 1)),
    IdentityRejected(application_id=OTHER, reason="registry_conflict", rejected_on=date(2026, 3, 2)),
    ApplicationWithdrawn(application_id=OTHER, withdrawn_on=date(2026, 3, 2)),
    ClientRegistered(client_id=CLIENT, application_id=OTHER, source="community", district_code="110105", street_code="110105001",
                     registered_on=date(2026, 3, 2), free_service_eligible=True, hardship_categories=["marginal"], consent=SCOPE),
    AssessmentCompleted(client_id=CLIENT, assessment_id=OTHER, kind="baseline", stability="basically_stable", risk_level=2,
                        willing=True, service_category="community_rehab", medical_referral_needed=False, assessed_on=date(2026, 3, 3)),
    AssessmentCompletedV2(client_id=CLIENT, assessment_id=OTHER, kind="process", stability="stable", risk_level=0,
                          willing=True, service_category="community_rehab", medical_referral_needed=False,
                          assessed_on=date(2026, 6, 1), functional_score=71),
    ClientClassified(client_id=CLIENT, service_category="dynamic_care", medical_referral_needed=True, previous_category="community_rehab"),
    RelapseDetected(client_id=CLIENT, detected_at=AT, stability="unstable", risk_level=4),
    TransferRequested(client_id=CLIENT, referral_id=OTHER, kind="professional", reason="station_full", requested_at=AT, due_by=AT,
                      to_station_id=uuid.uuid4()),
    ReferralAccepted(client_id=CLIENT, referral_id=OTHER, kind="medical", at=AT),
    ReferralDeclined(client_id=CLIENT, referral_id=OTHER, kind="professional", at=AT, reason="no_capacity"),
    ReferralCompleted(client_id=CLIENT, referral_id=OTHER, kind="medical", at=AT),
    ReferralCancelled(client_id=CLIENT, referral_id=OTHER, kind="employment", at=AT, reason="client_withdrew"),
    NotificationSent(client_id=CLIENT, notification_id=OTHER, kind="transfer_requested", channel="log", recipient="hospital", sent_at=AT),
    PurchaseContractSigned(contract_id=OTHER, station_id=uuid.uuid4(), district_code="110105", period_start=date(2026, 1, 1),
                           period_end=date(2026, 12, 31), budget=Decimal("100000.00"),
                           funding_sources=[FundingShare(source="welfare_lottery", amount=Decimal("100000"))],
                           unit_prices={"social_skills": Decimal("120")}, purchaser_code="110000"),
    PurchaseContractPaid(contract_id=OTHER, payment_id=uuid.uuid4(), amount=Decimal("2500.5"), period="2026-03",
                         paid_total=Decimal("2500.50"), remaining=Decimal("97499.50")),
    ConsentWithdrawn(client_id=CLIENT, consent=SCOPE, withdrawn_on=date(2026, 4, 1)),
    ClientRelocated(client_id=CLIENT, district_code="110106", street_code="110106002", relocated_on=date(2026, 5, 1)),
    ClientExited(client_id=CLIENT, reason="recovered", exited_on=date(2026, 12, 1)),
    DeadlineBreached(application_id=OTHER, client_id=None, deadline="registration", due_on=date(2026, 3, 9)),
    RehabPlanAgreed(client_id=CLIENT, plan_version=1, services=["medication_training", "peer_support"], agreed_by="client",
                    agreed_on=date(2026, 3, 20)),
    PlanOverdue(client_id=CLIENT, registered_on=date(2026, 3, 2), due_on=date(2026, 4, 1)),
    ReassessmentDue(client_id=CLIENT, last_assessed_on=date(2026, 3, 3), due_on=date(2026, 6, 1)),
    ReassessmentOverdue(client_id=CLIENT, last_assessed_on=date(2026, 3, 3), due_on=date(2026, 6, 15)),
    DynamicCareContactDue(client_id=CLIENT, due_on=date(2026, 3, 17), cadence_days=14),
    FollowUpContactRecorded(client_id=CLIENT, contact_id=OTHER, contacted_on=date(2026, 3, 16), method="home_visit",
                            outcome="reached", next_contact_due_on=date(2026, 3, 30)),
    ServiceSessionDelivered(client_id=CLIENT, session_id=OTHER, station_id=uuid.uuid4(), service_type="social_skills",
                            session_date=date(2026, 3, 10), minutes=90, mode="group", attendance="attended"),
    ReferralOverdue(client_id=CLIENT, referral_id=OTHER, kind="medical", due_by=AT),
    StationRegistered(station_id=OTHER, tier="ningkang_post", district_code="110105", streets=["110105001"], capacity=30),
    StationCapacityChanged(station_id=OTHER, capacity=40),
    ClientPlaced(client_id=CLIENT, station_id=OTHER, district_code="110105", placed_on=date(2026, 3, 4)),
    ClientWaitlisted(client_id=CLIENT, district_code="110105", waiting_since=date(2026, 3, 4)),
    WaitlistExceeded(client_id=CLIENT, district_code="110105", waiting_since=date(2026, 3, 4)),
    SessionAccrued(contract_id=OTHER, session_id=uuid.uuid4(), service_type="social_skills", session_date=date(2026, 3, 10),
                   amount=Decimal("120.00")),
    SettlementApproved(contract_id=OTHER, settlement_id=uuid.uuid4(), period="2026-Q1", accrued=Decimal("36000.00"),
                       performance_score=Decimal("0.92"), amount=Decimal("33120.00")),
    BudgetExceededRejected(contract_id=OTHER, requested=Decimal("50000.00"), remaining=Decimal("40000.00"), period="2026-Q2",
                           accrued=Decimal("62500.00"), performance_score=Decimal("0.80")),
    SubsidyGranted(station_id=OTHER, kind="construction", amount=Decimal("200000.00"), granted_on=date(2026, 2, 1)),
    LotteryShareBelowMinimum(contract_id=OTHER, purchaser_code="110105", lottery=Decimal("15000.00"),
                             spending=Decimal("100000.00"), share=Decimal("0.1500"), minimum=Decimal("0.20")),
    NotificationFailed(client_id=CLIENT, notification_id=OTHER, kind="plan_due", channel="webhook", reason="HTTP 500",
                       failed_at=AT),
    *(marker(subject_id=str(CLIENT), withheld_type=f"jingkang.{service}.Something.v1", reason="too_large")
      for service, marker in WITHHELD.items()),
]
PERSONAL = {"name", "id_number", "phone", "address", "birth_date", "diagnosis", "applicant", "guardian"}


def schema_for(ce_type: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{ce_type}.json").read_text())


def as_cloudevent(event) -> dict:
    return to_cloudevent(event, id=str(uuid.uuid4()), time=AT, sequence=7,
                         meta={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "correlationid": "c-1"})


def test_every_public_event_type_has_an_example():
    assert {event_type(type(e)) for e in EXAMPLES} == set(REGISTRY)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.NAME)
def test_example_validates_against_committed_schema_and_round_trips(event):
    ce = as_cloudevent(event)
    validator = Draft202012Validator(schema_for(ce["type"]), format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert list(validator.iter_errors(ce)) == []
    assert decode(encode(ce)).event == event


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.NAME)
def test_the_relays_one_step_encoding_is_the_cloudevent(event):
    # The relay encodes with encode_cloudevent (pydantic writes the data); consumers must read
    # exactly what encode(to_cloudevent(...)) says, non-ASCII text and decimals included.
    meta = {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "correlationid": "c-1", "chainhash": "ab" * 32}
    one_step = encode_cloudevent(event, id="e-1", time=AT, sequence=7, meta=meta)
    assert json.loads(one_step) == json.loads(encode(to_cloudevent(event, id="e-1", time=AT, sequence=7, meta=meta)))
    assert decode(one_step).event == event


def test_event_ids_are_the_uuid5_of_their_name():
    # Subscribers deduplicate by id: a republished event must keep the id it had.
    for event in EXAMPLES:
        for oid, version in ((CLIENT, 1), (OTHER, 12), ("not-a-uuid", 3)):
            name = f"intake/{oid}/{version}/{event_type(type(event))}"
            assert event_id("intake", oid, version, event) == str(uuid.uuid5(uuid.UUID("3d3a1f7e-6a51-4c55-9a0f-7c0d3a5e1b42"), name))


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.NAME)
def test_schema_refuses_a_removed_or_retyped_field(event):
    ce = as_cloudevent(event)
    validator = Draft202012Validator(schema_for(ce["type"]))
    field = next(iter(ce["data"]))
    removed = dict(ce, data={k: v for k, v in ce["data"].items() if k != field})
    retyped = dict(ce, data=dict(ce["data"], **{field: [ce["data"][field]]}))
    assert not validator.is_valid(removed)
    assert not validator.is_valid(retyped)


def test_committed_schemas_and_asyncapi_regenerate_without_a_diff():
    stale = [str(path) for path, text in render().items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    assert stale == [], "run `make schemas` and commit: " + ", ".join(stale)
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(f"{t}.json" for t in REGISTRY)


def test_no_schema_has_room_for_a_personal_identifier():
    def property_names(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "properties":
                    yield from value
                yield from property_names(value)
        elif isinstance(node, list):
            for item in node:
                yield from property_names(item)

    for t in REGISTRY:
        assert not PERSONAL & set(property_names(schema_for(t))), t


def test_no_published_event_changed_incompatibly():
    locked = json.loads(LOCK.read_text())
    assert incompatibilities(locked) == []
    assert set(locked) == set(REGISTRY), "run `make schemas` to record newly published types"


def test_the_compatibility_check_catches_removed_retyped_and_newly_required_fields():
    t = "jingkang.intake.ClientRegistered.v1"
    locked = json.loads(LOCK.read_text())
    removed = {t: {**locked[t], "properties": {**locked[t]["properties"], "guardian_code": {"type": "string"}}}}
    retyped = {t: {**locked[t], "properties": {**locked[t]["properties"], "registered_on": {"type": "integer"}}}}
    newly_required = {t: {**locked[t], "required": [f for f in locked[t]["required"] if f != "street_code"]}}
    assert incompatibilities(removed) == [f"{t}: field guardian_code removed"]
    assert incompatibilities(retyped) == [f"{t}: field registered_on changed type"]
    assert incompatibilities(newly_required) == [f"{t}: field street_code is newly required"]


def test_v1_and_v2_of_assessment_completed_are_both_published_with_distinct_ids():
    from services.assessment.contracts import to_public
    from services.assessment.domain import ClientRecord, Rules
    from shared.envelope import event_id

    record = ClientRecord(client_id=CLIENT, district_code="110105", street_code="110105001", registered_on=date(2026, 3, 1))
    record.complete_assessment(kind="baseline", stability="stable", risk_level=1, willing=True, functional_score=70,
                               assessor="staff-1", assessed_on=date(2026, 3, 2), today=date(2026, 3, 2), now=AT,
                               rules=Rules())
    completed = next(e for e in record.collect_events() if isinstance(e, ClientRecord.AssessmentCompleted))
    forms = list(to_public(completed))
    assert [(type(f).NAME, type(f).VERSION) for f in forms] == [("AssessmentCompleted", 1), ("AssessmentCompleted", 2)]
    assert forms[1].functional_score == 70 and "functional_score" not in forms[0].model_dump()
    assert len({event_id("assessment", CLIENT, 2, f) for f in forms}) == 2


def test_every_service_serves_the_committed_contract_without_a_token():
    from fastapi.testclient import TestClient

    from shared.api import create_service_api
    from shared.auth import Authority
    from shared.contract.generate import ASYNCAPI

    # A service with authorisation on, and a table that lets no one call anything
    http = TestClient(create_service_api("Jingkang test", "contract", checks={},
                                         authority=Authority("k" * 40), access={}))
    assert http.get("/contract/asyncapi.json").json() == json.loads(ASYNCAPI.read_text())
    assert http.get("/contract/schemas").json() == {"types": sorted(REGISTRY)}
    for t in REGISTRY:
        served = http.get(f"/contract/schemas/{t}.json")
        assert (served.status_code, served.json()) == (200, schema_for(t))
        assert served.headers["content-type"] == "application/schema+json"
    # An unknown type is 404, and a path that tries to leave the schema folder reaches nothing
    assert http.get("/contract/schemas/jingkang.intake.NoSuchEvent.v1.json").status_code == 404
    assert http.get("/contract/schemas/..%2F..%2Fbase.py.json").status_code == 404
