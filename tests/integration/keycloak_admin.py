"""Keycloak's admin REST API for the tests' realm: rotate keys, disable users, move roles,
shorten token lifetimes, as the bootstrap admin of the development server."""
from __future__ import annotations

import uuid

import httpx


class Admin:
    """Keycloak's admin REST API for the realm, as the bootstrap admin of the development server."""

    def __init__(self, issuer: str):
        base, _, self.realm = issuer.rpartition("/realms/")
        r = httpx.post(f"{base}/realms/master/protocol/openid-connect/token", timeout=60, data={
            "grant_type": "password", "client_id": "admin-cli", "username": "admin", "password": "admin"})
        r.raise_for_status()
        self.http = httpx.Client(base_url=f"{base}/admin/realms/{self.realm}", timeout=60,
                                 headers={"authorization": "Bearer " + r.json()["access_token"]})

    def call(self, method: str, path: str, **kwargs) -> httpx.Response:
        r = self.http.request(method, path, **kwargs)
        r.raise_for_status()
        return r

    def signing_keys(self) -> dict[str, str]:
        """kid -> the id of the key provider (component) holding it, for the RS256 signing keys."""
        return {k["kid"]: k["providerId"] for k in self.call("GET", "/keys").json()["keys"]
                if k["algorithm"] == "RS256" and k.get("use") == "SIG"}

    def add_signing_key(self, priority: int) -> None:
        realm_id = self.call("GET", "").json()["id"]
        self.call("POST", "/components", json={
            "name": f"rsa-rotated-{uuid.uuid4().hex[:6]}", "providerId": "rsa-generated",
            "providerType": "org.keycloak.keys.KeyProvider", "parentId": realm_id,
            "config": {"priority": [str(priority)], "keySize": ["2048"], "active": ["true"], "enabled": ["true"],
                       "algorithm": ["RS256"]}})

    def user(self, username: str) -> dict:
        [user] = self.call("GET", "/users", params={"username": username, "exact": "true"}).json()
        return user

    def set_enabled(self, username: str, enabled: bool) -> None:
        user = self.user(username)
        self.call("PUT", f"/users/{user['id']}", json={**user, "enabled": enabled})

    def move_role(self, username: str, old: str, new: str) -> None:
        user = self.user(username)
        path = f"/users/{user['id']}/role-mappings/realm"
        self.call("DELETE", path, json=[self.call("GET", f"/roles/{old}").json()])
        self.call("POST", path, json=[self.call("GET", f"/roles/{new}").json()])

    def token_lifespan(self, client_id: str, seconds: int | None) -> None:
        [client] = self.call("GET", "/clients", params={"clientId": client_id}).json()
        attributes = dict(client.get("attributes") or {})
        if seconds is None:
            attributes.pop("access.token.lifespan", None)
        else:
            attributes["access.token.lifespan"] = str(seconds)
        self.call("PUT", f"/clients/{client['id']}", json={**client, "attributes": attributes})
