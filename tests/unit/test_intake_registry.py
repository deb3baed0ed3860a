"""The registry cross-check (DESIGN.md §4 intake): an adapter answers listed / not_listed /
unavailable (or not_configured); intake records the answer (RegistryChecked, public with
status only) and shows it, and decides nothing by itself. The HTTP adapter's shape is
tested against httpx.MockTransport here; tests/integration/test_intake_registry_http.py
runs it against a real local server."""
from __future__ import annotations

import json
from datetime import date

import httpx
import pytest
from fastapi.testclient import TestClient

from services.intake.api import create_app
from services.intake.application import create_application
from services.intake.contracts import to_public
from services.intake.domain import lookup_hash
from services.intake.registry import CsvRegistry, HttpRegistry, NoRegistry, RegistryResult, registry_from
from services.intake.settings import load_settings as load_intake_settings
from shared.clock import FixedClock
from shared.contract.intake import RegistryChecked
from shared.settings import SettingsError, load_settings
from tests.support import applicant, application_body

KEY = b"registry test lookup key"


def test_a_csv_registry_finds_plain_and_hashed_ids_and_nobody_else(tmp_path):
    listed_plain, listed_hashed, other = (applicant()["id_number"] for _ in range(3))
    path = tmp_path / "registry.csv"
    path.write_text(f"# development registry\n{listed_plain.lower()},2019-04-01\n{lookup_hash(KEY, listed_hashed)}\n")
    registry = CsvRegistry(str(path), KEY)
    assert registry.lookup(listed_plain) == RegistryResult("listed", "csv", date(2019, 4, 1))
    assert registry.lookup(listed_hashed) == RegistryResult("listed", "csv")
    assert registry.lookup(other) == RegistryResult("not_listed", "csv")
    # A hash under another key does not match
    assert CsvRegistry(str(path), b"another key, long enough").lookup(listed_hashed).status == "not_listed"


def test_a_missing_csv_file_is_unavailable_without_naming_anyone(tmp_path):
    number = applicant()["id_number"]
    result = CsvRegistry(str(tmp_path / "absent.csv"), KEY).lookup(number)
    assert result.status == "unavailable" and number not in repr(result)


def registry_answering(status_code: int, body, seen: list | None = None) -> HttpRegistry:
    def answer(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(json.loads(request.content))
        if isinstance(body, Exception):
            raise body
        return httpx.Response(status_code, json=body)
    return HttpRegistry("https://registry.example/lookup", transport=httpx.MockTransport(answer))


def test_the_http_registry_posts_the_number_and_reads_the_status():
    number, seen = applicant()["id_number"], []
    result = registry_answering(200, {"status": "listed", "listed_since": "2020-02-02", "name": "ignored"}, seen).lookup(number)
    assert seen == [{"id_number": number}]
    assert result == RegistryResult("listed", "http", date(2020, 2, 2))
    assert registry_answering(200, {"status": "not_listed"}).lookup(number) == RegistryResult("not_listed", "http")


@pytest.mark.parametrize("status_code, body", [
    (503, {"error": "down"}), (200, {"status": "maybe"}), (200, ["listed"]), (200, {"status": "listed", "listed_since": "soon"}),
    (200, httpx.ConnectError("refused")), (200, httpx.ReadTimeout("slow")),
], ids=["503", "unknown status", "not an object", "bad date", "unreachable", "timeout"])
def test_any_failure_of_the_http_registry_is_unavailable(status_code, body):
    number = applicant()["id_number"]
    result = registry_answering(status_code, body).lookup(number)
    assert result.status == "unavailable" and result.note and number not in repr(result)


def test_the_registry_setting_picks_the_adapter():
    assert isinstance(registry_from(None, KEY), NoRegistry)
    assert isinstance(registry_from("csv:///tmp/registry.csv", KEY), CsvRegistry)
    assert isinstance(registry_from("https://registry.example/lookup", KEY), HttpRegistry)
    with pytest.raises(SettingsError):
        load_intake_settings({"JINGKANG_INTAKE_REGISTRY": "ftp://registry.example"})


def test_submission_records_the_registry_answer_and_shows_it_without_acting_on_it(tmp_path):
    # Given a registry that lists the applicant
    person = applicant()
    (tmp_path / "registry.csv").write_text(person["id_number"] + ",2018-08-08\n")
    settings = load_settings("intake", {"JINGKANG_INTAKE_STORE": "memory://",
                                        "JINGKANG_INTAKE_REGISTRY": f"csv://{tmp_path}/registry.csv"})
    intake = create_application(settings, clock=FixedClock())
    api = TestClient(create_app(settings, intake))
    # When the application is submitted
    application_id = api.post("/v1/applications", json=application_body(applicant=person)).json()["application_id"]
    # Then the answer is shown with the application, which stays open for the worker to decide
    shown = api.get(f"/v1/applications/{application_id}").json()
    assert shown["status"] == "submitted"
    assert shown["registry_check"] == {"status": "listed", "registry": "csv", "listed_since": "2018-08-08",
                                       "note": None, "checked_on": FixedClock().today().isoformat()}
    # And it is published with its status only
    (checked,) = [p for n in intake.recorder.select_notifications(start=1, limit=50)
                  for p in to_public(intake.mapper.to_domain_event(n)) if isinstance(p, RegistryChecked)]
    assert (str(checked.application_id), checked.status) == (application_id, "listed")
    # And the worker may act on it by rejecting the identity
    assert api.post(f"/v1/applications/{application_id}/identity-rejection",
                    json={"reason": "registry_conflict"}).json()["status"] == "rejected"


def test_without_a_registry_the_check_is_not_configured():
    settings = load_settings("intake", {"JINGKANG_INTAKE_STORE": "memory://"})
    intake = create_application(settings, clock=FixedClock())
    api = TestClient(create_app(settings, intake))
    application_id = api.post("/v1/applications", json=application_body()).json()["application_id"]
    assert api.get(f"/v1/applications/{application_id}").json()["registry_check"]["status"] == "not_configured"


def test_a_refused_submission_never_reaches_the_registry():
    asked: list = []
    intake = create_application(load_settings("intake", {"JINGKANG_INTAKE_STORE": "memory://"}), clock=FixedClock(),
                                registry_adapter=registry_answering(200, {"status": "not_listed"}, asked))
    api = TestClient(create_app(load_settings("intake", {"JINGKANG_INTAKE_STORE": "memory://"}), intake))
    body = application_body()
    assert api.post("/v1/applications", json=body).status_code == 201
    assert api.post("/v1/applications", json=body).status_code == 409  # a duplicate
    assert api.post("/v1/applications", json=application_body(source="guardian")).status_code == 422
    assert len(asked) == 1
