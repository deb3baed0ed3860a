"""The development realm (deploy/keycloak/realm.json) holds the demo staff of
deploy/demo/users.json, the six roles, and tokens that live at most five minutes."""
from __future__ import annotations

import json
from pathlib import Path

from shared.auth import ROLES

ROOT = Path(__file__).resolve().parents[2]
REALM = json.loads((ROOT / "deploy/keycloak/realm.json").read_text())
DEMO = json.loads((ROOT / "deploy/demo/users.json").read_text())


def test_the_realm_has_the_demo_staff_with_their_role_districts_and_staff_id():
    users = {u["username"]: u for u in REALM["users"]}
    for person in DEMO["users"]:
        user = users[person["username"]]
        assert user["realmRoles"] == [person["role"]]
        assert user["attributes"] == {"districts": person["districts"], "staff_id": [person["sub"]]}
        assert user["credentials"] == [{"type": "password", "value": person["username"], "temporary": False}]
    for integration in DEMO["integrations"]:
        account = users["service-account-" + integration["client_id"]]
        assert account["serviceAccountClientId"] == integration["client_id"]
        assert account["realmRoles"] == [integration["role"]]
        assert account["attributes"] == {"districts": integration["districts"], "staff_id": [integration["sub"]]}


def test_the_six_roles_short_tokens_and_the_clients():
    assert sorted(r["name"] for r in REALM["roles"]["realm"]) == sorted(ROLES)
    assert REALM["accessTokenLifespan"] <= 300
    clients = {c["clientId"]: c for c in REALM["clients"]}
    console = clients["jingkang-console"]
    assert not console["publicClient"] and console["standardFlowEnabled"] and not console["directAccessGrantsEnabled"]
    assert console["attributes"]["pkce.code.challenge.method"] == "S256"
    integration = clients[DEMO["integrations"][0]["client_id"]]
    assert integration["serviceAccountsEnabled"] and not integration["standardFlowEnabled"]
    for client in clients.values():
        claims = {m["config"].get("claim.name") or m["config"].get("included.custom.audience")
                  for m in client["protocolMappers"]}
        assert {"jingkang", "districts", "staff_id"} <= claims, client["clientId"]
