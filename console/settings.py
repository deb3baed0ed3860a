"""The console's configuration, read from the environment by a function (never at import).

  JINGKANG_CONSOLE_HOST, JINGKANG_CONSOLE_PORT   where it listens (default 127.0.0.1:8000)
  JINGKANG_<SVC>_URL     a service's base URL; without it http://127.0.0.1:<JINGKANG_<SVC>_PORT>
                         (defaults the `make up` ports: intake 8001 … notification 8005, supervision 8006)
  JINGKANG_JWT_KEY, JINGKANG_JWT_ISSUER   the development key and issuer DevSignIn signs tokens with
  JINGKANG_CONSOLE_SIGNIN  dev or oidc (default dev outside production; production never offers dev)
  JINGKANG_OIDC_ISSUER, JINGKANG_OIDC_*   oidc: the identity provider and its claims (shared/settings.py)
  JINGKANG_CONSOLE_OIDC_CLIENT_ID, JINGKANG_CONSOLE_OIDC_CLIENT_SECRET   oidc: the console's client
                         (default id jingkang-console; the secret is required)
  JINGKANG_CONSOLE_URL   oidc: where browsers reach the console, for the redirect back
                         (default http://127.0.0.1:<port>)
  JINGKANG_CONSOLE_SESSION_SECONDS  how long a session lasts after sign-in (default 8 hours)
  JINGKANG_CONSOLE_DEMO_USERS  the demo staff list for DevSignIn (default deploy/demo/users.json)
  JINGKANG_CONSOLE_TIMEOUT_SECONDS  how long a call to a service may take (default 10)
  JINGKANG_CLOCK_FILE    development only: seconds to add to the clock (the services' movable
                         clock, so "overdue" on a page agrees with the services in end-to-end tests)
  JINGKANG_ENV           development (default) or production
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from shared.settings import DEFAULT_PORTS, OidcSettings, SettingsError, load_oidc_settings

ROOT = Path(__file__).resolve().parent.parent
SERVICE_PORTS = {**DEFAULT_PORTS, "supervision": 8006}


@dataclass(frozen=True)
class ConsoleSettings:
    service_urls: Mapping[str, str]
    host: str = "127.0.0.1"
    port: int = 8000
    production: bool = False
    signin: str = "dev"
    jwt_key: str | None = None
    jwt_issuer: str = "jingkang-dev"
    oidc: OidcSettings | None = None  # JINGKANG_OIDC_*: the identity provider, as the services read it
    session_seconds: int = 8 * 3600
    demo_users: Path = ROOT / "deploy/demo/users.json"
    timeout_seconds: float = 10.0
    clock_file: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)  # JINGKANG_CONSOLE_* for providers (e.g. OIDC)


def load_console_settings(environ: Mapping[str, str] | None = None) -> ConsoleSettings:
    env = os.environ if environ is None else environ
    production = env.get("JINGKANG_ENV", "development") == "production"
    urls = {}
    for service, port in SERVICE_PORTS.items():
        svc = service.upper()
        urls[service] = (env.get(f"JINGKANG_{svc}_URL")
                         or f"http://127.0.0.1:{env.get(f'JINGKANG_{svc}_PORT', port)}").rstrip("/")
    signin = env.get("JINGKANG_CONSOLE_SIGNIN") or ("oidc" if production else "dev")
    if signin not in ("dev", "oidc"):
        raise SettingsError(f"JINGKANG_CONSOLE_SIGNIN must be dev or oidc, not {signin!r}")
    if production and signin == "dev":
        raise SettingsError("the development sign-in does not exist in production: set JINGKANG_CONSOLE_SIGNIN=oidc")
    return ConsoleSettings(
        service_urls=urls,
        host=env.get("JINGKANG_CONSOLE_HOST", "127.0.0.1"),
        port=int(env.get("JINGKANG_CONSOLE_PORT", "8000")),
        production=production,
        signin=signin,
        jwt_key=env.get("JINGKANG_JWT_KEY") or None,
        jwt_issuer=env.get("JINGKANG_JWT_ISSUER", "jingkang-dev"),
        oidc=load_oidc_settings(env),
        session_seconds=int(env.get("JINGKANG_CONSOLE_SESSION_SECONDS", str(8 * 3600))),
        demo_users=Path(env.get("JINGKANG_CONSOLE_DEMO_USERS") or ROOT / "deploy/demo/users.json"),
        timeout_seconds=float(env.get("JINGKANG_CONSOLE_TIMEOUT_SECONDS", "10")),
        clock_file=None if production else (env.get("JINGKANG_CLOCK_FILE") or None),
        extra={k[len("JINGKANG_CONSOLE_"):]: v for k, v in env.items() if k.startswith("JINGKANG_CONSOLE_")},
    )
