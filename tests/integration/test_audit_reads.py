"""The auditor's read of one client's events (shared.audit.client_events) on real stores:
it decodes only the events found to concern the client, and finds exactly what reading and
decoding the whole log finds (the rule, written out here as the reference), on SQLite and
PostgreSQL, with and without encryption at rest."""
from __future__ import annotations

import base64
import dataclasses
import os
import random
from datetime import datetime, timezone
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate, event

from shared.audit import _uuids, client_events
from shared.settings import load_settings, store_env
from shared.store import ServiceApplication

pytestmark = pytest.mark.integration


class Cases(ServiceApplication):
    name = "cases"


class Record(Aggregate):
    """The client's own aggregate (its id is the client's): its later events do not name it."""
    @staticmethod
    def create_id(client_id: UUID) -> UUID:
        return client_id

    @event("Opened")
    def __init__(self, client_id: UUID):
        self.notes = 0

    @event("Noted")
    def note(self, text: str) -> None:
        self.notes += 1


class Referral(Aggregate):
    """First event names the client and a station; later ones name neither."""
    @event("Requested")
    def __init__(self, client_id: UUID, station_id: UUID, application_id: UUID):
        self.status = "requested"

    @event("Accepted")
    def accept(self) -> None:
        self.status = "accepted"


class Application(Aggregate):
    """Named by a referral's events only (linked): none of its events names the client."""
    @event("Submitted")
    def __init__(self, source: str):
        self.source = source

    @event("Verified")
    def verify(self) -> None:
        pass


class Placement(Aggregate):
    """Shared by every client of a district: only its events naming the client are theirs."""
    @event("Started")
    def __init__(self, district: str):
        self.placed: list = []

    @event("Placed")
    def place(self, client_id: UUID, station_id: UUID) -> None:
        self.placed.append(client_id)


class Station(Aggregate):
    @event("Registered")
    def __init__(self, name: str):
        self.name = name


def whole_log_rule(app: ServiceApplication, client_id: UUID, as_of: datetime | None) -> list[int]:
    """The rule, by decoding every stored event: the client's own aggregates (its own, those
    whose first event names it, those their events name) whole, and any event naming it."""
    stored = [(n, app.mapper.to_domain_event(n)) for n in app.notifications()]
    originators = {n.originator_id for n, _ in stored}
    own = {client_id} | {n.originator_id for n, e in stored if n.originator_version == 1 and client_id in _uuids(e)}
    own |= {u for n, e in stored if n.originator_id in own for u in _uuids(e) & originators}
    return [n.id for n, e in stored if not (as_of and e.timestamp > as_of)
            and (n.originator_id in own or client_id in _uuids(e))]


def district(app: ServiceApplication, clients: int, rng: random.Random) -> tuple[list[UUID], datetime]:
    stations = [Station(name=f"station {i}") for i in range(3)]
    placement = Placement(district="110105")
    app.save(*stations, placement)
    ids, middle = [], None
    for i in range(clients):
        client_id = uuid4()
        ids.append(client_id)
        record, application = Record(client_id), Application(source="hospital_discharge")
        referral = Referral(client_id=client_id, station_id=rng.choice(stations).id, application_id=application.id)
        app.save(record, application, referral)
        if i == clients // 2:
            middle = datetime.now(timezone.utc)
    for client_id in rng.sample(ids, len(ids)):  # later events, interleaved across clients
        record = app.repository.get(client_id)
        record.note("seen")
        placement = app.repository.get(placement.id)
        placement.place(client_id=client_id, station_id=rng.choice(stations).id)
        app.save(record, placement)
    for n, e in [(n, app.mapper.to_domain_event(n)) for n in app.notifications()]:
        if isinstance(e, Referral.Requested) and rng.random() < 0.5:
            referral = app.repository.get(n.originator_id)
            referral.accept()
            application = app.repository.get(e.application_id)
            application.verify()
            app.save(referral, application)
    return ids, middle


@pytest.fixture(params=["sqlite", "sqlite, encrypted", "postgresql", "postgresql, encrypted"])
def cases(request, tmp_path):
    if request.param.startswith("postgresql"):
        url = request.getfixturevalue("pg_store_url")
    else:
        url = f"sqlite:///{tmp_path}/cases.sqlite"
    env = {"JINGKANG_CASES_STORE": url}
    if request.param.endswith("encrypted"):
        env["JINGKANG_CASES_CIPHER_KEY"] = base64.b64encode(os.urandom(32)).decode()
    settings = dataclasses.replace(load_settings("cases", env), process="api")
    app = Cases(env=store_env(settings))
    yield app
    app.close()


def test_a_clients_events_are_those_the_whole_log_rule_finds_and_no_other_is_decoded(cases, monkeypatch):
    rng = random.Random(7)
    clients, middle = district(cases, 12, rng)
    asked = [(client_id, as_of) for client_id in clients[:4] + [uuid4()]  # and one the store never heard of
             for as_of in (None, middle)]
    expected = {key: whole_log_rule(cases, *key) for key in asked}  # decoded the whole log, before counting
    decoded = []
    to_domain_event = cases.mapper.to_domain_event
    monkeypatch.setattr(cases.mapper, "to_domain_event", lambda n: decoded.append(n.id) or to_domain_event(n))
    for client_id, as_of in asked:
        decoded.clear()
        found = [row["position"] for row in client_events(cases, client_id, as_of)]
        assert found == expected[(client_id, as_of)]
        # Only what concerns the client was decoded, not the district's whole log
        assert set(decoded) <= set(expected[(client_id, None)])
    # The client's own record, the referral naming it, its application and the placement's
    # event naming it are all there
    names = {row["type"] for row in client_events(cases, clients[0], None)}
    assert {"Record.Opened", "Record.Noted", "Referral.Requested", "Application.Submitted", "Placement.Placed"} <= names
