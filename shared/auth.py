"""Who may do what: bearer tokens (JWT) with a role and a district scope.

Roles: station_worker, district_admin, hospital, funding_officer, auditor, integration.
Claims: `sub` (the actor, a staff or system id — never a name), `role`, `districts`
(GB/T 2260 codes the holder acts for: a county's, or a city's — 110000, 320100 — which
covers the city itself and every county under it; ["*"] for city-wide), `iss`, `exp`.

Two kinds of token (settings read by shared.settings):
- signed by the identity provider (JINGKANG_OIDC_ISSUER; shared/oidc.py): RS256/ES256
  checked against the issuer's published keys, for our audience; the role and the
  districts are read from the claims the settings name. The only kind production accepts.
- development tokens, HS256 with JINGKANG_JWT_KEY and JINGKANG_JWT_ISSUER (default
  "jingkang-dev"): `make up` generates a key and `python -m shared.auth token --role
  station_worker --district 110105 --sub w-1` prints a token for it. Refused in production.
With neither, outside production, authorisation is off (unit tests).

Each service's api.py has an ACCESS table (route -> roles) enforced for every route by
`guard` (deny by default); a route keyed by a client or contract checks the district of
what it loaded with `check_district(principal_of(request), ...)`.
401 without a valid token, 403 outside the role or the district; the actor and role of
the token are recorded in every event the request causes."""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import jwt
from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from shared.oidc import Provider, ProviderUnreachable, TokenRefused
from shared.store import current_context

ROLES = ("station_worker", "district_admin", "hospital", "funding_officer", "auditor", "integration")
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    actor: str
    role: str
    districts: tuple[str, ...]

    def covers(self, district_code: str | None) -> bool:
        """A code of the token's, or under one of its city (province) codes: 110000 covers
        110105, a county's code only itself. A code not known (None) only "*" covers."""
        if "*" in self.districts:
            return True
        return district_code is not None and any(
            (prefix := area_prefix(d)) is not None and district_code.startswith(prefix) for d in self.districts)


ANONYMOUS = Principal("anonymous", "unknown", ())


def area_prefix(code: str) -> str | None:
    """The digits every code under an area shares: 110000 -> "11", 320100 -> "3201",
    110105 -> "110105" (GB/T 2260: province, city, county by pairs of digits); None for
    what is not a 6-digit code (it covers nothing)."""
    if not isinstance(code, str) or len(code) != 6 or not code.isdigit():
        return None
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


class Authority:
    """Verifies tokens for one service process: by the identity provider's keys (`provider`),
    and outside production also development tokens signed with `key`. Neither: authorisation off."""

    def __init__(self, key: str | None = None, issuer: str = "jingkang-dev", *, provider: Provider | None = None,
                 production: bool = False):
        self.key = None if production else key  # production never accepts a shared secret
        self.issuer = issuer
        self.provider = provider

    @property
    def enabled(self) -> bool:
        return bool(self.key) or self.provider is not None

    def principal(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        token = authorization[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise refused(f"not a JWT: {e}") from None
        if header.get("alg") == ALGORITHM and self.key:
            return self._development_principal(token)
        if self.provider is None:
            raise refused(f"algorithm {str(header.get('alg'))[:16]!r} is not accepted")
        try:
            claims = self.provider.verify(token, header=header)
        except TokenRefused as e:
            raise refused(str(e)) from None
        except ProviderUnreachable:
            raise HTTPException(503, "the identity provider cannot be reached to check the token; retry later",
                                headers={"Retry-After": "5"}) from None
        rules = self.provider.settings
        return Principal(actor_in(claims, rules.actor_claim), role_in(claims, rules.role_claim),
                         districts_in(claims, rules.districts_claim))

    def _development_principal(self, token: str) -> Principal:
        try:
            claims = jwt.decode(token, self.key, algorithms=[ALGORITHM], issuer=self.issuer,
                                options={"require": ["sub", "role", "exp", "iss"]})
        except jwt.PyJWTError as e:
            raise refused(str(e)) from None
        if claims["role"] not in ROLES:
            raise refused(f"unknown role {claims['role']!r}")
        return Principal(str(claims["sub"])[:64], claims["role"], tuple(claims.get("districts", [])))

    def issue(self, *, sub: str, role: str, districts: list[str], ttl_seconds: int = 8 * 3600) -> str:
        now = int(time.time())
        return jwt.encode({"sub": sub, "role": role, "districts": districts, "iss": self.issuer, "iat": now,
                           "exp": now + ttl_seconds}, self.key, algorithm=ALGORITHM)


def refused(reason: str) -> HTTPException:
    return HTTPException(401, f"invalid token: {reason}", headers={"WWW-Authenticate": "Bearer"})


def claim(claims: dict, path: str) -> object:
    """A claim by name, dotted for nested ones (realm_access.roles); None when absent."""
    value: object = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def actor_in(claims: dict, path: str) -> str:
    value = claim(claims, path)
    if not isinstance(value, str) or not value.strip():
        raise refused(f"claim {path} must name who acts (a staff or system id)")
    return value[:64]


def role_in(claims: dict, path: str) -> str:
    """The one Jingkang role the claim holds: a string, or a list in which exactly one of the
    six roles appears (a provider lists other roles of its own beside ours)."""
    value = claim(claims, path)
    found = [r for r in ([value] if isinstance(value, str) else value if isinstance(value, list) else []) if r in ROLES]
    if len(found) != 1:
        raise refused(f"claim {path} must hold exactly one of the roles {', '.join(ROLES)}"
                      + (f"; it holds {', '.join(found)}" if found else ""))
    return found[0]


def districts_in(claims: dict, path: str) -> tuple[str, ...]:
    value = claim(claims, path)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        raise refused(f"claim {path} must be a list of district codes")
    return tuple(value)


def authority_for(settings) -> Authority:
    return Authority(settings.jwt_key, settings.jwt_issuer, production=settings.production,
                     provider=Provider(settings.oidc) if settings.oidc else None)


# The published contract is public: a district integration validates against it without a token.
OPEN = {"GET /health", "GET /ready", "GET /metrics", "GET /docs", "GET /openapi.json", "GET /docs/oauth2-redirect",
        "GET /redoc", "GET /contract/asyncapi.json", "GET /contract/schemas", "GET /contract/schemas/{event_type}.json"}


def guard(authority: Authority, access: dict[str, tuple[str, ...]]):
    """Router-wide dependency: each route is allowed to the roles its service's ACCESS
    table names ("METHOD /path/template" -> roles); a route missing from the table is
    refused to everyone (deny by default). Returns the Principal for the route to use."""
    for key, roles in access.items():
        if set(roles) - set(ROLES):
            raise ValueError(f"{key}: unknown roles {set(roles) - set(ROLES)}")

    async def dependency(request: Request) -> Principal:
        route = getattr(request.scope.get("route"), "path", request.url.path)
        key = f"{request.method} {route}"
        if key in OPEN or not authority.enabled:
            return ANONYMOUS
        if authority.provider is not None:  # may wait on the provider for its keys: not on the event loop
            principal = await run_in_threadpool(authority.principal, request.headers.get("authorization"))
        else:
            principal = authority.principal(request.headers.get("authorization"))
        allowed = access.get(key, ())
        if principal.role not in allowed:
            raise HTTPException(403, f"role {principal.role} may not call {key}"
                                     + (f"; allowed: {', '.join(allowed)}" if allowed else ""))
        ctx = current_context()
        if ctx is not None:  # the events this request causes name the token's holder
            ctx.actor, ctx.role = principal.actor, principal.role
        request.state.principal = principal
        return principal

    return dependency


def principal_of(request: Request) -> Principal:
    return getattr(request.state, "principal", ANONYMOUS)


def check_district(principal: Principal, district_code: str | None, unknown: str | None = None) -> None:
    """For routes that learn the district only from what they loaded. A district not known
    (None) is covered by city-wide tokens only; `unknown` says why there is none (e.g. "the
    client's district is not known to referral yet") so the 403 can say so."""
    if principal is ANONYMOUS or principal.covers(district_code):
        return
    if district_code is None and unknown:
        raise HTTPException(403, f"{unknown}: only a city-wide token may act")
    raise HTTPException(403, "outside your districts")


def main() -> None:
    from shared.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m shared.auth", description="Issue a development token.")
    sub = parser.add_subparsers(dest="command", required=True)
    token = sub.add_parser("token")
    token.add_argument("--sub", required=True, help="staff or system id (not a name)")
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--district", action="append", default=[], help="county code; repeat; * for all")
    args = parser.parse_args()
    settings = load_settings("auth")
    if settings.production or not settings.jwt_key:
        raise SystemExit("development tokens need JINGKANG_JWT_KEY and a non-production environment")
    print(Authority(settings.jwt_key, settings.jwt_issuer).issue(sub=args.sub, role=args.role, districts=args.district))


if __name__ == "__main__":
    main()
