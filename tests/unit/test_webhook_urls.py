"""Webhook URLs and addresses (issue 10): a URL is read by a real URL parser at subscription
time (ada, WHATWG) and refused, naming `url`, when it carries control characters,
credentials or another scheme; it is stored in the parser's normal form, so the URL checked
is the URL used. Delivery connects only to public addresses, or to networks the operator
allow-lists, and checks the address it actually connects to at every delivery (a name that
starts resolving to an internal address is refused then). A delivery never raises: what
went wrong is a failed attempt."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from services.notification.api import create_app
from services.notification.application import create_application
from services.notification.channels import AddressRefused, WebhookChannel, WebhookNetworks
from services.notification.settings import load_settings
from shared.settings import SettingsError

SECRET = "s" * 16
AT = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)


def api(**env):
    settings = load_settings({"JINGKANG_NOTIFICATION_STORE": "memory://", **env})
    app = create_application(settings)
    return app, TestClient(create_app(settings, app))


def subscribe(http, url):
    return http.post("/v1/subscriptions", json={"district_code": "110105", "url": url, "secret": SECRET,
                                                "event_types": ["jingkang.intake.ClientRegistered.v1"],
                                                "purpose": "district_supervision"})


@pytest.mark.parametrize("url", [
    "https://district.example/hook\r\nX-Injected: 1",
    "https://district.example/ho\x00ok",
    "https://district.example/ho\tok",
    "https://district .example/hook",
    "https://user:password@district.example/hook",
    "https://token@district.example/hook",
    "ftp://district.example/hook",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "https:///district.example/hook",
    "https:district.example/hook",
    "//district.example/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://127.0.0.1:8005/v1/subscriptions",
    "http://0x7f.1/",
    "http://[::1]/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://10.1.2.3/hook",
    "http://192.168.1.1/hook",
    "http://224.0.0.1/hook",
], ids=["CR LF", "NUL", "tab", "space in host", "credentials", "user name", "ftp", "file", "javascript",
        "three slashes", "no slashes", "no scheme", "cloud metadata", "loopback", "loopback in hex", "IPv6 loopback",
        "IPv4-mapped private", "private 10/8", "private 192.168/16", "multicast"])
def test_a_bad_webhook_url_is_refused_naming_url_and_nothing_is_stored(url):
    app, http = api()
    response = subscribe(http, url)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["url"]
    assert (app.recorder.max_notification_id() or 0) == 0


def test_an_allow_listed_network_may_be_subscribed_to():
    _, http = api(JINGKANG_NOTIFICATION_WEBHOOK_NETWORKS="127.0.0.0/8")
    assert subscribe(http, "http://127.0.0.1:18101/hook").status_code == 201
    assert subscribe(http, "http://10.1.2.3/hook").status_code == 422  # only the listed network


def test_the_stored_url_is_the_parsers_normal_form_so_the_checked_host_is_the_host_used():
    _, http = api()
    response = subscribe(http, "https://District.Example\\@evil.example/hook")
    assert response.status_code == 201, response.text
    # WHATWG reads the backslash as a path separator: the host is district.example, and the
    # stored form says so to every later reader (httpx included).
    assert response.json()["url"] == "https://district.example/@evil.example/hook"


def test_a_bad_network_setting_refuses_to_start():
    with pytest.raises(SettingsError, match="JINGKANG_NOTIFICATION_WEBHOOK_NETWORKS"):
        load_settings({"JINGKANG_NOTIFICATION_WEBHOOK_NETWORKS": "127.0.0.0/8, intranet"})


# -- at delivery: the address connected to --------------------------------------------------

def test_a_name_that_resolves_to_an_internal_address_is_refused():
    networks = WebhookNetworks(resolver=lambda host, port: ["169.254.169.254"])
    with pytest.raises(AddressRefused, match="169.254.169.254"):
        networks.address_for("metadata.district.example", 80)


def test_one_internal_answer_among_public_ones_is_refused():
    networks = WebhookNetworks(resolver=lambda host, port: ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(AddressRefused, match="10.0.0.7"):
        networks.address_for("district.example", 443)


def test_rebinding_is_caught_because_every_delivery_checks_again():
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    networks = WebhookNetworks(resolver=lambda host, port: next(answers))
    assert networks.address_for("district.example", 443) == "93.184.216.34"
    with pytest.raises(AddressRefused, match="127.0.0.1"):
        networks.address_for("district.example", 443)


class Subscriber:
    """A real HTTP server on 127.0.0.1 counting the POSTs it receives."""

    def __init__(self):
        self.received = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                outer.received += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def subscriber():
    s = Subscriber()
    yield s
    s.close()


def post(channel, url):
    return channel.post(url=url, secret=SECRET, body="{}", at=AT, delivery_id=uuid.uuid4())


def test_delivery_to_loopback_is_refused_unless_its_network_is_allowed(subscriber):
    refused = post(WebhookChannel(timeout_seconds=2), subscriber.url)
    assert refused.status_code is None and "non-public address" in refused.error
    assert subscriber.received == 0
    allowed = post(WebhookChannel(timeout_seconds=2, networks=WebhookNetworks(["127.0.0.0/8"])), subscriber.url)
    assert allowed.status_code == 204
    assert subscriber.received == 1


def test_a_url_the_http_client_cannot_use_is_a_failed_attempt_not_an_exception():
    """A subscription stored before URLs were parsed (issue 10: CR LF in the URL) once
    raised httpx.InvalidURL out of the channel and stopped the whole delivery round."""
    response = post(WebhookChannel(timeout_seconds=2), "https://district.example/hook\r\nX: 1")
    assert response.status_code is None and response.error.startswith("InvalidURL")
