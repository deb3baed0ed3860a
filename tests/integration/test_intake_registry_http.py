"""The HTTP registry adapter against a real local HTTP server: it posts the number, reads
the status, and a slow or failing registry answers `unavailable` (the submission goes on)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.intake.registry import HttpRegistry
from tests.support import applicant

pytestmark = pytest.mark.integration


@pytest.fixture
def registry_server():
    listed: set[str] = set()
    mode = {"value": "ok"}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            asked = json.loads(self.rfile.read(int(self.headers["content-length"])))["id_number"]
            if mode["value"] == "slow":
                time.sleep(1.5)
            if mode["value"] == "broken":
                self.send_response(500)
                self.end_headers()
                return
            body = json.dumps({"status": "listed" if asked in listed else "not_listed"}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # the number must not reach any log, the test's included
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/lookup", listed, mode
    server.shutdown()
    server.server_close()


def test_a_real_registry_answers_listed_and_not_listed(registry_server):
    url, listed, _ = registry_server
    person, other = applicant()["id_number"], applicant()["id_number"]
    listed.add(person)
    registry = HttpRegistry(url, timeout=5)
    assert registry.lookup(person).status == "listed"
    assert registry.lookup(other).status == "not_listed"


@pytest.mark.parametrize("mode", ["slow", "broken"])
def test_a_slow_or_broken_registry_is_unavailable(registry_server, mode):
    url, _, state = registry_server
    state["value"] = mode
    result = HttpRegistry(url, timeout=0.3).lookup(applicant()["id_number"])
    assert result.status == "unavailable" and result.note


def test_an_unreachable_registry_is_unavailable(registry_server):
    url, _, _ = registry_server
    closed = url.rsplit(":", 1)[0] + ":1/lookup"
    assert HttpRegistry(closed, timeout=1).lookup(applicant()["id_number"]).status == "unavailable"
