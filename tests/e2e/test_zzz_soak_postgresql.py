"""The soak again, on the production path: every service's event store a database of its own
in the test PostgreSQL cluster (as docker-compose.yml has them), relays woken by
LISTEN/NOTIFY, the identity keys and the seals in the same databases. Same driver and same
checks as test_soak.py (stored = published = consumed, no duplicate, no dead letter, the
invariants), in a district of its own; and no process opens more PostgreSQL connections than
its budget (README "Connection budget"). As long as the first (JINGKANG_PG_SOAK_SECONDS, default 60: shorter drove too little to settle a month under load):
it is here so the PostgreSQL mode can never silently stop working again."""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import psycopg
import pytest

from shared.settings import pg_connections
from tests.conftest import KAFKA_PORT, ROOT
from tests.e2e import test_soak
from tests.e2e.conftest import BASE, SERVICES, run_system

pytestmark = pytest.mark.e2e

DISTRICT = "110107"  # not test_soak's


@pytest.fixture(scope="module")
def own_kafka():
    """A broker of its own (port KAFKA_PORT + 2, its controller + 3): on the first system's
    broker, each system's workers would consume the other's events and publish their own
    conclusions about the same clients under the same deterministic ids."""
    port = KAFKA_PORT + 2
    data = ROOT / f".cache/kafka-test-{port}"
    env = dict(os.environ, KAFKA_PORT=str(port), KAFKA_DATA=str(data))
    shutil.rmtree(data, ignore_errors=True)
    subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "start"], env=env, check=True)
    yield f"127.0.0.1:{port}"
    subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "stop"], env=env, check=False)


@pytest.fixture(scope="module")
def pg_system(own_kafka, postgres_url, tmp_path_factory):
    """A second system (ports BASE+20...: its metrics ports, base + 1000 + 2 per service, clear
    the first system's twelve) on fresh databases and its own broker, dropped when it has stopped."""
    run = uuid.uuid4().hex[:8]
    databases = {s: f"e2e_{run}_{s}" for s in SERVICES}
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for name in databases.values():
            conn.execute(f"CREATE DATABASE {name}")
    server = postgres_url.rsplit("/", 1)[0]
    try:
        yield from run_system(own_kafka, tmp_path_factory.mktemp("pg-system"), BASE + 20,
                              stores={s: f"{server}/{name}" for s, name in databases.items()}, fresh=True)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for name in databases.values():
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def connections_by_process(system: dict) -> dict[str, int]:
    """The system's open PostgreSQL connections, by the application_name each process gives them."""
    url = next(iter(system["env"].values()))
    databases = [u.rsplit("/", 1)[1] for u in system["env"].values()]
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT application_name, count(*) FROM pg_stat_activity "
                            "WHERE datname = ANY(%s) AND application_name LIKE 'jingkang-%%' GROUP BY 1",
                            (databases,)).fetchall()
    return dict(rows)


def test_soak_on_postgresql_stores(pg_system, monkeypatch):
    monkeypatch.setattr(test_soak, "SOAK_SECONDS", float(os.environ.get("JINGKANG_PG_SOAK_SECONDS", "60")))
    test_soak.aim(pg_system, DISTRICT)
    try:
        test_soak.soak_and_check(pg_system)
    finally:
        test_soak.aim({})  # back to the first system, should another test drive it later

    # and after all that work no process holds more connections than its budget
    seen = connections_by_process(pg_system)
    for service in SERVICES:
        for process in ("api", "relay", "worker"):
            name = f"jingkang-{service}-{process}"
            assert name in seen, f"{name} has no PostgreSQL connection: is it running on its store?"
            assert seen[name] <= pg_connections(process), f"{name} holds {seen[name]} connections"
