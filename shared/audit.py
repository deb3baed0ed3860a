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

Stores are found from the same settings the services use (JINGKANG_<SVC>_STORE, ...).
Personal identifiers held by intake are never printed (the `applicant` is redacted).
The performance indicators are not built yet."""
from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any
from uuid import UUID

from shared.chain import Finding, seals_for, verify
from shared.settings import load_settings, store_env
from shared.store import ServiceApplication, event_meta

REDACTED = {"applicant", "guardian", "goals", "note", "notes", "secret"}  # personal data, free text, secrets


SERVICES = ("intake", "assessment", "referral", "funding", "notification")


def open_store(service: str) -> ServiceApplication:
    settings = load_settings(service)
    env = store_env(settings)
    if service == "intake" and not settings.cipher_key:
        env.pop("CIPHER_TOPIC", None)
    return ServiceApplication(env=env)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("<redacted>" if k in REDACTED else _plain(v)) for k, v in value.items() if not k.startswith("_")}
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
    args = parser.parse_args(argv)
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
