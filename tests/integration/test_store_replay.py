"""ServiceApplication.replay (the lean read path for projection rebuilds) gives exactly the
values the mapper's domain events carry, on every store the services run on: SQLite,
PostgreSQL and memory; encrypted at rest or not; with upcast event classes."""
from __future__ import annotations

import base64
import os
import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest
from eventsourcing.domain import Aggregate, event

from shared.settings import load_settings, store_env
from shared.store import ServiceApplication

FIELDS = ("client_id", "on", "amount", "nested", "items", "note", "timestamp", "missing")


class Thing(Aggregate):
    @event("Made")
    def __init__(self, client_id: uuid.UUID, on: date, amount: Decimal, nested: dict, items: list, note: str):
        pass

    @event("Noted")
    def noted(self, note: str) -> None:
        pass

    class Moved(Aggregate.Event):
        class_version = 2
        client_id: uuid.UUID
        note: str

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["note"] = "upcast:" + state.get("note", "")

    @event(Moved)
    def move(self, client_id: uuid.UUID, note: str) -> None:
        pass


class Things(ServiceApplication):
    name = "things"


def fill(app: Things) -> None:
    for i in range(30):
        thing = Thing(client_id=uuid.uuid4(), on=date(2026, 1, 1 + i % 28), amount=Decimal("12.50"),
                      nested={"station": uuid.uuid4(), "at": [datetime(2026, 2, 1, 9, 30), {"_type_": "plain"}]},
                      items=[uuid.uuid4(), 3, "x"], note=f"n{i}")
        thing.noted(note="again")
        thing.move(client_id=uuid.uuid4(), note="moved")
        app.save(thing)
    # A version-1 Moved as an older release stored it: replay must upcast it as the mapper does.
    thing = Thing(client_id=uuid.uuid4(), on=date(2026, 3, 1), amount=Decimal(1), nested={}, items=[], note="old")
    thing.move(client_id=uuid.uuid4(), note="v1")
    Thing.Moved.class_version = 1  # stored as version 1
    try:
        app.save(thing)
    finally:
        Thing.Moved.class_version = 2


def expected(app: Things) -> list:
    out = []
    for n in app.notifications():
        state = vars(app.mapper.to_domain_event(n))
        out.append((n.id, n.topic, {f: state[f] for f in FIELDS if f in state}))
    return out


def app_for(url: str, cipher: bool) -> Things:
    env = {"JINGKANG_THINGS_STORE": url}
    if cipher:
        env["JINGKANG_THINGS_CIPHER_KEY"] = base64.b64encode(os.urandom(32)).decode()
    return Things(env=store_env(load_settings("things", env)))


@pytest.mark.parametrize("cipher", [False, True])
@pytest.mark.parametrize("store", ["sqlite", "memory", "postgres"])
def test_replay_gives_the_mappers_values(store, cipher, tmp_path, request):
    url = {"sqlite": f"sqlite:///{tmp_path}/things.sqlite", "memory": "memory://"}.get(store)
    if store == "postgres":
        url = request.getfixturevalue("pg_store_url")
    app = app_for(url, cipher)
    fill(app)
    want = expected(app)
    assert len(want) == 92
    assert list(app.replay(FIELDS, page=7)) == want  # pages smaller than the log
    assert list(app.replay(FIELDS)) == want
    assert [(n, t) for n, t, _ in app.replay((), after=want[40][0])] == [(n, t) for n, t, _ in want[41:]]
    moved = [t for _, t, _ in want if t.endswith("Moved")][0]
    assert [v for _, _, v in app.replay(("note",), topics=[moved])] == [v for _, t, v in expected_note(want, moved)]
    assert [v["note"] for _, t, v in want if t == moved] == ["moved"] * 30 + ["upcast:v1"]  # only the v1 one is upcast
    app.close()


def expected_note(want: list, topic: str) -> list:
    return [(n, t, {"note": v["note"]}) for n, t, v in want if t == topic]
