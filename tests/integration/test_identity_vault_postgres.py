"""Crypto-erasure on a real PostgreSQL store: the vault's scenarios of
tests/unit/test_identity_vault.py and intake's erasure scenarios of
tests/unit/test_intake_erasure.py run unchanged on a fresh schema, and erasing a client's
identity through intake's own command, after the relay has sealed intake's hash chain and
published to Kafka, leaves the chain verifiable (by the auditor's command too) and the case
replayable, while the identity can no longer be opened."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import psycopg
import pytest

from services.intake.application import create_application
from services.intake.domain import Client
from services.intake.relay import create_relay
from services.intake.vault import IdentityErased
from shared.audit import all_notifications, client_history
from shared.chain import seals_for, verify
from shared.deadlines import Agenda
from shared.settings import load_settings
from shared.topics import ensure_topics, public_topics
from tests.conftest import ROOT
from tests.support import applicant, guardian, read_topic
from tests.unit.test_identity_vault import MASTER, VaultScenario, identifiers
from tests.unit.test_intake_erasure import ErasureScenario

pytestmark = pytest.mark.integration

CONSENT = {"rehabilitation_services": True, "share_with_health": False, "share_with_disability_and_employment": False}


class TestVaultOnPostgres(VaultScenario):
    @pytest.fixture(autouse=True)
    def _on_postgres(self, pg_store_url):
        self.store_url = pg_store_url


class TestIntakeErasureOnPostgres(ErasureScenario):
    @pytest.fixture(autouse=True)
    def _on_postgres(self, pg_store_url):
        self.store_url = pg_store_url


def stored_events(url: str) -> list[tuple]:
    """The events table as it is on disk (ciphertext included)."""
    schema = url.split("schema=")[1]
    with psycopg.connect(url.split("?")[0]) as conn:
        return conn.execute(f"SELECT notification_id, originator_id, originator_version, topic, state "
                            f"FROM {schema}.intake_events ORDER BY notification_id").fetchall()


def audit_verify(url: str) -> subprocess.CompletedProcess:
    """The auditor's own command, in its own process, reading the store as an auditor would."""
    env = {**os.environ, "JINGKANG_INTAKE_STORE": url, "JINGKANG_INTAKE_CIPHER_KEY": MASTER}
    return subprocess.run([sys.executable, "-m", "cli", "verify", "--service", "intake"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def publish_all(relay) -> None:
    while relay.publish_batch():
        pass


def test_erasing_a_clients_identity_keeps_the_chain_and_the_case_but_not_the_identity(pg_store_url, kafka_bootstrap):
    ensure_topics(kafka_bootstrap, public_topics())
    settings = load_settings("intake", {"JINGKANG_INTAKE_STORE": pg_store_url, "JINGKANG_KAFKA": kafka_bootstrap,
                                        "JINGKANG_INTAKE_CIPHER_KEY": MASTER})
    intake = create_application(settings)
    relay = create_relay(settings, intake)
    try:
        # Given a minor's application with a guardian, consented and registered, the identity
        # read once, all sealed into the chain by the relay and published
        someone, parent = applicant(born=date(2013, 5, 6)), guardian()
        held = {**someone, "birth_date": date.fromisoformat(someone["birth_date"])}
        application_id = intake.submit_application(source="guardian", applicant=held, guardian=parent,
                                                   district_code="110105", street_code="110105002",
                                                   hardship_categories=[])
        intake.record_consent(application_id, signed_by="guardian", scope=CONSENT)
        client_id = intake.register_client(application_id)
        assert intake.read_identity(client_id, purpose="guardian_contact")["guardian"] == parent
        publish_all(relay)
        application = intake.get_application(application_id)
        token, key_id = application.identity, application.identity_key_id
        before = stored_events(pg_store_url)
        # (what is on disk holds no identifier, not even under the store's cipher: only the token)
        for secret in identifiers(someone) + [parent["name"].encode(), parent["id_number"].encode()]:
            assert not any(secret in bytes(row[4]) for row in before)

        # When a district admin's command erases the client's identity
        intake.erase_identity(client_id, reason="data_subject_request")
        publish_all(relay)

        # Then not one stored event changed: one was added, IdentityErased, naming no one
        after = stored_events(pg_store_url)
        assert after[:len(before)] == before and len(after) == len(before) + 1
        (erased,) = [e for e in map(intake.mapper.to_domain_event, all_notifications(intake))
                     if isinstance(e, Client.IdentityErased)]
        assert (erased.reason, erased.key_id) == ("data_subject_request", key_id)
        # And the chain verifies, here and by the auditor's own command
        checked, finding = verify(all_notifications(intake), seals_for(pg_store_url).all())
        assert finding is None and checked == len(after)
        audited = audit_verify(pg_store_url)
        assert audited.returncode == 0, audited.stdout + audited.stderr
        assert f"intake: {len(after)} records verified; chain intact" in audited.stdout

        # The case still replays, at every version, and the auditor's case history is whole
        assert intake.get_application(application_id).client_id == client_id
        assert intake.repository.get(application_id, version=1).identity == token
        assert intake.get_client(client_id).consent == CONSENT
        history = client_history({"intake": intake}, client_id)
        # The client's handover time limit; the application's registration limit falls on the same
        # day, so it is on the same agenda when the two ids land in one shard.
        same_agenda = Agenda.shard_of(application_id) == Agenda.shard_of(client_id)
        assert sorted(row["event"] for row in history["events"]) == [
            "Agenda.Opened", "Agenda.Scheduled", *(["Agenda.Scheduled"] if same_agenda else []),
            "Application.ConsentRecorded", "Application.IdentityVerified", "Application.Registered",
            "Application.RegistryChecked", "Application.Submitted", "Client.IdentityErased", "Client.IdentityRead",
            "Client.Registered", "PersonIndex.Claimed", "PersonIndex.Enrolled", "PersonIndex.Opened"]
        assert history["believed"]["intake"][str(application_id)]["state"]["identity"] == "<redacted>"

        # But the identity can no longer be opened: not by intake's read, not from the token, not
        # by a freshly started intake (the key is gone from the database, not only from memory)
        with pytest.raises(IdentityErased):
            intake.read_identity(client_id, purpose="legal_request")
        with pytest.raises(IdentityErased):
            intake.vault.open(key_id, token)
        restarted = create_application(settings)
        try:
            with pytest.raises(IdentityErased):
                restarted.identity_of(restarted.get_application(application_id))
            assert restarted.vault.is_erased(key_id)
        finally:
            restarted.close()
        with psycopg.connect(pg_store_url.split("?")[0]) as conn:
            schema = pg_store_url.split("schema=")[1]
            assert conn.execute(f"SELECT data_key FROM {schema}.identity_keys WHERE key_id = %s",
                                (key_id,)).fetchall() == [(None,)]

        # And the case goes on: a later change is stored, sealed and verifies with the rest
        intake.exit_client(client_id, reason="withdrew")
        publish_all(relay)
        assert verify(all_notifications(intake), seals_for(pg_store_url).all()) == (
            len(stored_events(pg_store_url)), None)

        # Nothing published about this case carries the sealed identity, the key or an identifier
        published = read_topic(kafka_bootstrap, "jingkang.intake.v1",
                               lambda ce: ce["subject"] in (str(application_id), str(client_id)), expect=6)
        assert sorted(ce["type"].split(".")[2] for _, ce in published) == [
            "ApplicationSubmitted", "ClientExited", "ClientRegistered", "ConsentRecorded", "IdentityVerified",
            "RegistryChecked"]
        for message, _ in published:
            assert token.encode() not in message.value and str(key_id).encode() not in message.value
            for secret in identifiers(someone) + [parent["name"].encode(), parent["id_number"].encode()]:
                assert secret not in message.value
    finally:
        relay.producer.close()
        intake.close()
