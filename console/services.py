"""Calls to the services with the signed-in user's own bearer token: every rule, role and
district scope stays where the services enforce it. A refusal becomes a `ServiceRefused`
the page shows as a plain sentence (and field errors beside their fields), never a trace.

The services' one error body (shared/api.py): 422 {"error": "invalid_input", "errors":
[{"field", "reason"}]}, 404/409/503 {"error", "detail"}, 401/403 {"detail"}."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import httpx

log = logging.getLogger("jingkang.console")


@dataclass
class ServiceRefused(Exception):
    """A service said no (or could not be reached). `status` 0: unreachable."""
    service: str
    status: int
    detail: str = ""
    fields: dict[str, str] = field(default_factory=dict)  # service field path -> reason

    def __str__(self) -> str:
        return f"{self.service} answered {self.status}: {self.detail or self.fields}"

    @property
    def page_status(self) -> int:
        """The status of the page that shows this refusal: the service's 4xx, else 503."""
        return self.status if self.status in (403, 404, 409, 410, 422) else 503

    def sentence(self, t) -> str:
        """What the page says, in the user's language."""
        if self.status == 403:
            return t("error.forbidden")
        if self.status == 404:
            return t("error.not_found")
        if self.status == 409:
            return t("error.conflict", detail=self.detail)
        if self.status == 410:
            return t("error.gone")
        if self.status == 422:
            return t("error.invalid")
        if self.status in (0, 502, 503, 504):
            return t("error.unavailable")
        return t("error.unexpected")


class SignInExpired(Exception):
    """A service answered 401: the token is no longer accepted; the user signs in again."""


def refusal(service: str, response: httpx.Response) -> ServiceRefused:
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    fields = {str(e.get("field", "")): str(e.get("reason", "")) for e in body.get("errors", []) if isinstance(e, dict)}
    detail = body.get("detail", "")
    return ServiceRefused(service, response.status_code, detail if isinstance(detail, str) else "", fields)


class Services:
    """One user's view of the services (made per request; the HTTP connection pool is the app's)."""

    def __init__(self, urls: Mapping[str, str], http: httpx.AsyncClient, token: str):
        self.urls = urls
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}
        self.spans: list[tuple[float, float]] = []  # (start, end) of each call, for `waited`

    @property
    def calls(self) -> int:
        return len(self.spans)

    @property
    def waited(self) -> float:
        """Seconds the page spent waiting for at least one service (calls made at once count once)."""
        total, reach = 0.0, float("-inf")
        for start, end in sorted(self.spans):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total

    async def get(self, service: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self._call("GET", service, path, params=params)

    async def post(self, service: str, path: str, json: Any = None, idempotency_key: str | None = None) -> Any:
        """`idempotency_key`: the form's own key (money commands require one), so that a
        resubmitted form is answered with the first answer instead of acting twice."""
        headers = {**self.headers, "Idempotency-Key": idempotency_key} if idempotency_key else None
        return await self._call("POST", service, path, json=json if json is not None else {}, headers=headers)

    async def _call(self, method: str, service: str, path: str, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            headers = kwargs.pop("headers", None) or self.headers
            response = await self.http.request(method, self.urls[service] + path, headers=headers, **kwargs)
        except httpx.HTTPError as e:
            # The path may hold a pseudonymous id at most; never a personal identifier (none goes in a URL).
            log.warning("%s unreachable: %s", service, type(e).__name__)
            raise ServiceRefused(service, 0, "unreachable") from None
        finally:
            self.spans.append((started, time.perf_counter()))
        if response.status_code == 401:
            raise SignInExpired(service)
        if response.status_code >= 400:
            raise refusal(service, response)
        return response.json() if response.content else None
