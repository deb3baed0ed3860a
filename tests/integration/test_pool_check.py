"""The pool's connection check (shared.store.discard_dead) on a real PostgreSQL: a healthy
idle connection passes without a round trip, and a connection whose server session ended
(as after a database restart) is never handed out."""
from __future__ import annotations

import dataclasses

import psycopg
import pytest
from eventsourcing.domain import Aggregate

from shared.settings import load_settings, store_env
from shared.store import ServiceApplication, discard_dead

pytestmark = pytest.mark.integration


class Things(ServiceApplication):
    name = "things"


class Thing(Aggregate):
    pass


def ended(admin, pids) -> None:
    """End those server sessions, as a restart does, and wait until they are gone."""
    admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (list(pids),))
    for _ in range(500):
        if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)).fetchone():
            return
        admin.execute("SELECT pg_sleep(0.01)")
    raise AssertionError("the sessions did not end")


def test_a_healthy_idle_connection_passes_without_a_round_trip(postgres_url, monkeypatch):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SELECT 1")

        def no_round_trip(*args, **kwargs):
            raise AssertionError("the check went to the server")

        monkeypatch.setattr(conn, "execute", no_round_trip)
        discard_dead(conn)


def test_a_connection_whose_session_ended_is_refused(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn, psycopg.connect(postgres_url, autocommit=True) as admin:
        ended(admin, [conn.info.backend_pid])
        with pytest.raises(psycopg.OperationalError):
            for _ in range(200):  # the termination notice reaches the socket shortly after
                discard_dead(conn)
                admin.execute("SELECT pg_sleep(0.01)")


def test_the_store_pool_hands_out_only_live_connections_after_its_sessions_end(pg_store_url, postgres_url):
    settings = dataclasses.replace(load_settings("things", {"JINGKANG_THINGS_STORE": pg_store_url}), process="api")
    app = Things(env=store_env(settings))
    try:
        app.save(Thing())
        pool = app.store_pool()
        held = [pool.getconn() for _ in range(settings.pool_size)]  # every connection of the pool
        pids = {conn.info.backend_pid for conn in held}
        for conn in held:
            pool.putconn(conn)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            ended(admin, pids)
        # Each connection taken works at its first statement (no library retry in between). The
        # pool replaces the dead ones in the background, backing off between its checks (as it
        # did with the pre-ping): the wait is longer than the store's one-second default.
        for _ in range(settings.pool_size + 1):
            with pool.connection(timeout=30) as conn:
                assert conn.execute("SELECT 1").fetchone() is not None
                assert conn.info.backend_pid not in pids
        app.save(Thing())
    finally:
        app.close()
