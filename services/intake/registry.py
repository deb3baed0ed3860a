"""Cross-check against the severe-mental-disorder registry (严重精神障碍信息系统), through
an adapter. The result is recorded (RegistryChecked) and shown to the worker, never
applied automatically: a worker who finds a conflict rejects the identity.

`JINGKANG_INTAKE_REGISTRY` picks the adapter:
  (unset)                   none configured: every check answers `not_configured`
  csv:///path/registry.csv  a development file, one person a line: the resident id in
                            clear or its lookup hash (64 hex, HMAC-SHA256 under
                            JINGKANG_INTAKE_LOOKUP_KEY), optionally `,listed_since` (ISO date)
  https://host/lookup       an HTTP service: POST {"id_number"} -> {"status": "listed" |
                            "not_listed", "listed_since"?}; timeout JINGKANG_INTAKE_REGISTRY_TIMEOUT
                            seconds (default 3); any failure answers `unavailable`
A result never carries an identifier, and nothing here logs the number it was asked about."""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol
from urllib.parse import unquote, urlparse

import httpx

from services.intake.domain import lookup_hash

log = logging.getLogger("jingkang.intake.registry")

Status = Literal["listed", "not_listed", "unavailable", "not_configured"]


@dataclass(frozen=True)
class RegistryResult:
    status: Status
    registry: str  # which adapter answered: none, csv, http
    listed_since: date | None = None
    note: str | None = None  # why it is unavailable; never an identifier


class Registry(Protocol):
    def lookup(self, id_number: str) -> RegistryResult: ...


class NoRegistry:
    def lookup(self, id_number: str) -> RegistryResult:
        return RegistryResult("not_configured", "none")


class CsvRegistry:
    """A file of listed people for development; read at each lookup so it can be edited."""

    def __init__(self, path: str, lookup_key: bytes):
        self.path = path
        self.lookup_key = lookup_key

    def lookup(self, id_number: str) -> RegistryResult:
        number = id_number.strip().upper()
        wanted = {number, lookup_hash(self.lookup_key, number)}
        try:
            with open(self.path, newline="", encoding="utf-8") as f:
                for row in csv.reader(f):
                    if not row or row[0].startswith("#"):
                        continue
                    key = row[0].strip()
                    if key.upper() in wanted or key.lower() in wanted:
                        since = row[1].strip() if len(row) > 1 and row[1].strip() else None
                        return RegistryResult("listed", "csv", date.fromisoformat(since) if since else None)
        except (OSError, ValueError) as e:
            return RegistryResult("unavailable", "csv", note=f"registry file unreadable ({type(e).__name__})")
        return RegistryResult("not_listed", "csv")


class HttpRegistry:
    def __init__(self, url: str, timeout: float = 3.0, transport: httpx.BaseTransport | None = None):
        self.url = url
        self.timeout = timeout
        self.transport = transport

    def lookup(self, id_number: str) -> RegistryResult:
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as http:
                response = http.post(self.url, json={"id_number": id_number.strip().upper()})
            if response.status_code != 200:
                return RegistryResult("unavailable", "http", note=f"registry answered HTTP {response.status_code}")
            body = response.json()
            status = body.get("status") if isinstance(body, dict) else None
            if status not in ("listed", "not_listed"):
                return RegistryResult("unavailable", "http", note="registry answer has no valid status")
            since = body.get("listed_since") if status == "listed" else None
            return RegistryResult(status, "http", date.fromisoformat(since) if since else None)
        except httpx.TimeoutException:
            return RegistryResult("unavailable", "http", note="registry timed out")
        except (httpx.HTTPError, ValueError, TypeError) as e:
            log.warning("registry lookup failed: %s", type(e).__name__)  # the number is never logged
            return RegistryResult("unavailable", "http", note=f"registry unreachable ({type(e).__name__})")


def registry_from(url: str | None, lookup_key: bytes, timeout: float = 3.0) -> Registry:
    if not url:
        return NoRegistry()
    parsed = urlparse(url)
    if parsed.scheme == "csv":
        return CsvRegistry(unquote(parsed.path), lookup_key)
    if parsed.scheme in ("http", "https"):
        return HttpRegistry(url, timeout)
    raise ValueError(f"unsupported registry URL scheme {parsed.scheme!r} (csv:///path or https://...)")
