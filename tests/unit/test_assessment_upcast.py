"""Schema evolution: an assessment stored in the first format (class version 1: no
functional score, no due dates) still replays, and is published as AssessmentCompleted
v2 with `functional_score: null` beside v1."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from services.assessment.application import create_application
from services.assessment.contracts import to_public
from services.assessment.domain import ClientRecord
from shared.clock import FixedClock
from shared.settings import load_settings


def test_an_assessment_stored_as_version_1_replays_and_publishes_as_v2():
    clock = FixedClock(datetime(2026, 3, 10, 2, tzinfo=timezone.utc))
    assessments = create_application(load_settings("assessment", {"JINGKANG_ASSESSMENT_STORE": "memory://"}), clock=clock)
    client_id = uuid.uuid4()
    assessments.open_record(client_id=client_id, district_code="110105", street_code="110105001", registered_on=date(2026, 3, 1))
    old_state = {  # exactly what version 1 stored
        "timestamp": datetime(2026, 3, 2, 1, tzinfo=timezone.utc), "assessment_id": uuid.uuid4(), "kind": "baseline",
        "stability": "basically_stable", "risk_level": 2, "willing": True, "assessor": "staff-9",
        "assessed_on": date(2026, 3, 2), "service_category": "community_rehab", "medical_referral_needed": False,
    }
    version = assessments.get_record(client_id).version + 1
    assessments.recorder.insert_events([StoredEvent(
        originator_id=client_id, originator_version=version, topic=get_topic(ClientRecord.AssessmentCompleted),
        state=assessments.mapper.transcoder.encode(old_state))])

    record = assessments.get_record(client_id)
    assert record.assessments[-1]["functional_score"] is None
    assert record.assessments[-1]["stability"] == "basically_stable"
    (stored,) = [n for n in assessments.recorder.select_notifications(start=1, limit=50)
                 if n.originator_id == client_id and n.originator_version == version]
    v1, v2 = to_public(assessments.mapper.to_domain_event(stored))
    assert (type(v1).VERSION, type(v2).VERSION, v2.functional_score) == (1, 2, None)
    assert v2.risk_level == v1.risk_level == 2
