"""The auditor's reads of a service's event store (read-only), shared by the `jingkang`
command (cli/) and every service's audit routes (`install_audit`):

- `log`: the service's events in log order: position, time, aggregate, version, event, actor, role
- `aggregate`: one aggregate rebuilt from its events, as it was at version N (default: now)
- `client_history`: one client's whole case across the five services in time order, and
  what each service believed about it at that moment (each related aggregate at the version then)
- `verify_service`: recompute a service's hash chain and name the first record that was
  altered, deleted, inserted or reordered
- `PublicEventReader`: the five public topics read from the beginning without a group

Stores are found from the same settings the services use (JINGKANG_<SVC>_STORE, ...);
the topics from JINGKANG_KAFKA. Personal identifiers held by intake are never printed
(the `applicant` is redacted); public events carry none."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Annotated, Any, Callable, Iterable, Mapping
from uuid import UUID

from fastapi import Query


from shared.chain import Finding, seals_for, verify
from shared.settings import ServiceSettings, load_settings, store_env
from shared.store import ServiceApplication, event_meta
from shared.topics import public_topics

REDACTED = {"applicant", "guardian", "identity", "lookup_hash", "goals", "note", "notes", "secret"}  # personal data, free text, secrets


SERVICES = ("intake", "assessment", "referral", "funding", "notification")


def open_store(service: str, environ: Mapping[str, str] | None = None) -> ServiceApplication:
    """A service's event store, opened for reading with the service's own settings."""
    settings = load_settings(service, environ)
    env = store_env(settings)
    if service == "intake" and not settings.cipher_key:
        env.pop("CIPHER_TOPIC", None)
    # eventsourcing names PostgreSQL tables after the application (intake_events, ...): a
    # plain ServiceApplication would read an empty `serviceapplication_events` instead.
    store = type(f"{service.capitalize()}Store", (ServiceApplication,), {"name": service})
    return store(env=env)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        # Keys may be ids (a placement keyed by client): shown as text, like every other value.
        return {str(k): ("<redacted>" if k in REDACTED else _plain(v)) for k, v in value.items()
                if not (isinstance(k, str) and k.startswith("_"))}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def log(app: ServiceApplication, after: int, limit: int) -> list[dict]:
    rows = []
    for n in app.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False):
        event = app.mapper.to_domain_event(n)
        meta = event_meta(event)
        rows.append({"position": n.id, "time": event.timestamp.isoformat(), "aggregate": str(n.originator_id),
                     "version": n.originator_version, "event": type(event).__qualname__,
                     "actor": meta.get("actor"), "role": meta.get("role")})
    return rows


def aggregate(app: ServiceApplication, aggregate_id: UUID, version: int | None) -> dict:
    state = app.repository.get(aggregate_id, version=version)
    return {"type": type(state).__name__, "id": str(state.id), "version": state.version, "state": _plain(vars(state))}


def _uuids(domain_event) -> set[UUID]:
    return {v for k, v in vars(domain_event).items() if isinstance(v, UUID) and not k.startswith("_")}


def client_history(apps: dict[str, ServiceApplication], client_id: UUID, as_of: datetime | None = None) -> dict:
    """Events about the client (up to as_of) from every service, merged in time order, and
    each related aggregate as it was then. An aggregate is related when one of its events
    names the client, or names an aggregate so related (an application, a referral)."""
    events, believed = [], {}
    for service, app in apps.items():
        stored = [(n, app.mapper.to_domain_event(n)) for n in all_notifications(app)]
        related = {client_id}
        for n, e in stored:
            if n.originator_id == client_id or client_id in _uuids(e):
                related.add(n.originator_id)
                related |= {u for u in _uuids(e) if u in {m.originator_id for m, _ in stored}}
        versions: dict[UUID, int] = {}
        for n, e in stored:
            if n.originator_id not in related or (as_of and e.timestamp > as_of):
                continue
            versions[n.originator_id] = max(versions.get(n.originator_id, 0), n.originator_version)
            meta = event_meta(e)
            events.append({"time": e.timestamp.isoformat(), "service": service, "aggregate": str(n.originator_id),
                           "version": n.originator_version, "event": type(e).__qualname__,
                           "actor": meta.get("actor"), "role": meta.get("role")})
        believed[service] = {str(a): aggregate(app, a, v) for a, v in versions.items()}
    events.sort(key=lambda row: (row["time"], row["service"], row["version"]))
    return {"client_id": str(client_id), "as_of": as_of.isoformat() if as_of else None, "events": events,
            "believed": believed}


def all_notifications(app: ServiceApplication):
    return app.notifications()


def verify_service(service: str, environ: Mapping[str, str] | None = None) -> tuple[int, Finding | None]:
    settings = load_settings(service, environ)
    return verify(all_notifications(open_store(service, environ)), seals_for(settings.store_url).all())


class PublicEventReader:
    """The five public topics, read from the beginning by a fresh kafka-python consumer with
    no group: it commits nothing and disturbs no service's consumer group. `read_to_end()`
    reads everything published up to the moment it is called (the end offsets then); called
    again, it reads only what came since, so `events` grows. Thread-safe."""

    def __init__(self, bootstrap: str, topics: Iterable[str] | None = None, timeout_seconds: float = 120.0):
        self.bootstrap = bootstrap
        self.topics = list(topics or public_topics())
        self.timeout_seconds = timeout_seconds
        self.events: list[dict] = []
        self.unreadable = 0  # messages that are not a JSON object (never ours)
        self._consumer = None
        self._lock = threading.Lock()

    def read_to_end(self) -> int:
        """Read up to the end offsets as of now; return how many events were new."""
        from kafka import KafkaConsumer

        with self._lock:
            if self._consumer is None:  # lazily, so a server starts while Kafka is down
                self._consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                               client_id="jingkang-audit")
            consumer, before = self._consumer, len(self.events)
            partitions = self._assign_new_partitions()
            end = consumer.end_offsets(list(partitions)) if partitions else {}
            deadline = time.monotonic() + self.timeout_seconds
            while any(consumer.position(tp) < end[tp] for tp in partitions):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the public topics were not read to their end in {self.timeout_seconds:.0f} s")
                for records in consumer.poll(timeout_ms=500).values():
                    for message in records:
                        try:
                            ce = json.loads(message.value)
                        except (TypeError, ValueError):
                            ce = None
                        if isinstance(ce, dict):
                            self.events.append(ce)
                        else:
                            self.unreadable += 1
            return len(self.events) - before

    def _assign_new_partitions(self) -> set:
        """Every partition of the topics, new ones (a topic created since) from the beginning."""
        from kafka import TopicPartition

        consumer = self._consumer
        current = set(consumer.assignment())
        wanted = {TopicPartition(t, p) for t in self.topics for p in (consumer.partitions_for_topic(t) or ())}
        new = wanted - current
        if new:
            consumer.assign(list(current | new))
            consumer.seek_to_beginning(*new)
        return current | new

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.events)

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None


def to_json(value: Any) -> str:
    """Decimals (yuan, rates) as strings, exactly as computed: JSON numbers are floats to most readers."""
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)




# --- the audit routes every service serves (the console's auditor pages) ------------------------------

AUDIT_ACCESS: dict[str, tuple[str, ...]] = {
    "GET /v1/audit/chain": ("auditor",),
    "GET /v1/audit/clients/{client_id}/events": ("auditor",),
}


def client_events(app: ServiceApplication, client_id: UUID, as_of: datetime | None,
                  to_public: Callable[[Any], Iterable[Any]] | None = None) -> list[dict]:
    """This service's stored events about the client, in log order (up to as_of): every
    event of the client's own aggregates (the client's, those whose first event names the
    client, and those their events name: an application, a referral), and of a shared
    aggregate (a district's agenda or placements, a station) only the events that name the
    client. Attribution only: no state, so no personal identifier.

    Only the events found to concern the client are decoded: those whose state holds the
    client's id (ServiceApplication.notifications_containing), then the events of the
    aggregates so found, read by their ids (a case timeline decoded the whole log of every
    service before)."""
    from shared.contract import event_type

    def decoded(notifications) -> dict[int, tuple[Any, Any]]:
        return {n.id: (n, app.mapper.to_domain_event(n)) for n in notifications}

    naming = {nid: (n, e) for nid, (n, e) in decoded(app.notifications_containing(client_id.hex.encode())).items()
              if client_id in _uuids(e)}
    own = {client_id} | {n.originator_id for n, _ in naming.values() if n.originator_version == 1}
    events = decoded(app.notifications_of(own))
    named = {u for _, e in events.values() for u in _uuids(e)} - own
    events.update(decoded(app.notifications_of(named)))  # the linked aggregates: those named that exist
    events.update(naming)
    rows = []
    for _, (n, e) in sorted(events.items()):
        if as_of and e.timestamp > as_of:
            continue
        public = [event_type(type(p)) for p in (to_public(e) if to_public else ())]
        rows.append({"position": n.id, "time": e.timestamp.isoformat(), "type": type(e).__qualname__,
                     "public_type": public[-1] if public else None, "aggregate_id": str(n.originator_id),
                     "version": n.originator_version, "actor": event_meta(e).get("actor")})
    return rows


def install_audit(api, settings: ServiceSettings, app: ServiceApplication,
                  to_public: Callable[[Any], Iterable[Any]] | None = None) -> None:
    """GET /v1/audit/chain and GET /v1/audit/clients/{client_id}/events on a service's API
    (role auditor: shared.api adds AUDIT_ACCESS to every service's table)."""
    @api.get("/v1/audit/chain", tags=["audit"])
    def audit_chain() -> dict:
        """Recompute this service's hash chain from its stored events (shared/chain.py)."""
        checked, finding = verify(all_notifications(app), seals_for(settings.store_url).all())
        return {"service": settings.service, "events": checked, "verified": finding is None,
                "finding": None if finding is None else {"position": finding.position, "problem": finding.problem}}

    @api.get("/v1/audit/clients/{client_id}/events", tags=["audit"])
    def audit_client_events(client_id: UUID, as_of: Annotated[datetime | None, Query(
            description="only what was recorded by then (RFC 3339)")] = None) -> dict:
        """This service's events about the client, in log order, with who recorded each."""
        return {"events": client_events(app, client_id, as_of, to_public)}
