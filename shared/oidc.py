"""The OpenID Connect provider whose tokens Jingkang accepts: Keycloak in development and
tests (deploy/keycloak/), the city's identity platform in production.

`Provider` reads the issuer's discovery document (`<issuer>/.well-known/openid-configuration`)
when first needed, keeps the issuer's signing keys (its JWKS) in a cache, and verifies a
token signed with one of them: RS256 or ES256 only, issuer, audience, expiry and not-before
with a small bounded clock skew. A token naming a key id the cache lacks makes it fetch the
keys again (a key rotation needs no restart), at most once per `refresh_seconds` so tokens
with made-up key ids cannot flood the provider. When the provider cannot be reached the keys
already fetched keep working. The key handling is PyJWT's `PyJWKClient`; nothing here is
cryptography written by hand.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable

import jwt
from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientError, PyJWKSetError

from shared.settings import OidcSettings

log = logging.getLogger("jingkang.oidc")

ACCEPTED_ALGORITHMS = ("RS256", "ES256")


class ProviderUnreachable(Exception):
    """The identity provider did not answer (or answered nonsense): nothing can be said about the token."""


class TokenRefused(Exception):
    """The token is not one this provider issued for us, or no longer valid; the message says why."""


Fetch = Callable[[str], Any]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a provider's documents are fetched from where configured, nowhere else
        return None


def fetch_json(url: str, timeout: float = 3.0) -> Any:
    """GET a JSON document from the provider (short timeout: a request waits on it)."""
    try:
        with urllib.request.build_opener(_NoRedirects()).open(
                urllib.request.Request(url, headers={"accept": "application/json"}), timeout=timeout) as response:
            return json.load(response)
    except (OSError, ValueError) as e:  # URLError, HTTPError and timeouts are OSErrors; bad JSON a ValueError
        raise ProviderUnreachable(f"{url}: {e}") from None


class _IssuerKeys(PyJWKClient):
    """PyJWKClient fetching through `fetch` and keeping the last key set it got, so an outage of
    the provider does not stop validation: while the provider is down the old keys are used.
    fetch_data is the documented point to override; it keeps PyJWKClient's cache and cooldown
    bookkeeping as PyJWT 2.15 does (requirements.txt pins it)."""

    def __init__(self, uri: str, fetch: Fetch, *, lifespan: float, cooldown: float):
        super().__init__(uri, lifespan=lifespan, cooldown_duration=cooldown)
        self._fetch = fetch
        self._last_good: dict | None = None

    def fetch_data(self) -> Any:
        try:
            jwk_set = self._as_jwk_set_payload(self._fetch(self.uri))
        except (ProviderUnreachable, PyJWKClientError) as e:
            if self._last_good is None:
                raise ProviderUnreachable(str(e)) from None
            log.warning("identity provider keys not refreshed (%s); using the keys fetched before", e)
            jwk_set = self._last_good
        else:
            self._last_good = jwk_set
        if self.jwk_set_cache is not None:
            self.jwk_set_cache.put(jwk_set)
        self._last_successful_fetch = time.monotonic()  # PyJWKClient's own cooldown also spaces failed attempts
        return jwk_set


class Provider:
    """One issuer: its metadata, its keys, and the verification of the tokens it signs."""

    def __init__(self, settings: OidcSettings, fetch: Fetch = fetch_json):
        self.settings = settings
        self.issuer = settings.issuer
        self._fetch = fetch
        self._lock = threading.Lock()
        self._metadata: dict | None = None
        self._keys: _IssuerKeys | None = None
        self._failed_at = float("-inf")

    def metadata(self) -> dict:
        """The discovery document (endpoints of the provider), fetched once; the issuer it names
        must be the configured one (OpenID Connect Discovery §4.3)."""
        with self._lock:
            if self._metadata is None:
                if time.monotonic() - self._failed_at < self.settings.refresh_seconds:
                    raise ProviderUnreachable(f"{self.issuer} did not answer a moment ago")
                try:
                    document = self._fetch(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
                except ProviderUnreachable:
                    self._failed_at = time.monotonic()
                    raise
                if not isinstance(document, dict) or document.get("issuer") != self.issuer \
                        or not isinstance(document.get("jwks_uri"), str):
                    self._failed_at = time.monotonic()
                    raise ProviderUnreachable(f"{self.issuer}: its discovery document names another issuer or no jwks_uri")
                self._metadata = document
            return self._metadata

    def _key_set(self) -> _IssuerKeys:
        jwks_uri = self.metadata()["jwks_uri"]
        with self._lock:
            if self._keys is None:
                self._keys = _IssuerKeys(jwks_uri, self._fetch, lifespan=self.settings.keys_cache_seconds,
                                         cooldown=self.settings.refresh_seconds)
            return self._keys

    def signing_key(self, kid: str) -> PyJWK:
        try:
            return self._key_set().get_signing_key(kid)
        except PyJWKSetError as e:
            raise ProviderUnreachable(f"{self.issuer} published no usable keys: {e}") from None
        except PyJWKClientError:
            raise TokenRefused(f"signed with key {kid[:64]!r}, which {self.issuer} does not have") from None

    def verify(self, token: str, *, audience: str | None = None, header: dict | None = None) -> dict:
        """The claims of a token this provider signed for `audience` (default: ours), or
        TokenRefused saying why not; ProviderUnreachable when its keys were never fetched.
        `header`: the token's unverified header when the caller has read it already (parsing
        a token costs more than checking its RS256 signature)."""
        if header is None:
            try:
                header = jwt.get_unverified_header(token)
            except jwt.PyJWTError as e:
                raise TokenRefused(f"not a JWT: {e}") from None
        alg = header.get("alg")
        if alg not in ACCEPTED_ALGORITHMS:
            raise TokenRefused(f"algorithm {str(alg)[:16]!r} is not accepted: only {' or '.join(ACCEPTED_ALGORITHMS)} "
                               f"signed by {self.issuer}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRefused("the token names no signing key (kid)")
        key = self.signing_key(kid)
        if key.algorithm_name != alg:
            raise TokenRefused(f"key {kid[:64]!r} is not an {alg} key")
        expected_audience = audience or self.settings.audience
        try:
            return jwt.decode(token, key.key, algorithms=[alg], issuer=self.issuer, audience=expected_audience,
                              leeway=self.settings.leeway_seconds, options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRefused("the token is not valid yet (nbf)") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused(f"issued by another issuer, not {self.issuer}") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused(f"issued for another audience, not {expected_audience}") from None
        except jwt.PyJWTError as e:
            raise TokenRefused(str(e)) from None
