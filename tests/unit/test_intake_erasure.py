"""Crypto-erasure wired into intake: identifiers are stored only as a token sealed under the
person's data key (the vault's key id is the person's PersonIndex id); erasing a client's
identity records IdentityErased (reason and key id, no identifier, never published) and
destroys the key, so the identity of every application of that person can no longer be
read (410 at the API), while no stored event changes, the case replays and duplicate
detection still finds the person.

`ErasureScenario` builds intake from `self.store_url`: here in memory and on an SQLite file
(where a restarted intake finds the keys again); tests/integration/
test_identity_vault_postgres.py runs it unchanged on PostgreSQL."""
from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from services.intake.api import create_app
from services.intake.application import Intake, create_application
from services.intake.contracts import to_public
from services.intake.domain import Client, PersonIndex, lookup_hash
from services.intake.vault import IdentityErased, IdentityUnreadable
from shared.audit import client_history
from shared.auth import Authority
from shared.clock import FixedClock
from shared.errors import Conflict, InvalidInput
from shared.settings import load_settings
from shared.store import event_meta
from tests.support import applicant, application_body, guardian
from tests.unit.test_identity_vault import MASTER

CONSENT = {"rehabilitation_services": True, "share_with_health": False, "share_with_disability_and_employment": False}


def held(someone: dict[str, Any]) -> dict[str, Any]:
    """An applicant as the API hands it to intake (birth_date a date)."""
    return {**someone, "birth_date": date.fromisoformat(someone["birth_date"])}


def identifiers(*people: dict[str, Any]) -> list[str]:
    return [str(p[k]) for p in people for k in ("name", "id_number", "phone", "address") if k in p]


class ErasureScenario:
    store_url = "memory://"

    @pytest.fixture(autouse=True)
    def _close(self):
        self._opened: list[Intake] = []
        yield
        for intake in self._opened:
            intake.close()

    def intake(self, **extra: str) -> Intake:
        settings = load_settings("intake", {"JINGKANG_INTAKE_STORE": self.store_url,
                                            "JINGKANG_INTAKE_CIPHER_KEY": MASTER, **extra})
        intake = create_application(settings, clock=FixedClock())
        self._opened.append(intake)
        return intake

    @staticmethod
    def submit(intake: Intake, someone: dict[str, Any], **overrides: Any) -> UUID:
        args = dict(source="community", applicant=held(someone), district_code="110105", street_code="110105002",
                    hardship_categories=[])
        args.update(overrides)
        return intake.submit_application(**args)

    def registered(self, intake: Intake, someone: dict[str, Any], **overrides: Any) -> tuple[UUID, UUID]:
        application_id = self.submit(intake, someone, **overrides)
        intake.record_consent(application_id, signed_by="guardian" if overrides.get("guardian") else "self",
                              scope=CONSENT)
        return application_id, intake.register_client(application_id)

    @staticmethod
    def stored(intake: Intake) -> list[tuple]:
        """Every stored record as it is (state bytes included, ciphertext and all)."""
        return [(n.id, n.originator_id, n.originator_version, n.topic, bytes(n.state))
                for n in intake.recorder.select_notifications(start=1, limit=1000)]

    @staticmethod
    def events(intake: Intake) -> list[Any]:
        return [intake.mapper.to_domain_event(n) for n in intake.recorder.select_notifications(start=1, limit=1000)]

    # --- sealing ---------------------------------------------------------------------------

    def test_identifiers_are_stored_only_sealed_under_the_persons_key_and_read_back(self):
        intake = self.intake()
        someone, parent = applicant(born=date(2012, 4, 4)), guardian()
        application_id, client_id = self.registered(intake, someone, source="guardian", guardian=parent)

        application = intake.get_application(application_id)
        # The key is the person's: derived from their index entry, not from this application
        assert application.identity_key_id == PersonIndex.id_for(application.lookup_hash)
        assert application.sealed and application.identity.startswith("v1.")
        # Not one stored event carries an identifier of the applicant or the guardian, in any field
        for event in self.events(intake):
            assert not any(s in str(vars(event)) for s in identifiers(someone, parent)), type(event).__qualname__
        # The audited read opens the token
        identity = intake.read_identity(client_id, purpose="guardian_contact")
        assert identity["applicant"]["id_number"] == someone["id_number"]
        assert identity["applicant"]["birth_date"] == someone["birth_date"]
        assert identity["guardian"] == parent

    # --- erasure ---------------------------------------------------------------------------

    def test_erasing_a_clients_identity_keeps_every_event_and_the_case_but_not_the_identity(self):
        intake = self.intake()
        someone = applicant()
        application_id, client_id = self.registered(intake, someone)
        before = self.stored(intake)

        erased = intake.erase_identity(client_id, reason="data_subject_request")

        # Then one new event, IdentityErased, with the reason and the key id and nothing personal
        after = self.stored(intake)
        assert after[:len(before)] == before  # not one stored event changed
        (new,) = [intake.mapper.to_domain_event(n) for n in intake.recorder.select_notifications(
            start=len(before), limit=10, inclusive_of_start=False)]
        assert isinstance(new, Client.IdentityErased)
        application = intake.get_application(application_id)
        assert (new.reason, new.key_id, new.erased_on) == ("data_subject_request", application.identity_key_id,
                                                           FixedClock().today())
        assert erased.identity_erased["reason"] == "data_subject_request"
        assert not any(s in str(vars(new)) for s in identifiers(someone))
        assert list(to_public(new)) == []  # internal only
        # The identity cannot be read any more, and the refused read records nothing
        with pytest.raises(IdentityErased):
            intake.read_identity(client_id, purpose="legal_request")
        with pytest.raises(IdentityErased):
            intake.identity_of(application)
        assert self.stored(intake) == after
        # While the case replays as it was, at every version
        assert (application.status, application.client_id) == ("registered", client_id)
        assert intake.repository.get(application_id, version=1).identity == application.identity
        client = intake.get_client(client_id)
        assert (client.district_code, client.consent) == ("110105", CONSENT)
        history = client_history({"intake": intake}, client_id)
        assert "Client.IdentityErased" in [row["event"] for row in history["events"]]
        # And the case goes on without it
        intake.exit_client(client_id, reason="withdrew")
        assert intake.get_client(client_id).exit["reason"] == "withdrew"

    def test_one_erasure_covers_every_application_of_the_person(self):
        intake = self.intake()
        someone = applicant()
        first = self.submit(intake, someone)
        intake.withdraw_application(first)
        second, client_id = self.registered(intake, someone)
        assert intake.get_application(first).identity_key_id == intake.get_application(second).identity_key_id

        intake.erase_identity(client_id, reason="retention_expired")

        for application_id in (first, second):
            with pytest.raises(IdentityErased):
                intake.identity_of(intake.get_application(application_id))

    def test_duplicate_detection_still_finds_an_erased_person(self):
        intake = self.intake()
        someone = applicant()
        _, client_id = self.registered(intake, someone)
        intake.erase_identity(client_id, reason="data_subject_request")
        before = self.stored(intake)

        # While they are a client, a second application is the duplicate it always was
        with pytest.raises(Conflict, match=f"client_id={client_id}"):
            self.submit(intake, someone)
        # After the exit the person is found again by the lookup hash; their key being erased,
        # nothing can be sealed under it again (it would re-identify the erased case)
        intake.exit_client(client_id, reason="moved_away")
        exited = self.stored(intake)
        with pytest.raises(Conflict, match="erased"):
            self.submit(intake, someone)
        assert self.stored(intake) == exited and exited[:len(before)] == before
        # Someone else is not affected
        assert self.submit(intake, applicant())

    def test_a_refused_erasure_changes_nothing(self):
        intake = self.intake()
        someone = applicant()
        _, client_id = self.registered(intake, someone)
        before = self.stored(intake)

        with pytest.raises(InvalidInput) as refused:
            intake.erase_identity(client_id, reason="because")
        assert refused.value.field == "reason"
        assert self.stored(intake) == before
        assert intake.read_identity(client_id, purpose="service_delivery")["applicant"]["name"] == someone["name"]

        intake.erase_identity(client_id, reason="legal_order")
        erased = self.stored(intake)
        with pytest.raises(Conflict, match="already erased"):
            intake.erase_identity(client_id, reason="legal_order")
        assert self.stored(intake) == erased

    def test_an_invalid_application_creates_no_key(self):
        intake = self.intake()
        someone = applicant()
        bad = {**someone, "id_number": someone["id_number"][:17] + ("0" if someone["id_number"][17] != "0" else "1")}
        with pytest.raises(InvalidInput):
            self.submit(intake, bad)
        assert self.stored(intake) == []
        key_id = PersonIndex.id_for(lookup_hash(intake.lookup_key, bad["id_number"]))
        assert intake.vault.keys.get(key_id) is None


class TestErasureInMemory(ErasureScenario):
    pass


class TestErasureOnSqlite(ErasureScenario):
    @pytest.fixture(autouse=True)
    def _on_sqlite(self, tmp_path):
        self.store_url = f"sqlite:///{tmp_path}/intake.sqlite"

    def test_a_restarted_intake_opens_what_it_sealed_and_not_what_was_erased(self):
        someone, other = applicant(), applicant()
        intake = self.intake()
        _, kept = self.registered(intake, someone)
        _, gone = self.registered(intake, other)
        intake.erase_identity(gone, reason="data_subject_request")
        intake.close()
        self._opened.remove(intake)

        restarted = self.intake()
        assert restarted.read_identity(kept, purpose="service_delivery")["applicant"]["name"] == someone["name"]
        with pytest.raises(IdentityErased):
            restarted.read_identity(gone, purpose="service_delivery")
        with pytest.raises(IdentityErased):  # the key itself is gone, not only the client's record of it
            restarted.identity_of(restarted.get_application(restarted.get_client(gone).application_id))


# --- the HTTP route --------------------------------------------------------------------------

KEY = "test-key-intake-erasure-0123456789abcdef"


def bearer(role: str, sub: str = "staff-1", district: str = "110105") -> dict[str, str]:
    return {"Authorization": "Bearer " + Authority(KEY).issue(sub=sub, role=role, districts=[district])}


@pytest.fixture
def http() -> tuple[TestClient, Intake]:
    settings = load_settings("intake", {"JINGKANG_INTAKE_STORE": "memory://", "JINGKANG_JWT_KEY": KEY})
    intake = create_application(settings, clock=FixedClock())
    yield TestClient(create_app(settings, intake)), intake
    intake.close()


def registered_by_http(api: TestClient) -> tuple[str, dict[str, Any]]:
    body = application_body()
    worker = bearer("station_worker")
    application_id = api.post("/v1/applications", json=body, headers=worker).json()["application_id"]
    api.post(f"/v1/applications/{application_id}/consent", json={"signed_by": "self"}, headers=worker)
    return api.post(f"/v1/applications/{application_id}/register", headers=worker).json()["client_id"], body["applicant"]


def test_a_district_admin_erases_an_identity_and_later_reads_are_gone(http):
    api, intake = http
    client_id, someone = registered_by_http(api)
    read = {"purpose": "service_delivery"}
    assert api.get(f"/v1/clients/{client_id}/identity", params=read, headers=bearer("station_worker")).status_code == 200

    r = api.post(f"/v1/clients/{client_id}/identity/erasure", json={"reason": "data_subject_request"},
                 headers=bearer("district_admin", sub="admin-9"))

    assert r.status_code == 200, r.text
    assert r.json() == {"client_id": client_id, "reason": "data_subject_request",
                        "erased_on": FixedClock().today().isoformat()}
    (erasure,) = [e for e in map(intake.mapper.to_domain_event, intake.recorder.select_notifications(start=1, limit=100))
                  if isinstance(e, Client.IdentityErased)]
    assert (event_meta(erasure)["actor"], event_meta(erasure)["role"]) == ("admin-9", "district_admin")
    gone = api.get(f"/v1/clients/{client_id}/identity", params=read, headers=bearer("station_worker"))
    assert gone.status_code == 410 and gone.json()["error"] == "gone"
    assert "erased" in gone.json()["detail"] and someone["name"] not in gone.text
    # The case summary is still there
    assert api.get(f"/v1/clients/{client_id}", headers=bearer("auditor")).json()["client_id"] == client_id
    # A second erasure is a conflict
    again = api.post(f"/v1/clients/{client_id}/identity/erasure", json={"reason": "data_subject_request"},
                     headers=bearer("district_admin"))
    assert again.status_code == 409


@pytest.mark.parametrize("body,field", [({}, "reason"), ({"reason": "curiosity"}, "reason"),
                                        ({"reason": "legal_order", "note": "张三"}, "note")])
def test_an_erasure_without_a_known_reason_is_422_and_changes_nothing(http, body, field):
    api, intake = http
    client_id, _ = registered_by_http(api)
    before = intake.recorder.max_notification_id()
    r = api.post(f"/v1/clients/{client_id}/identity/erasure", json=body, headers=bearer("district_admin"))
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == [field]
    assert intake.recorder.max_notification_id() == before
    assert api.get(f"/v1/clients/{client_id}/identity", params={"purpose": "legal_request"},
                   headers=bearer("integration")).status_code == 200


def test_only_a_district_admin_of_the_clients_district_may_erase(http):
    api, intake = http
    client_id, _ = registered_by_http(api)
    before = intake.recorder.max_notification_id()
    url, body = f"/v1/clients/{client_id}/identity/erasure", {"reason": "data_subject_request"}
    for role in ("station_worker", "auditor", "integration", "hospital", "funding_officer"):
        assert api.post(url, json=body, headers=bearer(role)).status_code == 403, role
    assert api.post(url, json=body, headers=bearer("district_admin", district="110108")).status_code == 403
    assert api.post(f"/v1/clients/{uuid4()}/identity/erasure", json=body,
                    headers=bearer("district_admin")).status_code == 404
    assert intake.recorder.max_notification_id() == before


def test_an_identity_that_cannot_be_opened_is_a_clean_500_and_records_no_read(http, monkeypatch):
    api, intake = http
    client_id, someone = registered_by_http(api)
    before = intake.recorder.max_notification_id()

    def altered(key_id, token):
        raise IdentityUnreadable("the identity token was altered or sealed for someone else")

    monkeypatch.setattr(intake.vault, "open", altered)
    r = api.get(f"/v1/clients/{client_id}/identity", params={"purpose": "service_delivery"},
                headers=bearer("station_worker"))
    assert r.status_code == 500 and r.json()["error"] == "identity_unreadable"
    assert someone["name"] not in r.text and "v1." not in r.text
    assert intake.recorder.max_notification_id() == before
