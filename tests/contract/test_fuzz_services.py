"""Schemathesis (a fuzzer nobody here wrote) against each service's own OpenAPI document
(issue 10): every operation of the five services (and supervision's read model), in process over an in-memory store, with
authorisation on and a valid token of a role the route allows, real ids in the path (a
client, station, contract… made first), a fixed number of examples per operation and a
fixed seed (derandomised), both valid and invalid input. Any 5xx, or an answer whose status,
content type or body the document does not describe, fails the test."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Any, Callable

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from services.assessment import api as assessment_api
from services.assessment.application import create_application as assessment_application
from services.funding import api as funding_api
from services.funding.application import create_application as funding_application
from services.intake import api as intake_api
from services.intake.application import create_application as intake_application
from services.notification import api as notification_api
from services.notification.application import create_application as notification_application
from services.referral import api as referral_api
from services.referral.application import create_application as referral_application
from services.supervision import api as supervision_api
from services.supervision.indicators import NAMES
from shared.auth import Authority
from shared.clock import FixedClock
from shared.settings import load_settings
from tests.support import applicant

EXAMPLES = 25  # per operation and generation mode
KEY = "test-key-fuzzing-0123456789abcdef-0123"
D, STREET = "110105", "110105001"
NOW = datetime(2026, 3, 31, 9, tzinfo=timezone.utc)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CONSENT = {"rehabilitation_services": True, "share_with_health": True, "share_with_disability_and_employment": True}


def settings_for(service: str):
    return load_settings(service, {f"JINGKANG_{service.upper()}_STORE": "memory://", "JINGKANG_JWT_KEY": KEY})


def intake_world() -> tuple[Any, dict[str, Any], dict]:
    settings = settings_for("intake")
    app = intake_application(settings, clock=FixedClock(NOW))
    someone = {**applicant(), "birth_date": date(1980, 1, 1)}
    someone["id_number"] = applicant(born=date(1980, 1, 1))["id_number"]
    waiting = app.submit_application(source="community", applicant=someone, district_code=D, street_code=STREET,
                                     hardship_categories=[])
    other = {**applicant(born=date(1975, 5, 5)), "birth_date": date(1975, 5, 5)}
    registered = app.submit_application(source="community", applicant=other, district_code=D, street_code=STREET,
                                        hardship_categories=[])
    app.record_consent(registered, signed_by="self", scope=CONSENT)
    client = app.register_client(registered)
    return intake_api.create_app(settings, app), {"application_id": waiting, "client_id": client}, intake_api.ACCESS


def assessment_world():
    settings = settings_for("assessment")
    app = assessment_application(settings, clock=FixedClock(NOW))
    client = uuid.uuid4()
    app.open_record(client_id=client, district_code=D, street_code=STREET, registered_on=NOW.date(), consent=CONSENT)
    return assessment_api.create_app(settings, app), {"client_id": client}, assessment_api.ACCESS


def referral_world():
    settings = settings_for("referral")
    app = referral_application(settings, clock=FixedClock(NOW))
    client = uuid.uuid4()
    app.register_client(client_id=client, district_code=D, street_code=STREET, registered_on=NOW.date(), consent=CONSENT)
    station = app.register_station(name="宁康驿站", operator="社工机构", tier="ningkang_post", district_code=D,
                                   streets=[STREET], capacity=5, services=["peer_support"])
    referral = app.request_referral(client_id=client, kind="medical", reason="relapse_detected")
    ids = {"client_id": client, "station_id": station, "referral_id": referral}
    return referral_api.create_app(settings, app), ids, referral_api.ACCESS


def funding_world():
    settings = settings_for("funding")
    app = funding_application(settings, clock=FixedClock(NOW))
    station = uuid.uuid4()
    app.learn_station(station_id=station, tier="provincial_demo", district_code=D)
    contract = app.sign_contract(station_id=station, district_code=D, period_start=date(2026, 1, 1),
                                 period_end=date(2026, 12, 31), budget="100000.00",
                                 funding_sources=[{"source": "district_finance", "amount": "80000.00"},
                                                  {"source": "welfare_lottery", "amount": "20000.00"}],
                                 unit_prices={"peer_support": "50.00"})
    app.accrue_session(session_id=uuid.uuid4(), station_id=station, service_type="peer_support",
                       session_date=date(2026, 1, 15), attendance="attended")
    settlement = app.prepare_settlement(contract, period="2026-01", performance_score="0.9", reasons=["visit"],
                                        prepared_by="officer-a")["settlement_id"]
    ids = {"contract_id": contract, "station_id": station, "settlement_id": settlement, "purchaser_code": D}
    return funding_api.create_app(settings, app), ids, funding_api.ACCESS


def notification_world():
    settings = settings_for("notification")
    app = notification_application(settings, clock=FixedClock(NOW))
    subscription = app.register_subscription(district_code=D, event_types=["jingkang.intake.ClientRegistered.v1"],
                                             url="https://district.example/hook", secret="s" * 20,
                                             purpose="district_supervision").id
    ids = {"subscription_id": subscription}
    return notification_api.create_app(settings, app), ids, notification_api.ACCESS


def supervision_world():
    settings = settings_for("supervision")
    return supervision_api.create_app(settings), {"name": sorted(NAMES)[0]}, supervision_api.ACCESS


WORLDS: dict[str, Callable[[], tuple[Any, dict[str, Any], dict]]] = {
    "intake": intake_world, "assessment": assessment_world, "referral": referral_world, "funding": funding_world,
    "notification": notification_world, "supervision": supervision_world}


def with_real_ids(document: dict, ids: dict[str, Any]) -> dict:
    """The document with each path parameter it has an id for held to that id: the fuzzer
    then reaches the route's logic instead of its 404 (the rest it generates freely)."""
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in ids:
                    parameter["schema"] = {"type": "string", "enum": [str(ids[parameter["name"]])]}
    return document


@pytest.mark.parametrize("service", sorted(WORLDS))
def test_the_fuzzer_finds_no_5xx_and_no_answer_the_document_does_not_describe(service):
    api, ids, access = WORLDS[service]()
    authority = Authority(KEY)
    document = with_real_ids(TestClient(api).get("/openapi.json").json(), ids)
    schema = schemathesis.openapi.from_dict(document)
    schema.app = api
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        key = f"{operation.method.upper()} {operation.path}"
        if key == "GET /ready":  # a probe: its 503 (no broker here) is its purpose
            continue
        roles = access.get(key)
        headers = {}
        if roles:  # an allowed role, every district: the route's own logic is what is fuzzed
            headers["Authorization"] = "Bearer " + authority.issue(sub="fuzzer-1", role=roles[0], districts=["*"])
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                fuzz()
            except Unsatisfiable:  # nothing to make invalid (an operation without input)
                pass
            except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 -- collect every failure, then report them all
                failures.append(f"{key} ({mode.value}): {type(e).__name__}: {str(e)[:3000]}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("service", sorted(WORLDS))
def test_every_error_answer_is_documented_with_the_one_error_body(service):
    api, _, access = WORLDS[service]()
    document = TestClient(api).get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]  # FastAPI's, never sent
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            key = f"{method.upper()} {path}"
            errors = {code: answer for code, answer in operation["responses"].items() if int(code) >= 400}
            assert all(answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
                       for answer in errors.values()), key
            if key in access:
                assert {"401", "403", "503"} <= set(errors), key
            if method == "post":
                assert {"400", "409", "413", "422"} <= set(errors), key
                [header] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
                assert header["required"] == (service == "funding" and key in funding_api.MONEY_MOVING), key
            if "{" in path:
                assert "404" in errors, key
