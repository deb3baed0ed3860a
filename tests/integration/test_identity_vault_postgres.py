"""Crypto-erasure on a real PostgreSQL store: the vault's scenarios of
tests/unit/test_identity_vault.py run unchanged on a fresh schema, and erasing a person's
key after the relay has sealed intake's hash chain leaves the chain verifiable and the
case replayable while the identity can no longer be opened.

intake's own events do not carry sealed identities yet (today `Application.Submitted`
holds the applicant, encrypted only by the store's cipher), and this test may not change
intake's domain. So the sealed identity rides in `IdentityRecord`, a tiny test-only
aggregate saved through the same Intake application, store and relay as the real
application and client it belongs to."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from uuid import UUID

import psycopg
import pytest
from eventsourcing.domain import Aggregate, event

from services.intake.application import create_application
from services.intake.relay import create_relay
from services.intake.vault import IdentityErased, create_vault
from shared.audit import all_notifications, client_history
from shared.chain import seals_for, verify
from shared.settings import load_settings
from shared.topics import ensure_topics, public_topics
from tests.conftest import ROOT
from tests.support import applicant, read_topic
from tests.unit.test_identity_vault import MASTER, VaultScenario, identifiers

pytestmark = pytest.mark.integration

CONSENT = {"rehabilitation_services": True, "share_with_health": False, "share_with_disability_and_employment": False}


class TestVaultOnPostgres(VaultScenario):
    @pytest.fixture(autouse=True)
    def _on_postgres(self, pg_store_url):
        self.store_url = pg_store_url


class IdentityRecord(Aggregate):
    """Test-only: the sealed identity of an application's applicant, as an event would hold it."""

    @event("Sealed")
    def __init__(self, application_id: UUID, identity: str):
        self.application_id = application_id
        self.identity = identity

    @event("Corrected")
    def correct(self, identity: str) -> None:
        self.identity = identity


def stored_events(url: str) -> list[tuple]:
    """The events table as it is on disk (ciphertext included)."""
    schema = url.split("schema=")[1]
    with psycopg.connect(url.split("?")[0]) as conn:
        return conn.execute(f"SELECT notification_id, originator_id, originator_version, topic, state "
                            f"FROM {schema}.intake_events ORDER BY notification_id").fetchall()


def audit_verify(url: str) -> subprocess.CompletedProcess:
    """The auditor's own command, in its own process, reading the store as an auditor would."""
    env = {**os.environ, "JINGKANG_INTAKE_STORE": url, "JINGKANG_INTAKE_CIPHER_KEY": MASTER}
    return subprocess.run([sys.executable, "-m", "shared.audit", "verify", "--service", "intake"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_erasing_a_persons_key_keeps_the_chain_and_the_case_but_not_the_identity(pg_store_url, kafka_bootstrap):
    ensure_topics(kafka_bootstrap, public_topics())
    settings = load_settings("intake", {"JINGKANG_INTAKE_STORE": pg_store_url, "JINGKANG_KAFKA": kafka_bootstrap,
                                        "JINGKANG_INTAKE_CIPHER_KEY": MASTER})
    intake, vault = create_application(settings), create_vault(settings)
    relay = create_relay(settings, intake)
    try:
        # Given an application, its sealed identity (keyed by the application id), a consent
        # and a registered client, all sealed into the chain by the relay.
        someone = applicant()
        held = {**someone, "birth_date": date.fromisoformat(someone["birth_date"])}
        application_id = intake.submit_application(source="community", applicant=held, district_code="110105",
                                                   street_code="110105002", hardship_categories=[])
        record = IdentityRecord(application_id, vault.seal(application_id, held))
        intake.save(record)
        intake.record_consent(application_id, signed_by="self", scope=CONSENT)
        client_id = intake.register_client(application_id)
        record.correct(vault.seal(application_id, {**held, "phone": "13911112222"}))
        intake.save(record)
        while relay.publish_batch():
            pass
        assert vault.open(application_id, intake.repository.get(record.id).identity)["phone"] == "13911112222"
        before = stored_events(pg_store_url)

        # When the person's key is erased
        assert vault.erase(application_id) is True

        # Then not one stored event changed, and the auditor's verification still passes.
        assert stored_events(pg_store_url) == before
        checked, finding = verify(all_notifications(intake), seals_for(pg_store_url).all())
        assert finding is None and checked == len(before) >= 6
        audited = audit_verify(pg_store_url)
        assert audited.returncode == 0, audited.stdout + audited.stderr
        assert f"intake: {len(before)} records verified; chain intact" in audited.stdout

        # The case still replays, at every version, and the auditor's case history is whole.
        assert intake.get_application(application_id).client_id == client_id
        assert intake.get_client(client_id).consent == CONSENT
        first, latest = intake.repository.get(record.id, version=1), intake.repository.get(record.id)
        assert (first.version, latest.version, latest.application_id) == (1, 2, application_id)
        history = client_history({"intake": intake}, client_id)
        assert sorted(row["event"] for row in history["events"] if not row["event"].startswith("IdentityRecord")) == [
            "Application.ConsentRecorded", "Application.IdentityVerified", "Application.Registered",
            "Application.RegistryChecked", "Application.Submitted", "Client.Registered",
            "PersonIndex.Claimed", "PersonIndex.Enrolled", "PersonIndex.Opened"]
        assert history["believed"]["intake"][str(application_id)]["state"]["identity"] == "<redacted>"

        # But the identity, in every version of the record, can no longer be opened.
        for token in (first.identity, latest.identity):
            with pytest.raises(IdentityErased):
                vault.open(application_id, token)
        assert vault.is_erased(application_id)

        # And the case goes on: a later change is stored, sealed and verifies with the rest.
        intake.exit_client(client_id, reason="withdrew")
        while relay.publish_batch():
            pass
        assert verify(all_notifications(intake), seals_for(pg_store_url).all()) == (len(before) + 2, None)  # the exit and the index released

        # Nothing published about this case carries the sealed identity or an identifier.
        published = read_topic(kafka_bootstrap, "jingkang.intake.v1",
                               lambda ce: ce["subject"] in (str(application_id), str(client_id)), expect=6)
        assert sorted(ce["type"].split(".")[2] for _, ce in published) == [
            "ApplicationSubmitted", "ClientExited", "ClientRegistered", "ConsentRecorded", "IdentityVerified",
            "RegistryChecked"]
        for message, _ in published:
            assert first.identity.encode() not in message.value and latest.identity.encode() not in message.value
            for secret in identifiers(someone):
                assert secret not in message.value
    finally:
        relay.producer.close()
        vault.close()
        intake.close()
