"""The system as `make up` runs it (deploy/run.py), started once for all end-to-end tests,
against the test Kafka broker, with a movable clock (JINGKANG_CLOCK_FILE), spans written
to a file and a JWT key the tests know, so they can mint the bearer tokens it accepts."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid

import httpx
import pytest

from shared.auth import Authority
from tests.conftest import ROOT
from tests.support import wait_until

# Another base port lets two e2e runs share the test broker (each gets its own consumer groups).
BASE = int(os.environ.get("JINGKANG_TEST_BASE_PORT", "18001"))
SERVICES = ("intake", "assessment", "referral", "funding", "notification", "supervision")
URL = {s: f"http://127.0.0.1:{BASE + i}" for i, s in enumerate(SERVICES)}
CONSOLE = f"http://127.0.0.1:{BASE - 1}"  # deploy/run.py's default: the base port - 1 (8000 under `make up`)
JWT_KEY = "e2e-jwt-signing-key-known-to-the-tests-0001"


def auth(role: str, district: str = "110105", sub: str = "e2e-staff") -> dict[str, str]:
    """The Authorization header of a token the running system accepts (its JINGKANG_JWT_KEY is JWT_KEY)."""
    issuer = os.environ.get("JINGKANG_JWT_ISSUER", "jingkang-dev")
    token = Authority(JWT_KEY, issuer).issue(sub=sub, role=role, districts=[district])
    return {"Authorization": f"Bearer {token}"}


# Package scope: the fifteen processes stop when the end-to-end tier is done, instead of
# competing with the integration tests for the machine (and its broker restarts) until the end.
@pytest.fixture(scope="package")
def system(kafka_bootstrap, tmp_path_factory):
    yield from run_system(kafka_bootstrap, tmp_path_factory.mktemp("system"), BASE)


def run_system(kafka_bootstrap: str, data, base: int, stores: dict[str, str] | None = None, fresh: bool = False):
    """Start deploy/run.py on `base` with its data in `data` (and the event stores `stores`,
    service -> URL, where given); yield what the tests need to know about it; stop it.
    fresh: its workers start at the end of every public topic, as a new deployment's would,
    and never see what the systems and tests before it published on the shared broker."""
    trace_file = data / "spans.jsonl"
    clock_file = data / "clock-offset-seconds"
    own = {f"JINGKANG_{s.upper()}_STORE": url for s, url in (stores or {}).items()}
    env = dict(os.environ, JINGKANG_KAFKA=kafka_bootstrap, JINGKANG_TRACE_FILE=str(trace_file), PYTHONPATH=str(ROOT),
               JINGKANG_CLOCK_FILE=str(clock_file), JINGKANG_TICK_SECONDS="1", JINGKANG_JWT_KEY=JWT_KEY,
               JINGKANG_NOTIFICATION_WEBHOOK_NETWORKS="127.0.0.0/8",  # test subscribers listen on this machine
               **{f"JINGKANG_{s.upper()}_GROUP": f"e2e-{s}-{uuid.uuid4().hex[:8]}" for s in SERVICES}, **own)
    start_offsets = start_groups_at_end(kafka_bootstrap, [env[f"JINGKANG_{s.upper()}_GROUP"] for s in SERVICES]) \
        if fresh else {}
    url = {s: f"http://127.0.0.1:{base + i}" for i, s in enumerate(SERVICES)}
    console = f"http://127.0.0.1:{base - 1}"
    proc = subprocess.Popen([sys.executable, str(ROOT / "deploy/run.py"), "--base-port", str(base), "--data-dir", str(data)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:  # run.py says when every API answers
            if "Jingkang is up" in line:
                break
            if proc.poll() is not None:
                raise RuntimeError("deploy/run.py exited: " + line)
        # Keep reading what run.py says (e.g. "referral worker exited with 1; stopping") into
        # the data dir, where a failed test's reader finds it; an unread pipe could also fill.
        threading.Thread(target=_copy_lines, args=(proc.stdout, data / "run.log"), daemon=True).start()
        wait_until(lambda: all(httpx.get(u + "/ready").status_code == 200 for u in url.values()), timeout=60,
                   what="every service ready")
        yield {"kafka": kafka_bootstrap, "trace_file": trace_file, "data": data, "clock_file": clock_file,
               "url": url, "env": own, "console": console, "start_offsets": start_offsets}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_groups_at_end(kafka: str, groups: list[str]) -> dict[str, int]:
    """Commit the end of every public topic for each new consumer group; those offsets, by
    "topic:partition" (where the workers start: nothing before them is theirs to process)."""
    from kafka import KafkaConsumer, TopicPartition

    from shared.topics import ensure_topics, public_topics

    ensure_topics(kafka, public_topics())
    offsets: dict[str, int] = {}
    for group in groups:
        consumer = KafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
        try:
            partitions = [TopicPartition(t, p) for t in public_topics() for p in consumer.partitions_for_topic(t) or []]
            consumer.assign(partitions)
            consumer.seek_to_end(*partitions)
            for tp in partitions:
                offsets[f"{tp.topic}:{tp.partition}"] = max(offsets.get(f"{tp.topic}:{tp.partition}", 0), consumer.position(tp))
            consumer.commit()
        finally:
            consumer.close()
    return offsets


def _copy_lines(stream, path) -> None:
    with open(path, "a") as out:
        for line in stream:
            out.write(line)
            out.flush()


def move_clock(system: dict, days: float) -> None:
    """Move every process of the running system `days` further ahead (cumulative)."""
    path = system["clock_file"]
    current = float(path.read_text()) if path.exists() else 0.0
    path.write_text(str(current + days * 86400))


def open_store(system: dict, service: str):
    """One service's event store of the running system, for reading (a test never writes
    there): its SQLite file in the data dir opened read-only (or JINGKANG_<SVC>_STORE when a
    run points it elsewhere), with intake's at-rest cipher key, so events decode as the
    service's own Application decodes them."""
    from shared.settings import load_settings, store_env
    from shared.store import ServiceApplication

    data = system["data"]
    key_file = data / "intake.key"
    settings = load_settings(service, {**os.environ, **system.get("env", {}), "JINGKANG_DATA_DIR": str(data)})
    env = store_env(settings)
    if env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite":
        path = "/" + env["SQLITE_DBNAME"].lstrip("/")  # a URL's path: may start with //
        env.update(SQLITE_DBNAME=f"file://{path}?mode=ro", CREATE_TABLE="n")
    if service == "intake":
        key = os.environ.get("JINGKANG_INTAKE_CIPHER_KEY") or (key_file.read_text().strip() if key_file.exists() else None)
        if key:
            # the library's own cipher reads what the service wrote with shared.cipher: one format
            env.update(CIPHER_TOPIC="eventsourcing.cipher:AESCipher", CIPHER_KEY=key)
    # eventsourcing names PostgreSQL tables after the application (as shared.audit.open_store does).
    store = type(f"{service.capitalize()}Store", (ServiceApplication,), {"name": service})
    return store(env=env)


# The browser: one Chromium for the tier, a fresh context (cookies, viewport) per test.
@pytest.fixture(scope="package")
def chromium():
    from playwright.sync_api import sync_playwright

    from tests.e2e.browser import launch

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


def _screen(chromium, system, tmp_path, device: str):
    from tests.e2e.browser import DESKTOP, PHONE, Screen

    context = chromium.new_context(viewport=PHONE if device == "phone" else DESKTOP, locale="zh-CN",
                                   is_mobile=device == "phone", has_touch=device == "phone")
    try:
        yield Screen(context.new_page(), system["console"], tmp_path, device)
    finally:
        context.close()


@pytest.fixture
def phone(chromium, system, tmp_path):
    """The console in a 360×800 phone viewport (a station worker on a home visit)."""
    yield from _screen(chromium, system, tmp_path, "phone")


@pytest.fixture
def desktop(chromium, system, tmp_path):
    """The console in a 1366×900 desktop viewport."""
    yield from _screen(chromium, system, tmp_path, "desktop")
