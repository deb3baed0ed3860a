"""A district integration subscribes the way the README tells it to: a plain
kafka-python consumer group on jingkang.intake.v1, validating every message against
the published JSON Schema. It receives ClientRegistered as a valid CloudEvent."""
from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from jsonschema import Draft202012Validator
from kafka import KafkaConsumer

from services.intake.application import create_application
from services.intake.relay import create_relay
from shared.contract.generate import SCHEMA_DIR
from shared.settings import load_settings
from shared.topics import ensure_topics, public_topics
from tests.support import applicant, guardian, wait_until

pytestmark = pytest.mark.integration


def test_a_district_consumer_group_receives_client_registered(pg_store_url, kafka_bootstrap):
    ensure_topics(kafka_bootstrap, public_topics())
    settings = load_settings("intake", {"JINGKANG_INTAKE_STORE": pg_store_url, "JINGKANG_KAFKA": kafka_bootstrap})
    intake = create_application(settings)
    person = applicant()
    person["birth_date"] = date.fromisoformat(person["birth_date"])
    application_id = intake.submit_application(source="guardian", applicant=person, guardian=guardian(), district_code="110105",
                                               street_code="110105004", hardship_categories=["extreme_poverty"])
    intake.record_consent(application_id, signed_by="guardian", scope={
        "rehabilitation_services": True, "share_with_health": True, "share_with_disability_and_employment": True})
    client_id = str(intake.register_client(application_id))
    relay = create_relay(settings, intake)
    while relay.publish_batch():
        pass
    relay.producer.close()

    # --- what the district writes ---
    schemas = {p.name[:-5]: Draft202012Validator(json.loads(p.read_text()), format_checker=Draft202012Validator.FORMAT_CHECKER)
               for p in SCHEMA_DIR.glob("*.json")}
    consumer = KafkaConsumer("jingkang.intake.v1", bootstrap_servers=kafka_bootstrap, group_id="district-110105-" + uuid.uuid4().hex[:6],
                             auto_offset_reset="earliest", consumer_timeout_ms=1000)
    mine = []

    def received() -> bool:
        for message in consumer:
            ce = json.loads(message.value)
            errors = list(schemas[ce["type"]].iter_errors(ce))
            assert errors == [], errors
            assert message.key.decode() == ce["subject"]
            assert dict(message.headers)["content-type"] == b"application/cloudevents+json"
            if ce["subject"] == client_id:
                mine.append(ce)
        return bool(mine)

    try:
        wait_until(received, timeout=60, what="ClientRegistered on the topic")
    finally:
        consumer.close()
    (registered,) = mine
    assert registered["type"] == "jingkang.intake.ClientRegistered.v1"
    assert registered["data"]["district_code"] == "110105"
    assert registered["data"]["hardship_categories"] == ["extreme_poverty"]
    assert person["id_number"] not in json.dumps(registered, ensure_ascii=False)
