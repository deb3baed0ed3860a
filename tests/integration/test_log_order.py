"""The notification log on a real PostgreSQL is committed in id order, so a reader tailing it
as the relay does (everything after the last id it saw) never passes over an event.

The PostgreSQL soak once lost two ApplicationSubmitted: API processes save through the
library's one-call insert function, which took no table lock, so a save could commit while
an earlier-issued id was still uncommitted, and the relay moved past that id for good."""
from __future__ import annotations

import dataclasses
import threading

import psycopg
import pytest
from eventsourcing.domain import Aggregate

from shared.settings import load_settings, store_env
from shared.store import ServiceApplication
from tests.support import wait_until

pytestmark = pytest.mark.integration


class Things(ServiceApplication):
    name = "things"


class Thing(Aggregate):
    pass


def api_app(store_url: str) -> Things:
    settings = dataclasses.replace(load_settings("things", {"JINGKANG_THINGS_STORE": store_url}), process="api")
    return Things(env=store_env(settings))


def test_a_save_waits_while_an_earlier_id_is_uncommitted_so_a_tailing_reader_misses_none(pg_store_url, postgres_url):
    app = api_app(pg_store_url)
    recorder = app.recorder
    assert recorder.datastore.enable_db_functions  # the API's insert path is the one under test
    table = f"{recorder.datastore.schema}.{recorder.events_table_name}"
    try:
        app.save(Thing())
        start = recorder.max_notification_id()
        stored = [app.mapper.to_stored_event(e) for e in Thing().collect_events()]
        events = [recorder.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
                  for e in stored]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            # Given one API save in flight: its id issued, its transaction not yet committed
            with recorder.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
                curs.execute(recorder.sql_invoke_pg_function_insert_events, (events,))
                [first_id] = [value for row in curs.fetchall() for value in row.values()]
                # When another save starts
                saver = threading.Thread(target=app.save, args=(Thing(),))
                saver.start()
                wait_until(lambda: not saver.is_alive() or admin.execute(
                    "SELECT 1 FROM pg_locks WHERE NOT granted AND relation = %s::regclass", (table,)).fetchone(),
                    timeout=30, interval=0.05, what="the second save to finish or to wait for the lock")
                # Then it has not committed ahead of the first: a reader sees neither yet
                seen = [n.id for n in recorder.select_notifications(start=start, limit=10, inclusive_of_start=False)]
                assert seen == [], f"id {seen} committed while {first_id} was not: a tailing reader passes over it"
            saver.join(timeout=30)
            assert not saver.is_alive()
        # and once the first commits, the second follows it, in id order
        seen = [n.id for n in recorder.select_notifications(start=start, limit=10, inclusive_of_start=False)]
        assert seen == [first_id, first_id + 1]
    finally:
        app.close()
