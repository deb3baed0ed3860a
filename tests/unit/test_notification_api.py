"""notification's HTTP API over an in-memory store (FastAPI TestClient, no I/O)."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from services.notification.api import create_app
from services.notification.application import create_application
from shared.clock import FixedClock
from shared.settings import load_settings


@pytest.fixture
def setup():
    settings = load_settings("notification", {"JINGKANG_NOTIFICATION_STORE": "memory://"})
    clock = FixedClock()
    notifications = create_application(settings, clock=clock)
    return TestClient(create_app(settings, notifications)), notifications, clock


def test_lists_a_clients_notifications(setup):
    http, notifications, clock = setup
    client = uuid.uuid4()
    nid = notifications.notify_transfer_requested(client_id=client, referral_id=uuid.uuid4(), kind="community",
                                                  reason="discharged", due_by=clock.now() + timedelta(days=5),
                                                  cause_event_id="ce-1")

    r = http.get("/v1/notifications", params={"client_id": str(client)})

    assert r.status_code == 200
    assert r.json() == {"notifications": [{
        "notification_id": str(nid), "kind": "transfer_requested", "channel": "log", "recipient": "community_platform",
        "status": "sent", "scheduled_at": "2026-01-05T09:00:00Z", "sent_at": "2026-01-05T09:00:00Z",
        "client_id": str(client), "contract_id": None, "send_on": None, "due_on": None,
    }]}
    assert http.get(f"/v1/notifications/{nid}").json()["notification_id"] == str(nid)
    assert http.get("/v1/notifications", params={"client_id": str(uuid.uuid4())}).json() == {"notifications": []}


@pytest.mark.parametrize("params", [{}, {"client_id": "not-a-uuid"}])
def test_listing_needs_a_valid_client_id(setup, params):
    http, _, _ = setup
    r = http.get("/v1/notifications", params=params)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "client_id"


def test_an_unknown_notification_is_404(setup):
    http, _, _ = setup
    r = http.get(f"/v1/notifications/{uuid.uuid4()}")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
