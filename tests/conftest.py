"""Test infrastructure: a real PostgreSQL, a real Apache Kafka broker and a real Keycloak, started by the
project's own scripts in deploy/ on test ports (so a running `make up` is untouched)
and stopped at the end if this session started them. Nothing here fakes any of them."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KAFKA_PORT = int(os.environ.get("JINGKANG_TEST_KAFKA_PORT", "19092"))
PG_PORT = int(os.environ.get("JINGKANG_TEST_PG_PORT", "5433"))
KEYCLOAK_PORT = int(os.environ.get("JINGKANG_TEST_KEYCLOAK_PORT", "18080"))
# A cluster per port, like the broker: parallel runs (worktrees sharing .cache) never share a data dir.
PG_DATA = os.environ.get("PG_DATA") or str(ROOT / f".cache/postgres-test-{PG_PORT}/data")
PG_URL = f"postgresql://jingkang:jingkang@127.0.0.1:{PG_PORT}/jingkang_test"


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap():
    env = dict(os.environ, KAFKA_PORT=str(KAFKA_PORT), KAFKA_DATA=str(ROOT / f".cache/kafka-test-{KAFKA_PORT}"))
    started = False
    if not _listening(KAFKA_PORT):
        shutil.rmtree(ROOT / f".cache/kafka-test-{KAFKA_PORT}", ignore_errors=True)  # a clean broker each session
        subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "start"], env=env, check=True)
        started = True
    yield f"127.0.0.1:{KAFKA_PORT}"
    if started:
        subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "stop"], env=env, check=False)


@pytest.fixture(scope="session")
def postgres_url():
    env = dict(os.environ, PG_PORT=str(PG_PORT))
    env.setdefault("PG_DATA", PG_DATA)
    started = False
    if not _listening(PG_PORT):
        subprocess.run([str(ROOT / "deploy/postgres/postgres.sh"), "start"], env=env, check=True)
        started = True
    yield PG_URL
    if started:
        subprocess.run([str(ROOT / "deploy/postgres/postgres.sh"), "stop"], env=env, check=False)


@pytest.fixture(scope="session")
def keycloak_issuer():
    """The issuer URL of the realm deploy/keycloak/realm.json, on a Keycloak started afresh for
    this session (tests change its keys and users), unless one already listens on the port."""
    env = dict(os.environ, KEYCLOAK_PORT=str(KEYCLOAK_PORT))
    script = str(ROOT / "deploy/keycloak/keycloak.sh")
    started = False
    if not _listening(KEYCLOAK_PORT):
        shutil.rmtree(ROOT / f".cache/keycloak/data-{KEYCLOAK_PORT}", ignore_errors=True)
        subprocess.run([script, "start"], env=env, check=True)
        started = True
    yield subprocess.run([script, "url"], env=env, check=True, capture_output=True, text=True).stdout.strip()
    if started:
        subprocess.run([script, "stop"], env=env, check=False)


@pytest.fixture
def pg_store_url(postgres_url):
    """A fresh schema in the test database: tests share PostgreSQL without clean-up."""
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{postgres_url}?schema={schema}"
