"""Who may do what: bearer tokens (JWT) with a role and a district scope.

Roles: station_worker, district_admin, hospital, funding_officer, auditor, integration.
Claims: `sub` (the actor, a staff or system id — never a name), `role`, `districts`
(GB/T 2260 codes the holder acts for: a county's, or a city's — 110000, 320100 — which
covers the city itself and every county under it; ["*"] for city-wide), `iss`, `exp`.

Settings (read by shared.settings): JINGKANG_JWT_KEY (HS256 secret; required in
production), JINGKANG_JWT_ISSUER (default "jingkang-dev"). Without a key outside
production, authorisation is off (unit tests); `make up` generates a development key
and `python -m shared.auth token --role station_worker --district 110105 --sub w-1`
prints a token for it.

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
    """Verifies tokens for one service process (None key: authorisation off)."""

    def __init__(self, key: str | None, issuer: str = "jingkang-dev"):
        self.key = key
        self.issuer = issuer

    @property
    def enabled(self) -> bool:
        return bool(self.key)

    def principal(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        try:
            claims = jwt.decode(authorization[7:].strip(), self.key, algorithms=[ALGORITHM], issuer=self.issuer,
                                options={"require": ["sub", "role", "exp", "iss"]})
        except jwt.PyJWTError as e:
            raise HTTPException(401, f"invalid token: {e}", headers={"WWW-Authenticate": "Bearer"}) from None
        if not isinstance(claims["role"], str) or claims["role"] not in ROLES:
            raise HTTPException(401, "invalid token: unknown role", headers={"WWW-Authenticate": "Bearer"})
        districts = claims.get("districts", [])
        # A list of codes (or "*"), nothing else: a number, null or a bare string is a malformed token.
        if not isinstance(districts, list) or not all(isinstance(d, str) for d in districts):
            raise HTTPException(401, "invalid token: districts must be a list of district codes",
                                headers={"WWW-Authenticate": "Bearer"})
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise HTTPException(401, "invalid token: sub must be a staff or system id",
                                headers={"WWW-Authenticate": "Bearer"})
        return Principal(claims["sub"][:64], claims["role"], tuple(districts))

    def issue(self, *, sub: str, role: str, districts: list[str], ttl_seconds: int = 8 * 3600) -> str:
        now = int(time.time())
        return jwt.encode({"sub": sub, "role": role, "districts": districts, "iss": self.issuer, "iat": now,
                           "exp": now + ttl_seconds}, self.key, algorithm=ALGORITHM)


def authority_for(settings) -> Authority:
    return Authority(settings.jwt_key, settings.jwt_issuer)


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
