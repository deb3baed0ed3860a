"""Tokens signed by the identity provider (shared/oidc.py, shared/auth.py), with keys made
here and the provider's two documents (discovery, JWKS) served by an in-process function:
no network. What is accepted, what is refused and why, key rotation without a restart,
the limit on fetches for unknown key ids, and the provider being down."""
from __future__ import annotations

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from shared.auth import Authority, Principal, authority_for, guard
from shared.oidc import Provider, ProviderUnreachable
from shared.settings import OidcSettings, SettingsError, load_settings

ISSUER = "https://id.example.gov.cn/realms/jingkang"
DEV_KEY = "a-development-key-of-32-bytes-or-more-0000"


class SigningKey:
    def __init__(self, alg: str = "RS256"):
        self.alg, self.kid = alg, uuid.uuid4().hex
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256" \
            else ec.generate_private_key(ec.SECP256R1())

    def jwk(self) -> dict:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        return {**algorithm.to_jwk(self.private.public_key(), as_dict=True), "kid": self.kid, "use": "sig", "alg": self.alg}

    def sign(self, claims: dict, **header) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **header})


class IdentityProvider:
    """The provider's side: its keys and the two documents it publishes; `down` makes every fetch fail."""

    def __init__(self, *keys: SigningKey):
        self.keys = list(keys)
        self.fetches: list[str] = []
        self.down = False

    def fetch(self, url: str) -> dict:
        self.fetches.append(url)
        if self.down:
            raise ProviderUnreachable(f"{url}: connection refused")
        if url == ISSUER + "/.well-known/openid-configuration":
            return {"issuer": ISSUER, "jwks_uri": ISSUER + "/protocol/openid-connect/certs"}
        if url == ISSUER + "/protocol/openid-connect/certs":
            return {"keys": [k.jwk() for k in self.keys]}
        raise ProviderUnreachable(f"{url}: 404")

    def key_fetches(self) -> int:
        return sum(url.endswith("/certs") for url in self.fetches)


def claims(**overrides) -> dict:
    now = int(time.time())
    return {"iss": ISSUER, "aud": ["jingkang", "account"], "sub": "staff-w-0001", "iat": now, "exp": now + 300,
            "realm_access": {"roles": ["default-roles-jingkang", "station_worker", "offline_access"]},
            "districts": ["110105"], "typ": "Bearer", **overrides}


def authority(idp: IdentityProvider, *, dev_key: str | None = None, production: bool = False, **settings) -> Authority:
    provider = Provider(OidcSettings(issuer=ISSUER, **settings), fetch=idp.fetch)
    return Authority(dev_key, provider=provider, production=production)


def refusal(auth: Authority, token: str) -> str:
    with pytest.raises(Exception) as raised:
        auth.principal("Bearer " + token)
    assert raised.value.status_code == 401, raised.value.detail
    return raised.value.detail


@pytest.fixture(scope="module")
def rsa_key():
    return SigningKey("RS256")


@pytest.fixture(scope="module")
def ec_key():
    return SigningKey("ES256")


def test_a_token_of_the_issuer_names_the_actor_the_role_and_the_districts(rsa_key, ec_key):
    auth = authority(IdentityProvider(rsa_key, ec_key))
    assert auth.enabled
    assert auth.principal("Bearer " + rsa_key.sign(claims())) == Principal("staff-w-0001", "station_worker", ("110105",))
    assert auth.principal("Bearer " + ec_key.sign(claims(sub="integration-0001", districts=["110105", "110108"],
                                                         realm_access={"roles": ["integration"]}))) \
        == Principal("integration-0001", "integration", ("110105", "110108"))


def test_claim_names_come_from_the_settings(rsa_key):
    auth = authority(IdentityProvider(rsa_key), actor_claim="staff_id", role_claim="jingkang.role",
                     districts_claim="areas")
    token = rsa_key.sign(claims(sub=str(uuid.uuid4()), staff_id="staff-u-0001", jingkang={"role": "auditor"},
                                areas=["110000"]))
    assert auth.principal("Bearer " + token) == Principal("staff-u-0001", "auditor", ("110000",))
    assert "claim staff_id must name who acts" in refusal(auth, rsa_key.sign(claims(jingkang={"role": "auditor"})))


def test_a_little_clock_skew_is_forgiven_but_no_more(rsa_key):
    now = int(time.time())
    auth = authority(IdentityProvider(rsa_key), leeway_seconds=30)
    assert auth.principal("Bearer " + rsa_key.sign(claims(exp=now - 10))).role == "station_worker"
    assert auth.principal("Bearer " + rsa_key.sign(claims(nbf=now + 10))).role == "station_worker"
    assert "expired" in refusal(auth, rsa_key.sign(claims(exp=now - 60)))
    assert "not valid yet" in refusal(auth, rsa_key.sign(claims(nbf=now + 60)))


def test_tokens_that_are_not_good_are_refused_with_the_reason(rsa_key):
    auth = authority(IdentityProvider(rsa_key))
    stranger = SigningKey("RS256")
    stranger.kid = rsa_key.kid  # the issuer's key id, someone else's key
    unsigned = jwt.encode(claims(), None, algorithm="none", headers={"kid": rsa_key.kid})
    cases = {
        "issued by another issuer": rsa_key.sign(claims(iss="https://elsewhere.example/realms/x")),
        "for another audience": rsa_key.sign(claims(aud="another-app")),
        "which https://id.example.gov.cn/realms/jingkang does not have": SigningKey("RS256").sign(claims()),
        "Signature verification failed": stranger.sign(claims()),
        "algorithm 'none' is not accepted": unsigned,
        "algorithm 'HS256' is not accepted": jwt.encode(claims(), DEV_KEY, algorithm="HS256"),
        "names no signing key": jwt.encode(claims(), rsa_key.private, algorithm="RS256"),
        "not a JWT": "not-a-token",
        "must hold exactly one of the roles": rsa_key.sign(claims(realm_access={"roles": ["offline_access"]})),
        "it holds station_worker, hospital": rsa_key.sign(claims(realm_access={"roles": ["station_worker", "hospital"]})),
        "claim districts must be a list": rsa_key.sign(claims(districts="110105")),
        'Token is missing the "sub" claim': rsa_key.sign({k: v for k, v in claims().items() if k != "sub"}),
    }
    for reason, token in cases.items():
        assert reason in refusal(auth, token), reason


def test_development_tokens_are_accepted_beside_the_provider_outside_production_only(rsa_key):
    dev = Authority(DEV_KEY).issue(sub="w-1", role="station_worker", districts=["110105"])
    assert authority(IdentityProvider(rsa_key), dev_key=DEV_KEY).principal("Bearer " + dev).actor == "w-1"
    production = authority(IdentityProvider(rsa_key), dev_key=DEV_KEY, production=True)
    assert "algorithm 'HS256' is not accepted" in refusal(production, dev)
    assert production.principal("Bearer " + rsa_key.sign(claims())).role == "station_worker"


def test_a_new_signing_key_is_fetched_when_a_token_names_it_no_restart(rsa_key):
    idp = IdentityProvider(rsa_key)
    auth = authority(idp, refresh_seconds=0)
    old_token = rsa_key.sign(claims())
    assert auth.principal("Bearer " + old_token).role == "station_worker"
    assert idp.key_fetches() == 1
    rotated = SigningKey("RS256")
    idp.keys = [rotated]  # the realm rotated its key and removed the old one
    assert auth.principal("Bearer " + rotated.sign(claims())).role == "station_worker"
    assert idp.key_fetches() == 2
    assert "does not have" in refusal(auth, SigningKey("RS256").sign(claims()))
    assert auth.principal("Bearer " + rotated.sign(claims())).role == "station_worker"


def test_made_up_key_ids_cannot_make_the_service_hammer_the_provider(rsa_key):
    idp = IdentityProvider(rsa_key)
    auth = authority(idp, refresh_seconds=3600)
    assert auth.principal("Bearer " + rsa_key.sign(claims())).role == "station_worker"
    for _ in range(20):
        assert "does not have" in refusal(auth, SigningKey("ES256").sign(claims()))
    assert idp.key_fetches() == 1  # no fetch until refresh_seconds have passed


def test_while_the_provider_is_down_the_keys_fetched_before_keep_working(rsa_key):
    idp = IdentityProvider(rsa_key)
    auth = authority(idp, keys_cache_seconds=1e-6, refresh_seconds=0)  # every check wants fresh keys
    assert auth.principal("Bearer " + rsa_key.sign(claims())).role == "station_worker"
    idp.down = True
    fetches = len(idp.fetches)
    assert auth.principal("Bearer " + rsa_key.sign(claims())).role == "station_worker"
    assert len(idp.fetches) > fetches  # it did try
    assert "does not have" in refusal(auth, SigningKey("RS256").sign(claims()))


def test_with_no_keys_yet_and_the_provider_down_the_answer_is_503_and_it_waits_before_trying_again(rsa_key):
    idp = IdentityProvider(rsa_key)
    idp.down = True
    auth = authority(idp, refresh_seconds=3600)
    for _ in range(3):
        with pytest.raises(Exception) as raised:
            auth.principal("Bearer " + rsa_key.sign(claims()))
        assert raised.value.status_code == 503 and "cannot be reached" in raised.value.detail
    assert len(idp.fetches) == 1


def test_a_discovery_document_naming_another_issuer_is_not_trusted(rsa_key):
    idp = IdentityProvider(rsa_key)
    auth = Authority(provider=Provider(OidcSettings(issuer=ISSUER + "/"), fetch=idp.fetch))
    with pytest.raises(Exception) as raised:
        auth.principal("Bearer " + rsa_key.sign(claims(iss=ISSUER + "/")))
    assert raised.value.status_code == 503


def test_the_guard_lets_a_provider_token_through_and_refuses_others_with_the_reason(rsa_key):
    auth = authority(IdentityProvider(rsa_key))
    app = FastAPI()

    @app.get("/v1/things")
    def things(principal: Principal = Depends(guard(auth, {"GET /v1/things": ("station_worker",)}))) -> dict:
        return {"actor": principal.actor, "districts": list(principal.districts)}

    http = TestClient(app)
    ok = http.get("/v1/things", headers={"authorization": "Bearer " + rsa_key.sign(claims())})
    assert ok.status_code == 200 and ok.json() == {"actor": "staff-w-0001", "districts": ["110105"]}
    expired = http.get("/v1/things", headers={"authorization": "Bearer " + rsa_key.sign(claims(exp=1))})
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    hospital = rsa_key.sign(claims(realm_access={"roles": ["hospital"]}))
    assert http.get("/v1/things", headers={"authorization": "Bearer " + hospital}).status_code == 403


# --- settings ---------------------------------------------------------------------------------

PRODUCTION = {"JINGKANG_ENV": "production", "JINGKANG_REFERRAL_STORE": "postgresql://u:p@db:5432/referral"}


def test_production_accepts_only_the_identity_provider():
    with pytest.raises(SettingsError, match="JINGKANG_OIDC_ISSUER is required"):
        load_settings("referral", PRODUCTION)
    with pytest.raises(SettingsError, match="shared secret"):
        load_settings("referral", {**PRODUCTION, "JINGKANG_OIDC_ISSUER": ISSUER, "JINGKANG_JWT_KEY": DEV_KEY})
    with pytest.raises(SettingsError, match="https"):
        load_settings("referral", {**PRODUCTION, "JINGKANG_OIDC_ISSUER": "http://127.0.0.1:8080/realms/jingkang"})
    settings = load_settings("referral", {**PRODUCTION, "JINGKANG_OIDC_ISSUER": ISSUER})
    assert settings.oidc.issuer == ISSUER and settings.oidc.audience == "jingkang"
    assert authority_for(settings).key is None and authority_for(settings).enabled


def test_the_clock_skew_allowed_is_bounded():
    with pytest.raises(SettingsError, match="between 0 and 120"):
        load_settings("referral", {"JINGKANG_OIDC_ISSUER": ISSUER, "JINGKANG_OIDC_LEEWAY_SECONDS": "600"})
    with pytest.raises(SettingsError, match="not a number"):
        load_settings("referral", {"JINGKANG_OIDC_ISSUER": ISSUER, "JINGKANG_OIDC_REFRESH_SECONDS": "soon"})
    assert load_settings("referral", {"JINGKANG_OIDC_ISSUER": ISSUER}).oidc.leeway_seconds == 30
