"""Under a steady load of registrations, restart the Kafka broker and then PostgreSQL.
While Kafka is down commands still succeed (the outbox holds the events); while
PostgreSQL is down commands fail cleanly with 503 and a retry hint, none half-applied;
after recovery every accepted registration reaches the consumer in another service.
(Named zz: it restarts the shared test infrastructure, so it runs last.)"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

from services.assessment.application import create_application as create_assessments
from shared.settings import load_settings
from shared.topics import ensure_topics, public_topics
from tests.conftest import KAFKA_PORT, PG_DATA, PG_PORT, ROOT
from tests.support import application_body, wait_until

pytestmark = pytest.mark.integration
PORT = 18951


def spawn(module: str, process: str, env: dict, name: str) -> subprocess.Popen:
    log = open(ROOT / ".cache" / f"restart-{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", module, process], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def script(path: str, command: str, **env: str) -> None:
    subprocess.run([str(ROOT / path), command], env=dict(os.environ, **env), check=True)


def test_commands_survive_broker_and_database_restarts(pg_store_url, kafka_bootstrap, postgres_url):
    ensure_topics(kafka_bootstrap, public_topics())
    import psycopg
    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    env = dict(os.environ, PYTHONPATH=str(ROOT), JINGKANG_KAFKA=kafka_bootstrap,
               JINGKANG_INTAKE_STORE=pg_store_url, JINGKANG_INTAKE_PORT=str(PORT),
               JINGKANG_ASSESSMENT_STORE=f"{postgres_url}?schema={schema}",
               JINGKANG_ASSESSMENT_GROUP="restart-" + uuid.uuid4().hex[:8])
    kafka_env = {"KAFKA_PORT": str(KAFKA_PORT), "KAFKA_DATA": str(ROOT / f".cache/kafka-test-{KAFKA_PORT}")}
    procs = [spawn("services.intake", "api", env, "api")]
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{PORT}/health").status_code == 200, timeout=60, what="intake api")
        procs += [spawn("services.intake", "relay", env, "relay"), spawn("services.assessment", "worker", env, "worker")]
        # The outages hit a system in steady state: the worker has joined its group and consumes.
        first = register_one()
        assessments = create_assessments(load_settings("assessment", {"JINGKANG_ASSESSMENT_STORE": env["JINGKANG_ASSESSMENT_STORE"]}))
        wait_until(lambda: uuid.UUID(first) in assessments.repository, timeout=120, what="the worker consuming")
        run_load_through_restarts(env, kafka_env)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def register_one() -> str:
    with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=30) as http:
        app_id = http.post("/v1/applications", json=application_body()).json()["application_id"]
        assert http.post(f"/v1/applications/{app_id}/consent", json={"signed_by": "self"}).status_code == 201
        return http.post(f"/v1/applications/{app_id}/register").json()["client_id"]


def run_load_through_restarts(env: dict, kafka_env: dict) -> None:

    accepted: list[str] = []
    statuses: list[int] = []
    retry_hints: set[str] = set()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=30) as http:
            while not stop.is_set():
                try:
                    r = http.post("/v1/applications", json=application_body())
                    if r.status_code == 201:
                        app_id = r.json()["application_id"]
                        r = http.post(f"/v1/applications/{app_id}/consent", json={"signed_by": "self"})
                        if r.status_code == 201:
                            r = http.post(f"/v1/applications/{app_id}/register")
                            if r.status_code == 201:
                                accepted.append(r.json()["client_id"])
                    statuses.append(r.status_code)
                    if r.status_code == 503:
                        retry_hints.add(r.headers.get("retry-after", ""))
                except httpx.HTTPError:
                    statuses.append(-1)
                time.sleep(0.05)

    loader = threading.Thread(target=load)
    loader.start()
    try:
        time.sleep(3)
        script("deploy/kafka/kafka.sh", "stop", **kafka_env)
        during_kafka_outage = len(accepted)
        time.sleep(5)
        assert len(accepted) > during_kafka_outage, "commands must not need the broker"
        script("deploy/kafka/kafka.sh", "start", **kafka_env)
        time.sleep(2)
        script("deploy/postgres/postgres.sh", "stop", PG_PORT=str(PG_PORT), PG_DATA=PG_DATA)
        # The store's own retries ride out a blip of a few seconds; this outage outlasts them.
        time.sleep(16)
        script("deploy/postgres/postgres.sh", "start", PG_PORT=str(PG_PORT), PG_DATA=PG_DATA)
        time.sleep(4)
    finally:
        stop.set()
        loader.join()

    assert set(statuses) <= {201, 503}, statuses  # never a 500, never a dropped connection
    assert 503 in statuses and retry_hints == {"5"}
    assessments = create_assessments(load_settings("assessment", {"JINGKANG_ASSESSMENT_STORE": env["JINGKANG_ASSESSMENT_STORE"]}))
    wait_until(lambda: all(uuid.UUID(c) in assessments.repository for c in accepted), timeout=120,
               what=f"all {len(accepted)} accepted registrations to reach assessment")
