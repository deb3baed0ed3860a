"""An operator's command for a service's outbox relay (README "Operations"):

    python -m shared.relayctl status <service>
    python -m shared.relayctl withhold <service> <position> --reason too_large|unpublishable \\
        --note "why, for the audit" --by <staff id>

`status` prints, as JSON, the stored and published positions, the lag, and whether the relay
is blocked (at which position, why, since when) and what was withheld. `withhold` records the
decision not to publish the event the relay is blocked at: the stored event stays as it is
(immutable, hash-chained), the decision is an event of its own in the service's store,
attributed to `--by` with role `operator`, and the relay publishes the public marker
`jingkang.<service>.EventWithheld.v1` in its place at its next retry, then everything after.
Only the position the relay is blocked at can be withheld. The service's settings come from
the environment, as for its processes (shared/settings.py)."""
from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from typing import Any

from shared.contract.withheld import SERVICES, WITHHOLD_REASONS
from shared.errors import DomainError
from shared.outbox import RelayOutbox, outbox_of
from shared.relay import POSITION
from shared.store import command_context

STAFF_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def status(app: Any) -> dict[str, Any]:
    stored = app.recorder.max_notification_id() or 0
    published = app.recorder.max_tracking_id(POSITION) or 0
    outbox = outbox_of(app)
    blocked = None
    if outbox is not None and outbox.blocked_at is not None:
        blocked = {"position": outbox.blocked_at, "reason": outbox.reason,
                   "since": outbox.blocked_since.isoformat() if outbox.blocked_since else None}
    return {"stored_position": stored, "published_position": published, "lag": stored - published,
            "blocked": blocked, "withheld": {int(p): r for p, r in (outbox.withheld if outbox else {}).items()}}


def withhold(app: Any, position: int, *, reason: str, note: str, by: str) -> None:
    """Record the decision; raises a DomainError (nothing recorded) when it is not allowed."""
    if not STAFF_ID.match(by):
        raise ValueError("--by must be a staff id (letters, digits, _.@-), never a name")
    with command_context(actor=by, role="operator"):
        outbox = outbox_of(app) or RelayOutbox()
        outbox.withhold(position, reason, note)
        app.save(outbox)


def application_of(service: str) -> Any:
    """The service's Application over its store (its class names its tables)."""
    settings = importlib.import_module(f"services.{service}.settings").load_settings()
    if service == "supervision":  # a read model beside a small event store: the store is `reviews`
        return importlib.import_module("services.supervision.settings").create_supervision(settings).reviews
    return importlib.import_module(f"services.{service}.application").create_application(settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.relayctl", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("status", help="positions, lag, blocked or not, what was withheld")
    show.add_argument("service", choices=SERVICES)
    hold = commands.add_parser("withhold", help="publish a marker instead of the event the relay is blocked at")
    hold.add_argument("service", choices=SERVICES)
    hold.add_argument("position", type=int)
    hold.add_argument("--reason", required=True, choices=WITHHOLD_REASONS)
    hold.add_argument("--note", required=True, help="why, for the audit (kept internal, never published)")
    hold.add_argument("--by", required=True, help="your staff id (recorded as the actor)")
    args = parser.parse_args(argv)
    app = application_of(args.service)
    try:
        if args.command == "withhold":
            withhold(app, args.position, reason=args.reason, note=args.note, by=args.by)
        print(json.dumps({"service": args.service, **status(app)}, indent=2))
    except (DomainError, ValueError) as e:
        print(f"relayctl: {e}", file=sys.stderr)
        return 2
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
