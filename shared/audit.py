"""Auditor's replay of a service's event store (read-only).

  python -m shared.audit log --service referral [--after 0] [--limit 50]
      the service's events in log order: position, time, aggregate, version, event, actor, role
  python -m shared.audit aggregate --service assessment --id UUID [--version N]
      one aggregate rebuilt from its events, as it was at version N (default: now)
  python -m shared.audit replay --client UUID [--as-of 2026-05-01T00:00:00+08:00] [--table]
      one client's whole case across the five services in time order, and what each
      service believed about it at that moment (each related aggregate at the version then)
  python -m shared.audit verify [--service intake]
      recompute each service's hash chain from its stored events and name the first record
      that was altered, deleted, inserted or reordered (exit status 1 if any)
  python -m shared.audit indicators --district 110105 --from 2026-01-01 --to 2026-06-30
                                    [--main-districts 110105,110106] [--evidence]
      the district's performance indicators for the period (shared/indicators.py defines
      each), computed from the five public Kafka topics read from the beginning
  python -m shared.audit serve [--port 8010] [--main-districts 110105,110106]
      read-only HTTP for dashboards: GET /v1/indicators?district=&from=&to=[&evidence=true]

Stores are found from the same settings the services use (JINGKANG_<SVC>_STORE, ...);
the topics from JINGKANG_KAFKA. Personal identifiers held by intake are never printed
(the `applicant` is redacted); public events carry none."""
from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import date, datetime
from typing import Annotated, Any, Iterable
from uuid import UUID

from fastapi import Query, Request
from fastapi.responses import JSONResponse, Response

from shared.chain import Finding, seals_for, verify
from shared.indicators import compute, without_evidence
from shared.settings import ServiceSettings, load_settings, store_env
from shared.store import ServiceApplication, event_meta
from shared.topics import public_topics

REDACTED = {"applicant", "guardian", "identity", "lookup_hash", "goals", "note", "notes", "secret"}  # personal data, free text, secrets


SERVICES = ("intake", "assessment", "referral", "funding", "notification")


def open_store(service: str) -> ServiceApplication:
    settings = load_settings(service)
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


def verify_service(service: str) -> tuple[int, Finding | None]:
    settings = load_settings(service)
    return verify(all_notifications(open_store(service)), seals_for(settings.store_url).all())


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


def indicators(bootstrap: str, *, district: str, start: date, end: date, main_districts: Iterable[str] = (),
               evidence: bool = False) -> dict:
    """What `python -m shared.audit indicators` prints: the topics read from the beginning
    once, then shared.indicators.compute (evidence lists only when asked, else their counts)."""
    reader = PublicEventReader(bootstrap)
    try:
        reader.read_to_end()
        result = compute(reader.events, district=district, start=start, end=end, main_districts=main_districts)
    finally:
        reader.close()
    result["events"]["unreadable"] = reader.unreadable
    return result if evidence else without_evidence(result)


def to_json(value: Any) -> str:
    """Decimals (yuan, rates) as strings, exactly as computed: JSON numbers are floats to most readers."""
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def _district_list(text: str | None) -> list[str]:
    return [d.strip() for d in (text or "").split(",") if d.strip()]


# Dashboards are integrations; district admins and auditors supervise; funding officers follow the money.
INDICATOR_ACCESS: dict[str, tuple[str, ...]] = {
    "GET /v1/indicators": ("district_admin", "funding_officer", "auditor", "integration"),
}


def create_indicators_api(settings: ServiceSettings, reader: PublicEventReader, main_districts: Iterable[str] = ()):
    """Read-only HTTP for dashboards. Keeps the events read so far in memory; each request
    first reads what was published since the last one (the first request reads everything),
    then computes. No background consumer, no state beyond that list."""
    from kafka.errors import KafkaError

    from shared.api import broker_reachable, create_service_api
    from shared.auth import authority_for, check_district, principal_of
    from shared.errors import InvalidInput

    main = list(main_districts)
    api = create_service_api(
        "Jingkang audit", "Performance indicators computed from the public events (shared/indicators.py).",
        checks={"kafka": lambda: broker_reachable(settings.kafka_bootstrap)},
        authority=authority_for(settings), access=INDICATOR_ACCESS,
    )

    @api.get("/v1/indicators", tags=["indicators"])
    def get_indicators(request: Request,
                       district: Annotated[str, Query(pattern=r"^[0-9]{6}$", description="county code")],
                       start: Annotated[date, Query(alias="from", description="first day, included")],
                       end: Annotated[date, Query(alias="to", description="last day, included")],
                       evidence: Annotated[bool, Query(description="list the CloudEvent ids behind each figure")] = False):
        """The district's indicators for the period; every definition is in shared/indicators.py."""
        if end < start:
            raise InvalidInput("to", "must not be before from")
        check_district(principal_of(request), district)
        try:
            reader.read_to_end()
        except (KafkaError, TimeoutError) as e:
            detail = f"the public topics cannot be read: {type(e).__name__}"
            return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                                content={"error": "unavailable", "detail": detail})
        result = compute(reader.snapshot(), district=district, start=start, end=end, main_districts=main)
        result["events"]["unreadable"] = reader.unreadable
        return Response(to_json(result if evidence else without_evidence(result)), media_type="application/json")

    return api


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.audit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_log = sub.add_parser("log")
    p_log.add_argument("--service", required=True)
    p_log.add_argument("--after", type=int, default=0)
    p_log.add_argument("--limit", type=int, default=50)
    p_agg = sub.add_parser("aggregate")
    p_agg.add_argument("--service", required=True)
    p_agg.add_argument("--id", type=UUID, required=True)
    p_agg.add_argument("--version", type=int)
    p_replay = sub.add_parser("replay")
    p_replay.add_argument("--client", type=UUID, required=True)
    p_replay.add_argument("--as-of", type=datetime.fromisoformat)
    p_replay.add_argument("--table", action="store_true", help="a readable table instead of JSON")
    p_verify = sub.add_parser("verify")
    p_verify.add_argument("--service", choices=SERVICES)
    p_ind = sub.add_parser("indicators", help="a district's performance indicators from the public topics")
    p_ind.add_argument("--district", required=True)
    p_ind.add_argument("--from", dest="start", type=date.fromisoformat, required=True)
    p_ind.add_argument("--to", dest="end", type=date.fromisoformat, required=True)
    p_ind.add_argument("--main-districts", help="comma-separated codes held to 50%% street coverage "
                                                "(default JINGKANG_AUDIT_MAIN_DISTRICTS)")
    p_ind.add_argument("--evidence", action="store_true", help="list the CloudEvent ids behind each figure")
    p_serve = sub.add_parser("serve", help="read-only HTTP: GET /v1/indicators")
    p_serve.add_argument("--port", type=int, default=8010)
    p_serve.add_argument("--main-districts", help="as for indicators")
    args = parser.parse_args(argv)
    if args.command in ("indicators", "serve"):
        settings = load_settings("audit")
        main_districts = _district_list(args.main_districts or settings.extra.get("MAIN_DISTRICTS"))
        if args.command == "serve":
            import uvicorn

            reader = PublicEventReader(settings.kafka_bootstrap)
            uvicorn.run(create_indicators_api(settings, reader, main_districts), host=settings.http_host,
                        port=args.port, log_level="warning")
            return
        if args.end < args.start:
            parser.error("--to is before --from")
        print(to_json(indicators(settings.kafka_bootstrap, district=args.district, start=args.start, end=args.end,
                                 main_districts=main_districts, evidence=args.evidence)))
        return
    if args.command == "verify":
        failed = False
        for service in [args.service] if args.service else SERVICES:
            checked, finding = verify_service(service)
            print(f"{service}: {checked} records verified" + (f"; FIRST PROBLEM: {finding}" if finding else "; chain intact"))
            failed = failed or finding is not None
        raise SystemExit(1 if failed else 0)
    if args.command == "replay":
        history = client_history({s: open_store(s) for s in SERVICES}, args.client, args.as_of)
        if not args.table:
            print(json.dumps(history, ensure_ascii=False, indent=2))
            return
        for row in history["events"]:
            print(f"{row['time'][:19]}  {row['service']:<12} {row['event']:<34} v{row['version']:<3} "
                  f"{row['actor'] or '-'} ({row['role'] or '-'})")
        return
    app = open_store(args.service)
    if args.command == "log":
        for row in log(app, args.after, args.limit):
            print(json.dumps(row, ensure_ascii=False))
    else:
        print(json.dumps(aggregate(app, args.id, args.version), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
