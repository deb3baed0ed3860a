"""`jingkang`: the auditor's and operator's command (installed into the venv by `make install`;
also `python -m cli`). Read-only except `rebuild`, which empties and refills the supervision
read model, and `token`, which prints a development bearer token.

  jingkang verify [--service intake]            recompute each service's hash chain
  jingkang log --service referral [--after 0] [--limit 50]
  jingkang aggregate --service assessment --id UUID [--version N]
  jingkang replay --client UUID [--as-of 2026-05-01T00:00:00+08:00] [--json]
  jingkang indicators --district 110105 --from 2026-01-01 --to 2026-06-30 [--evidence] [--json]
  jingkang rebuild supervision
  jingkang token --role auditor --district 110105 --sub a-1      (never in production)

Stores and the broker are found with the services' own settings (JINGKANG_<SVC>_STORE,
JINGKANG_DATA_DIR, JINGKANG_KAFKA, ...). Outside production the development keys `make up`
keeps in the data dir (intake.key, jwt.key) are used when the variable is not set. A missing
key, store or broker is one line saying what is missing and how to give it, exit status 2."""
from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Optional
from urllib.parse import urlparse
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

SERVICES = ("intake", "assessment", "referral", "funding", "notification", "supervision")
CASE_SERVICES = SERVICES[:5]  # the services that hold events about clients

app = typer.Typer(help="The auditor's and operator's command: chains, logs, aggregates, a client's case, "
                       "indicators from the topics, the supervision rebuild, development tokens.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Missing(Exception):
    """What the command needs and does not have, said in one line with how to give it."""


def environment() -> dict[str, str]:
    """The process environment, plus `make up`'s development keys from the data dir when the
    variables are unset (never in production: there the operator gives every key)."""
    env = dict(os.environ)
    if env.get("JINGKANG_ENV", "development") != "production":
        data = Path(env.get("JINGKANG_DATA_DIR", ".data"))
        for variable, file in (("JINGKANG_INTAKE_CIPHER_KEY", "intake.key"), ("JINGKANG_INTAKE_LOOKUP_KEY", "intake-lookup.key"),
                               ("JINGKANG_JWT_KEY", "jwt.key")):
            if not env.get(variable) and (data / file).is_file():
                env[variable] = (data / file).read_text().strip()
    return env


def shown(url: str) -> str:
    """A store URL without its password."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def store_of(service: str, env: Mapping[str, str]):
    """The service's event store, opened for reading, or Missing saying why not."""
    from shared.audit import open_store
    from shared.settings import SettingsError, load_settings

    variable = f"JINGKANG_{service.upper()}_STORE"
    try:
        settings = load_settings(service, env)
    except SettingsError as e:
        raise Missing(str(e)) from None
    url = urlparse(settings.store_url)
    if url.scheme == "sqlite" and not Path(url.path).is_file():
        raise Missing(f"no {service} store at {url.path}: run from the directory `make up` ran in, "
                      f"or set JINGKANG_DATA_DIR or {variable}")
    try:
        store = open_store(service, env)
        store.ping()
    except Missing:
        raise
    except Exception as e:
        raise Missing(f"cannot reach the {service} store at {shown(settings.store_url)} ({type(e).__name__}): "
                      f"check {variable}") from None
    if service == "intake" and not settings.cipher_key and _encrypted(store):
        raise Missing("intake's store is encrypted at rest: set JINGKANG_INTAKE_CIPHER_KEY "
                      "(`make up` keeps its development key in <data dir>/intake.key)")
    return store


def _encrypted(store) -> bool:
    first = store.recorder.select_notifications(start=0, limit=1)
    if not first:
        return False
    try:
        store.mapper.to_domain_event(first[0])
        return False
    except Exception:
        return True


def kafka_of(env: Mapping[str, str]) -> str:
    from shared.api import broker_reachable

    bootstrap = env.get("JINGKANG_KAFKA", "127.0.0.1:9092")
    try:
        broker_reachable(bootstrap)
    except ConnectionError:
        raise Missing(f"no Kafka broker answers at {bootstrap}: start it (`make up`) or set JINGKANG_KAFKA") from None
    return bootstrap


def run(body: Callable[[], Any]) -> Any:
    """Run a command's body: what is missing is one line on stderr and exit status 2."""
    from kafka.errors import KafkaError

    try:
        return body()
    except Missing as e:
        err.print(f"jingkang: {e}", markup=False)
        raise typer.Exit(2) from None
    except KafkaError as e:
        err.print(f"jingkang: Kafka failed ({type(e).__name__}): check JINGKANG_KAFKA and that the broker is up",
                  markup=False)
        raise typer.Exit(2) from None


def service_option(value: str) -> str:
    if value not in SERVICES:
        raise typer.BadParameter(f"one of {', '.join(SERVICES)}")
    return value


def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


# --- commands --------------------------------------------------------------------------------------------

@app.command()
def verify(service: Optional[str] = typer.Option(None, help="one service (default: all six)", callback=lambda v: v and service_option(v))):
    """Recompute each service's hash chain from its stored events; exit status 1 if a record
    was altered, deleted, inserted or reordered (the first one is named)."""
    from shared.audit import all_notifications
    from shared.chain import seals_for, verify as verify_chain
    from shared.settings import load_settings

    def body() -> int:
        env, failed = environment(), False
        for name in [service] if service else SERVICES:
            store = store_of(name, env)
            checked, finding = verify_chain(all_notifications(store), seals_for(load_settings(name, env).store_url).all())
            out.print(f"{name}: {checked} records verified" + (f"; FIRST PROBLEM: {finding}" if finding else "; chain intact"),
                      markup=False)
            failed = failed or finding is not None
        return 1 if failed else 0

    code = run(body)
    raise typer.Exit(code)


@app.command()
def log(service: str = typer.Option(..., callback=service_option), after: int = typer.Option(0, help="log position"),
        limit: int = typer.Option(50, min=1), as_json_: bool = typer.Option(False, "--json", help="JSON lines")):
    """A service's events in log order: position, time, aggregate, version, event, actor, role."""
    from shared.audit import log as read_log

    rows = run(lambda: read_log(store_of(service, environment()), after, limit))
    if as_json_:
        for row in rows:
            out.print(json.dumps(row, ensure_ascii=False), markup=False, soft_wrap=True)
        return
    table = Table("position", "time", "aggregate", "v", "event", "actor", "role", title=f"{service} log after {after}")
    for r in rows:
        table.add_row(str(r["position"]), r["time"][:19], r["aggregate"], str(r["version"]), r["event"],
                      r["actor"] or "-", r["role"] or "-")
    out.print(table)


@app.command()
def aggregate(service: str = typer.Option(..., callback=service_option), id: UUID = typer.Option(..., help="aggregate id"),
              version: Optional[int] = typer.Option(None, help="as it was at this version (default: now)")):
    """One aggregate rebuilt from its events (personal data redacted), as JSON."""
    from eventsourcing.application import AggregateNotFoundError

    from shared.audit import aggregate as rebuild_aggregate

    def body() -> dict:
        store = store_of(service, environment())
        try:
            return rebuild_aggregate(store, id, version)
        except AggregateNotFoundError:
            raise Missing(f"no aggregate {id} in the {service} store" + (f" at version {version}" if version else "")) from None

    out.print(as_json(run(body)), markup=False, soft_wrap=True)


@app.command()
def replay(client: UUID = typer.Option(..., help="the pseudonymous client id"),
           as_of: Optional[datetime] = typer.Option(None, "--as-of", help="only what was recorded by then (ISO 8601)",
                                                    formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
           as_json_: bool = typer.Option(False, "--json")):
    """One client's case across the five services in time order: each service's internal
    event beside the public event it was published as. Events of shared aggregates (a
    station, a district's placements) that name another client are left out."""
    import importlib

    from shared.audit import client_events

    def body() -> list[dict]:
        env, rows = environment(), []
        for service in CASE_SERVICES:
            to_public = importlib.import_module(f"services.{service}.contracts").to_public
            for row in client_events(store_of(service, env), client, as_of, to_public):
                rows.append({"service": service, **row})
        return sorted(rows, key=lambda r: (r["time"], r["service"], r["position"]))

    rows = run(body)
    if as_json_:
        out.print(as_json({"client_id": str(client), "as_of": as_of.isoformat() if as_of else None, "events": rows}),
                  markup=False, soft_wrap=True)
        return
    table = Table("time", "service", "event (internal)", "public event", "v", "actor",
                  title=f"client {client}" + (f" as of {as_of.isoformat()}" if as_of else ""))
    for r in rows:
        table.add_row(r["time"][:19], r["service"], r["type"], r["public_type"] or "(not published)", str(r["version"]),
                      r["actor"] or "-")
    out.print(table)


@app.command()
def indicators(district: str = typer.Option(..., help="county code (or a city's, for its counties together)"),
               start: datetime = typer.Option(..., "--from", formats=["%Y-%m-%d"], help="first day, included"),
               end: datetime = typer.Option(..., "--to", formats=["%Y-%m-%d"], help="last day, included"),
               main_districts: str = typer.Option("", help="comma-separated codes held to 50% street coverage "
                                                             "(default JINGKANG_SUPERVISION_MAIN_DISTRICTS)"),
               evidence: bool = typer.Option(False, help="list the CloudEvent ids behind each figure"),
               as_json_: bool = typer.Option(False, "--json")):
    """A district's indicators computed here from the five public topics read from the
    beginning (not from the supervision service): what its figures must equal."""
    from services.supervision.consumers import indicators_from_topics

    if end < start:
        raise typer.BadParameter("--to is before --from")
    env = environment()
    main = [d.strip() for d in (main_districts or env.get("JINGKANG_SUPERVISION_MAIN_DISTRICTS", "")).split(",") if d.strip()]

    def body() -> dict:
        bootstrap = kafka_of(env)
        with out.status("reading the public topics from the beginning"):
            return indicators_from_topics(bootstrap, district=district, start=start.date(), end=end.date(),
                                          main_districts=main, evidence=evidence)

    result = run(body)
    if as_json_:
        out.print(as_json(result), markup=False, soft_wrap=True)
        return
    table = Table("indicator", "value", "numerator", "denominator", "target", "met", "evidence",
                  title=f"{district} {result['from']} .. {result['to']}")
    for name, f in result["indicators"].items():
        count = len(f["evidence"]) if "evidence" in f else f["evidence_count"]
        table.add_row(name, _text(f["value"]), _text(f["numerator"]), _text(f["denominator"]), _text(f["target"]),
                      {True: "yes", False: "NO", None: "-"}[f["met"]], str(count))
    out.print(table)
    counts = result["events"]
    out.print(f"events read {counts['read']}, used {counts['used']}, duplicates {counts['duplicates']}, "
              f"skipped {counts['skipped']}, unreadable {counts['unreadable']}", markup=False)


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


@app.command()
def rebuild(what: str = typer.Argument(..., help="supervision: its read model")):
    """Empty a read model and refill it from the topics, from the beginning to now. Stop the
    supervision worker first; started again, it goes on from where the rebuild stopped."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if what != "supervision":
        raise typer.BadParameter("only `supervision` has a read model to rebuild")

    def body() -> dict:
        from services.supervision.consumers import rebuild as rebuild_model
        from services.supervision.readmodel import ReadModel
        from services.supervision.settings import load_settings, rules
        from services.supervision.application import Supervision
        from shared.settings import SettingsError

        env = environment()
        kafka_of(env)
        try:
            settings = load_settings(env)
        except SettingsError as e:
            raise Missing(str(e)) from None
        try:
            model = ReadModel(settings.store_url)
        except Exception as e:
            raise Missing(f"cannot open the supervision store at {shown(settings.store_url)} ({type(e).__name__}): "
                          "check JINGKANG_SUPERVISION_STORE") from None
        with Progress(TextColumn("rebuilding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=out) as progress:
            task = progress.add_task("messages", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            try:
                return rebuild_model(settings, Supervision(model, rules(settings)), progress=advance)
            finally:
                model.close()

    done = run(body)
    out.print(f"supervision read model rebuilt: {done['read']} messages read, {done['stored']} facts stored, "
              f"{done['dead_letters']} dead letters", markup=False)


@app.command()
def token(role: str = typer.Option(...), district: list[str] = typer.Option([], help="county code; repeat; * for all"),
          sub: str = typer.Option(..., help="staff or system id (not a name)"),
          hours: float = typer.Option(8.0, help="valid for this long")):
    """A development bearer token for the APIs (refused in production)."""
    from shared.auth import ROLES, Authority

    if role not in ROLES:
        raise typer.BadParameter(f"one of {', '.join(ROLES)}", param_hint="--role")

    def body() -> str:
        env = environment()
        if env.get("JINGKANG_ENV", "development") == "production":
            raise Missing("no development tokens in production: tokens come from the identity provider")
        if not env.get("JINGKANG_JWT_KEY"):
            raise Missing("no signing key: set JINGKANG_JWT_KEY (`make up` keeps its development key in <data dir>/jwt.key)")
        return Authority(env["JINGKANG_JWT_KEY"], env.get("JINGKANG_JWT_ISSUER", "jingkang-dev")).issue(
            sub=sub, role=role, districts=list(district), ttl_seconds=int(hours * 3600))

    out.print(run(body), markup=False, soft_wrap=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
