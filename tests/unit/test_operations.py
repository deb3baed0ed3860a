"""Operations: Prometheus metrics by route template (never raw paths holding ids),
events appended counted per service, health and readiness."""
from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from services.referral.api import create_app
from services.referral.application import create_application
from shared.settings import load_settings


def test_metrics_count_requests_by_route_and_events_by_service():
    settings = load_settings("referral", {"JINGKANG_REFERRAL_STORE": "memory://", "JINGKANG_KAFKA": "127.0.0.1:1"})
    referrals = create_application(settings)
    http = TestClient(create_app(settings, referrals))
    client_id = uuid.uuid4()
    referrals.open_medical_referral(client_id=client_id, cause_event_id="cause-1")

    assert http.get("/v1/referrals", params={"client_id": str(client_id)}).status_code == 200
    assert http.get(f"/v1/referrals/{uuid.uuid4()}").status_code == 404
    text = http.get("/metrics").text

    assert 'jingkang_http_requests_total{method="GET",route="/v1/referrals",service="referral",status="200"}' in text
    assert 'route="/v1/referrals/{referral_id}",service="referral",status="404"' in text
    assert str(client_id) not in text
    assert 'jingkang_events_appended_total{service="referral"}' in text


def test_ready_reports_an_unreachable_broker_as_503():
    settings = load_settings("referral", {"JINGKANG_REFERRAL_STORE": "memory://", "JINGKANG_KAFKA": "127.0.0.1:1"})
    http = TestClient(create_app(settings))
    assert http.get("/health").json() == {"status": "ok"}
    ready = http.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["event_store"] == "ok"
    assert ready.json()["checks"]["kafka"].startswith("unavailable")
