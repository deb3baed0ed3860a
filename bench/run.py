"""Benchmarks of Jingkang against raw baselines, measured in the same run.

    .venv/bin/python bench/run.py [--full] [--only append,relay,replay,snapshot,growth,worker,e2e,http] [--out latest]

Writes bench/results/latest.json and latest.md (or OUT.json and OUT.md). See bench/README.md."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from eventsourcing.domain import Aggregate, event  # noqa: E402
from kafka import KafkaProducer  # noqa: E402

from shared.contract.assessment import ServiceSessionDelivered  # noqa: E402
from shared.envelope import CONTENT_TYPE, encode, event_id, to_cloudevent  # noqa: E402
from shared.relay import OutboxRelay, make_producer  # noqa: E402
from shared.settings import load_settings, store_env  # noqa: E402
from shared.store import ServiceApplication  # noqa: E402
from shared.telemetry import setup_tracing  # noqa: E402
from shared.topics import ensure_topics  # noqa: E402

# Ports of their own (not the test ports 5433/19092), so a bench run never disturbs a test run.
PG_PORT = int(os.environ.get("JINGKANG_BENCH_PG_PORT", "5733"))
KAFKA_PORT = int(os.environ.get("JINGKANG_BENCH_KAFKA_PORT", "19392"))
PG_URL = f"postgresql://jingkang:jingkang@127.0.0.1:{PG_PORT}/jingkang_test"
KAFKA = f"127.0.0.1:{KAFKA_PORT}"
E2E_BASE_PORT = int(os.environ.get("JINGKANG_BENCH_BASE_PORT", "18301"))  # the system's APIs: 18301-18305 (+50: raw app)
STATION = uuid.uuid4()


class Session(Aggregate):
    """A delivered session: a realistic small event (the most frequent one in production)."""

    @event("Delivered")
    def __init__(self, client_id: uuid.UUID, station_id: uuid.UUID, service_type: str, minutes: int):
        self.client_id = client_id
        self.minutes = minutes

    @event("Corrected")
    def correct(self, minutes: int) -> None:
        self.minutes = minutes


class Bench(ServiceApplication):
    name = "bench"
    snapshotting_intervals = {}


def to_public(domain_event):
    if isinstance(domain_event, Session.Delivered):
        yield ServiceSessionDelivered(
            client_id=domain_event.client_id, session_id=domain_event.originator_id, station_id=domain_event.station_id,
            service_type="social_skills", session_date=domain_event.timestamp.date(), minutes=domain_event.minutes,
            mode="group", attendance="attended")


# --- infrastructure -------------------------------------------------------------------------

def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def start_infrastructure() -> None:
    if not listening(PG_PORT):
        # A cluster of its own per port (as tests/conftest.py does): the default data dir is the
        # development cluster's, which may already run on another port.
        env = dict(os.environ, PG_PORT=str(PG_PORT))
        env.setdefault("PG_DATA", str(ROOT / f".cache/postgres-bench-{PG_PORT}/data"))
        subprocess.run([str(ROOT / "deploy/postgres/postgres.sh"), "start"], env=env, check=True)
    if not listening(KAFKA_PORT):
        subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "start"],
                       env=dict(os.environ, KAFKA_PORT=str(KAFKA_PORT), KAFKA_DATA=str(ROOT / f".cache/kafka-bench-{KAFKA_PORT}")), check=True)


def fresh_schema() -> str:
    schema = "bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return schema


def bench_app(schema: str, **env: str) -> Bench:
    settings = dataclasses.replace(
        load_settings("bench", {"JINGKANG_BENCH_STORE": f"{PG_URL}?schema={schema}", "JINGKANG_KAFKA": KAFKA}),
        process="api")  # commands are appended by API processes
    return Bench(env={**store_env(settings), **env})


def fill(app: Bench, n: int, per_save: int = 500) -> None:
    """Store n events quickly (many per transaction): setup, not measured."""
    done = 0
    while done < n:
        batch = [Session(client_id=uuid.uuid4(), station_id=STATION, service_type="social_skills", minutes=60)
                 for _ in range(min(per_save, n - done))]
        app.save(*batch)
        done += len(batch)


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds else float("inf")


# --- benchmarks --------------------------------------------------------------------------------

def timed_appends(app: Bench, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        app.save(Session(client_id=uuid.uuid4(), station_id=STATION, service_type="social_skills", minutes=60))
    return time.perf_counter() - started


def bench_append(n: int) -> dict:
    # Before: the library's default of several statements per save (kept to show the gain).
    before_app = bench_app(fresh_schema(), POSTGRES_ENABLE_DB_FUNCTIONS="n")
    fill(before_app, 10)
    before = timed_appends(before_app, n)
    before_app.close()
    schema = fresh_schema()
    app = bench_app(schema)  # the project's settings: one database function call per save
    fill(app, 10)  # tables created, connections warm
    system = timed_appends(app, n)

    # The same bytes, written the plainest way: one INSERT and COMMIT per event.
    payloads = [n_.state for n_ in app.recorder.select_notifications(start=1, limit=n + 20)][-n:]
    with psycopg.connect(PG_URL) as conn:
        conn.execute(f"CREATE TABLE {schema}.raw_events (id bigserial primary key, originator_id uuid, "
                     "originator_version integer, topic text, state bytea)")
        conn.commit()
        started = time.perf_counter()
        for state in payloads:
            conn.execute(f"INSERT INTO {schema}.raw_events (originator_id, originator_version, topic, state) "
                         "VALUES (%s, 1, %s, %s)", (uuid.uuid4(), "bench:Session.Delivered", state))
            conn.commit()
        raw = time.perf_counter() - started
    app.close()
    return {"events": n, "system_per_s": rate(n, system), "raw_per_s": rate(n, raw), "ratio": round(raw / system, 3),
            "before_per_s": rate(n, before), "before_ratio": round(raw / before, 3)}


def bench_relay(n: int) -> dict:
    ensure_topics(KAFKA, ["jingkang.bench.v1", "jingkang.benchraw.v1"])
    schema = fresh_schema()
    app = bench_app(schema)
    fill(app, n)
    # As the relay process runs (shared/runner.py): a tracer provider, so its spans are made
    # (none exported here); without one every span was a no-op and the step measured less work.
    setup_tracing("bench", "relay")
    relay = OutboxRelay(app, "bench", to_public, make_producer(KAFKA), batch_size=load_settings("bench", {}).relay_batch_size)
    started = time.perf_counter()
    while relay.publish_batch():
        pass
    system = time.perf_counter() - started
    relay.producer.close()

    # The same messages (key, value and the relay's three headers), already built, sent by a
    # bare producer with the same settings.
    messages = []
    for notification in app.recorder.select_notifications(start=1, limit=n):
        domain_event = app.mapper.to_domain_event(notification)
        for public in to_public(domain_event):
            ce = to_cloudevent(public, id=event_id("bench", notification.originator_id, 1, public),
                               time=domain_event.timestamp, sequence=notification.id)
            headers = [("content-type", CONTENT_TYPE.encode()), ("ce_type", ce["type"].encode()),
                       ("traceparent", f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01".encode())]
            messages.append((public.subject.encode(), encode(ce), headers))
    producer = KafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True, linger_ms=5,
                             max_in_flight_requests_per_connection=5)
    started = time.perf_counter()
    futures = [producer.send("jingkang.benchraw.v1", key=k, value=v, headers=h) for k, v, h in messages]
    producer.flush()
    for f in futures:
        f.get(timeout=30)
    raw = time.perf_counter() - started
    producer.close()
    app.close()
    return {"events": n, "system_per_s": rate(n, system), "raw_per_s": rate(n, raw), "ratio": round(raw / system, 3)}


PROJECTION_FIELDS = ("station_id", "minutes")


def rebuild_before(app: Bench) -> tuple[float, int, dict]:
    """Rebuild a projection (minutes delivered per station) from the log, the way it was done
    before: every notification through the mapper into a domain event object."""
    started = time.perf_counter()
    minutes_by_station: dict = {}
    count = 0
    for notification in app.notifications():
        e = app.mapper.to_domain_event(notification)
        minutes_by_station[e.station_id] = minutes_by_station.get(e.station_id, 0) + e.minutes
        count += 1
    return time.perf_counter() - started, count, minutes_by_station


def rebuild(app: Bench) -> tuple[float, int, dict]:
    """The same projection through ServiceApplication.replay: only the two fields it reads
    are decoded, no domain objects, lean rows in pages of 10,000."""
    started = time.perf_counter()
    minutes_by_station: dict = {}
    count = 0
    for _, _, e in app.replay(PROJECTION_FIELDS):
        minutes_by_station[e["station_id"]] = minutes_by_station.get(e["station_id"], 0) + e["minutes"]
        count += 1
    return time.perf_counter() - started, count, minutes_by_station


def raw_select(schema: str, binary: bool = False) -> tuple[float, int]:
    """The plainest sequential read of the same rows (text rows, as before; binary=True: the
    binary protocol replay() now uses, so bytea needs no hex decoding)."""
    with psycopg.connect(PG_URL) as conn:
        started = time.perf_counter()
        with conn.cursor(name="replay", binary=binary) as cur:
            cur.itersize = 1000
            cur.execute(f"SELECT notification_id, state FROM {schema}.bench_events ORDER BY notification_id")
            raw_count = sum(1 for _ in cur)
        return time.perf_counter() - started, raw_count


def replay_rates(app: Bench, schema: str, before: bool = False, repeat: int = 1) -> dict:
    """Projection rebuild and raw sequential select over the whole log, in the same run (the
    best of `repeat` rounds: small logs take a fraction of a second, where noise dominates).
    With before=True, also the previous rebuild path, which must give the same projection."""
    rounds = []
    for _ in range(repeat):
        system, count, projection = rebuild(app)
        raw, raw_count = raw_select(schema)
        assert raw_count == count
        rounds.append((system, raw, raw_select(schema, binary=True)[0]))
    system, raw, raw_binary = min(r[0] for r in rounds), min(r[1] for r in rounds), min(r[2] for r in rounds)
    out = {"events": count, "system_s": system, "raw_s": raw, "raw_binary_s": raw_binary}
    if before:
        out["before_s"], before_count, before_projection = rebuild_before(app)
        assert (before_count, before_projection) == (count, projection), "replay changed the projection"
    return out


def bench_replay(n: int) -> dict:
    schema = fresh_schema()
    app = bench_app(schema)
    fill(app, n)
    # The live projection, kept as events are appended, must equal the rebuilt one.
    r = replay_rates(app, schema, before=True)
    app.close()
    count = r["events"]
    return {"events": count, "system_per_s": rate(count, r["system_s"]), "raw_per_s": rate(count, r["raw_s"]),
            "ratio": round(r["raw_s"] / r["system_s"], 3), "before_per_s": rate(count, r["before_s"]),
            "before_ratio": round(r["raw_s"] / r["before_s"], 3),
            "raw_binary_per_s": rate(count, r["raw_binary_s"]), "ratio_vs_raw_binary": round(r["raw_binary_s"] / r["system_s"], 3)}


def bench_snapshot(n: int) -> dict:
    schema = fresh_schema()
    app = bench_app(schema, IS_SNAPSHOTTING_ENABLED="y")
    session = Session(client_id=uuid.uuid4(), station_id=STATION, service_type="social_skills", minutes=1)
    for i in range(n - 1):
        session.correct(minutes=i % 500 + 1)
        if i % 500 == 0:
            app.save(session)
    app.save(session)
    started = time.perf_counter()
    app.repository.get(session.id)
    without = time.perf_counter() - started
    app.take_snapshot(session.id)
    started = time.perf_counter()
    loaded = app.repository.get(session.id)
    with_snapshot = time.perf_counter() - started
    assert loaded.version == session.version
    app.close()
    return {"events": n, "load_ms_without_snapshot": round(without * 1000, 1), "load_ms_with_snapshot": round(with_snapshot * 1000, 2),
            "ratio": round(without / with_snapshot, 1)}


def bench_growth(sizes: list[int], probe: int) -> dict:
    schema = fresh_schema()
    app = bench_app(schema)
    out, stored = [], 0
    for size in sizes:
        fill(app, size - stored)
        stored = size
        started = time.perf_counter()
        for _ in range(probe):
            app.save(Session(client_id=uuid.uuid4(), station_id=STATION, service_type="social_skills", minutes=60))
        append = time.perf_counter() - started
        stored += probe
        r = replay_rates(app, schema, repeat=3 if size < 1_000_000 else 1)
        out.append({"stored": size, "append_per_s": rate(probe, append), "replay_per_s": rate(r["events"], r["system_s"]),
                    "raw_select_per_s": rate(r["events"], r["raw_s"]), "replay_ratio": round(r["raw_s"] / r["system_s"], 3)})
    app.close()
    base = out[0]
    for row in out:
        row["append_vs_smallest"] = round(row["append_per_s"] / base["append_per_s"], 3)
        row["replay_vs_smallest"] = round(row["replay_per_s"] / base["replay_per_s"], 3)
    return {"probe_appends": probe, "sizes": out}


def machine() -> dict:
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    pg = subprocess.run(["psql", PG_URL, "-Atc", "show server_version"], capture_output=True, text=True).stdout.strip()
    return {"cores": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024, 1), "cpu": cpu, "python": platform.python_version(),
            "postgresql": pg, "kafka": "4.1.1", "load_average_at_start": [round(x, 1) for x in os.getloadavg()]}


def system_bound(cpu: dict) -> float:
    """The rate the cores could sustain at the system's own CPU per request (the bench's
    client and its polling left out: they share the machine but are not the system)."""
    own = cpu["total_ms"] - cpu["by_process_ms"].get("bench-client", 0.0)
    return round(cpu["cores"] * 1000 / own, 1) if own > 0 else 0.0


def goals(result: dict) -> list[str]:
    """Issue 13's goals beside what this run measured (PostgreSQL unless said)."""
    rows: list[tuple[str, str, str]] = []
    ms = lambda v: "–" if v is None else f"{v:,.0f} ms"  # noqa: E731
    stores = result.get("e2e", {}).get("stores", {})
    pg = stores.get("postgres", {})
    steps = pg.get("system", [])
    if steps:
        at50 = next((s_ for s_ in steps if s_["rate"] == 50), None)
        fine = [s_ for s_ in steps if not s_.get("saturated")]
        shown = at50 or (fine[-1] if fine else steps[0])
        rows.append((f"registration → assessment knows, p50 / p99 at {shown['rate']:g}/s",
                     f"{ms(shown['p50_ms'])} / {ms(shown['p99_ms'])}", "≤ 50 ms / ≤ 250 ms at 50/s"))
        rows.append((f"register request, HTTP p99 at {shown['rate']:g}/s", ms(shown["http"]["p99_ms"]), "≤ 250 ms"))
        for kind, out in stores.items():
            within = [s_ for s_ in out.get("system", []) if not s_.get("saturated") and (s_["p50_ms"] or 1e9) <= 50
                      and (s_["p99_ms"] or 1e9) <= 250 and (s_["http"]["p99_ms"] or 1e9) <= 250]
            if within:
                w = within[-1]
                rows.append((f"highest rate within the latency goals, {kind}",
                             f"{w['rate']:g}/s: {ms(w['p50_ms'])} / {ms(w['p99_ms'])}, HTTP p99 {ms(w['http']['p99_ms'])}",
                             "50/s"))
        for kind, out in stores.items():
            last = out["system"][-1] if out.get("system") else None
            step = f"{last['rate']:g}/s ({last['saturated']})" if last and last.get("saturated") else "none up to the last rate"
            rows.append((f"first saturated step, {kind}", step, "none below 100/s"))
        cpu = [s_["cpu"] for s_ in fine if s_.get("cpu")]
        if cpu:
            rates = "/".join(f"{s_['rate']:g}" for s_ in fine if s_.get("cpu"))
            rows.append((f"CPU per registration at {rates}/s, all processes (PostgreSQL stores)",
                         " / ".join(f"{c['total_ms']:g} ms" for c in cpu) + f" (bound {cpu[-1]['bound_per_s']:g}/s on "
                         f"{cpu[-1]['cores']} cores; without the bench's own client "
                         f"{system_bound(cpu[-1]):g}/s)", "– (what bounds the rate)"))
    if pg.get("http"):
        levels = pg["http"]["levels"]
        rows.append(("recorded session ÷ raw FastAPI + INSERT, " + " / ".join(str(l_["concurrency"]) for l_ in levels) + " clients",
                     " / ".join(str(l_["ratio"]) for l_ in levels), "≥ 0.5"))
    for name, key, goal in (("append ÷ raw INSERT + COMMIT", "ratio", "≥ 0.8"), ("relay ÷ raw producer", "ratio", "≥ 0.8")):
        step = result.get(name.split()[0])
        if step:
            rows.append((name, str(step[key]), goal))
    if "replay" in result:
        rows.append(("replay ÷ binary raw select", str(result["replay"].get("ratio_vs_raw_binary")), "≥ 0.6"))
    if "worker" in result:
        w = result["worker"]
        best = max(w["workers"], key=lambda x: x["per_s"])
        rows.append((f"one worker, public events/s (batch {best['batch_size']}; ÷ raw aiokafka loop)",
                     f"{best['per_s']:,.0f} /s ({best['ratio']})", "≥ 1,000 /s"))
    for kind, out in stores.items():
        mem = out.get("memory_mib")
        if mem:
            rows.append((f"memory of the running system, {kind}", f"{sum(mem.values()):,.0f} MiB, {len(mem)} processes",
                         "no higher than before"))
    if not rows:
        return []
    return ["", "Issue 13's goals and this run:", "", "| | measured | goal |", "| --- | --- | --- |",
            *[f"| {a} | {b} | {c} |" for a, b, c in rows]]


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"Run {result['date']} on {m['cores']} cores, {m['memory_gib']} GiB ({m['cpu']}); "
             f"Python {m['python']}, PostgreSQL {m['postgresql']}, Kafka {m['kafka']}; sizes: {result['sizes']}."
             + (f" Load average (1, 5, 15 min) at start {m['load_average_at_start']}, at end {m.get('load_average_at_end')}: "
                "the machine is shared, so absolute rates are noisy; compare the ratios." if "load_average_at_start" in m else "")]
    lines += goals(result)
    if any(k in result for k in ("append", "relay", "replay", "snapshot")):
        lines += ["", "| benchmark | events | Jingkang | raw baseline | ratio (Jingkang ÷ raw) |", "| --- | --- | --- | --- | --- |"]
    for name in ("append", "relay", "replay"):
        if name in result:
            r = result[name]
            lines.append(f"| {name} | {r['events']:,} | {r['system_per_s']:,.0f} /s | {r['raw_per_s']:,.0f} /s | {r['ratio']} |")
            if "before_per_s" in r:
                lines.append(f"| {name}, before the improvement | {r['events']:,} | {r['before_per_s']:,.0f} /s | "
                             f"{r['raw_per_s']:,.0f} /s | {r['before_ratio']} |")
            if "raw_binary_per_s" in r:
                lines.append(f"| {name}, against a binary-protocol raw select | {r['events']:,} | {r['system_per_s']:,.0f} /s | "
                             f"{r['raw_binary_per_s']:,.0f} /s | {r['ratio_vs_raw_binary']} |")
    if "snapshot" in result:
        r = result["snapshot"]
        lines.append(f"| load one aggregate of {r['events']:,} events | | {r['load_ms_without_snapshot']} ms without snapshot "
                     f"| {r['load_ms_with_snapshot']} ms with snapshot | {r['ratio']}× faster with |")
    if "growth" in result:
        lines += ["", "| stored events | append /s | replay /s | raw select /s | replay ÷ raw | append vs smallest | replay vs smallest |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for row in result["growth"]["sizes"]:
            lines.append(f"| {row['stored']:,} | {row['append_per_s']:,.0f} | {row['replay_per_s']:,.0f} | "
                         f"{row.get('raw_select_per_s', 0):,.0f} | {row.get('replay_ratio', '')} | "
                         f"{row['append_vs_smallest']} | {row['replay_vs_smallest']} |")
    if "worker" in result:
        lines += ["", __import__("worker").markdown(result["worker"]).rstrip()]
    if "e2e" in result:
        r = result["e2e"]
        ms = lambda v: "–" if v is None else f"{v:,.0f}"  # noqa: E731
        raw = {s_["rate"]: s_ for s_ in r["raw"]}
        lines += ["", f"End-to-end latency, {r['path']}; {r['seconds_per_step']} s per rate, open loop. "
                  "Raw baseline: kafka-python producer (the relay's settings) → plain KafkaConsumer, same rates.", "",
                  "| stores | rate /s | seen / sent | p50 ms | p95 ms | p99 ms | HTTP p99 ms | p99 ms from send | raw p50 ms | raw p99 ms | p50 ÷ raw p50 |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for kind, out in r["stores"].items():
            for s_ in out["system"]:
                b = raw.get(s_["rate"], {})
                lines.append(f"| {kind} | {s_['rate']:g} | {s_['seen']} / {s_['requests']} | {ms(s_['p50_ms'])} | {ms(s_['p95_ms'])} | "
                             f"{ms(s_['p99_ms'])} | {ms(s_['http']['p99_ms'])} | {ms(s_.get('from_send', {}).get('p99_ms'))} | "
                             f"{ms(b.get('p50_ms'))} | {ms(b.get('p99_ms'))} | {s_.get('p50_vs_raw', '–')}× |")
        for b in r["raw"]:
            lines.append(f"| raw Kafka | {b['rate']:g} | {b['received']} / {b['messages']} | {ms(b['p50_ms'])} | {ms(b['p95_ms'])} | "
                         f"{ms(b['p99_ms'])} | | | | | |")
        for kind, out in r["stores"].items():
            last = out["system"][-1] if out["system"] else None
            if last and last.get("saturated"):
                lines.append(f"\n{kind}: saturated at {last['rate']:g} registrations/s ({last['saturated']}); the ladder stops there.")
        cpu_rows = [(kind, s_) for kind, out in r["stores"].items() for s_ in out["system"] if s_.get("cpu")]
        if cpu_rows:
            lines += ["", "CPU per registration over each step (user + system, every process of the system, the "
                      "database server, the broker and the bench's own client), and the rate the cores could "
                      "sustain at that cost:", "",
                      "| stores | rate /s | CPU ms per registration | bound on the cores /s | without the bench client /s | largest shares (ms) |",
                      "| --- | --- | --- | --- | --- | --- |"]
            for kind, s_ in cpu_rows:
                c = s_["cpu"]
                top = ", ".join(f"{k} {v:g}" for k, v in list(c["by_process_ms"].items())[:6])
                lines.append(f"| {kind} | {s_['rate']:g} | {c['total_ms']:,.1f} | {c['bound_per_s'] or '–'} | {system_bound(c)} | {top} |")
        if any(out.get("relapse") for out in r["stores"].values()):
            lines += ["", f"Second path, {r['relapse_path']}.", "",
                      "| stores | rate /s | seen / sent | p50 ms | p95 ms | p99 ms | HTTP p99 ms |", "| --- | --- | --- | --- | --- | --- | --- |"]
            for kind, out in r["stores"].items():
                for s_ in out.get("relapse", []):
                    lines.append(f"| {kind} | {s_['rate']:g} | {s_['seen']} / {s_['requests']} | {ms(s_['p50_ms'])} | "
                                 f"{ms(s_['p95_ms'])} | {ms(s_['p99_ms'])} | {ms(s_['http']['p99_ms'])} |")
        lines += ["", "Resident memory of the running system (MiB, after the ladder):", "",
                  "| stores | processes | total MiB | largest |", "| --- | --- | --- | --- |"]
        for kind, out in r["stores"].items():
            mem = out.get("memory_mib", {})
            if mem:
                top = max(mem, key=mem.get)
                lines.append(f"| {kind} (scale {out.get('scale', 1)}) | {len(mem)} | {sum(mem.values()):,.0f} | {top} {mem[top]:,.0f} |")
        for kind, out in r["stores"].items():
            if "http" not in out:
                continue
            h = out["http"]
            lines += ["", f"HTTP command throughput, {h['command']} on one API process, closed loop, {h['seconds_per_level']} s "
                      f"per level; raw baseline: minimal FastAPI + uvicorn app, one raw INSERT + COMMIT of "
                      f"{h['stored_event_bytes']} bytes per request. Store: {h['store']}.", "",
                      "| concurrent clients | Jingkang req/s | p50 ms | p99 ms | raw req/s | raw p50 ms | raw p99 ms | ratio (Jingkang ÷ raw) |",
                      "| --- | --- | --- | --- | --- | --- | --- | --- |"]
            for row in h["levels"]:
                s_, b = row["system"], row["raw"]
                lines.append(f"| {row['concurrency']} | {s_['per_s']:,.0f} | {s_['p50_ms']:,.0f} | {s_['p99_ms']:,.0f} | {b['per_s']:,.0f} | "
                             f"{b['p50_ms']:,.0f} | {b['p99_ms']:,.0f} | {row['ratio']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="issue 6 sizes (1,000,000 stored events); slow")
    parser.add_argument("--out", default="latest", help="results go to bench/results/OUT.json and OUT.md")
    parser.add_argument("--only", default="append,relay,replay,snapshot,growth,worker,e2e,http")
    parser.add_argument("--stores", choices=("both", "sqlite", "postgres"), default="both",
                        help="the stores the running system's benchmarks (e2e, http) use")
    parser.add_argument("--scale", type=int, default=1, help="API processes and workers per service (deploy/run.py --scale)")
    parser.add_argument("--rates", help="the e2e ladder's rates, e.g. 5,10,20 (default: 5 ... 100)")
    parser.add_argument("--relapse-rates", help="the relapse ladder's rates (default 5,10,20; 0 skips it)")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    sizes = {"append": 3000, "relay": 20000, "replay": 100_000, "snapshot": 10_000, "growth": [10_000, 100_000],
             "e2e_rates": [5, 10, 20, 30, 40, 50, 60, 80, 100], "e2e_seconds": 10, "relapse_rates": [5, 10, 20],
             "http_concurrency": [1, 4, 16], "http_seconds": 8, "worker": 20_000, "worker_batch_sizes": [1, 1000]}
    if args.rates:
        sizes["e2e_rates"] = [float(r) for r in args.rates.split(",")]
    if args.relapse_rates:
        sizes["relapse_rates"] = [float(r) for r in args.relapse_rates.split(",") if float(r) > 0]
    if args.full:
        sizes.update(append=10_000, relay=100_000, replay=1_000_000, growth=[10_000, 100_000, 1_000_000], worker=100_000)
    start_infrastructure()
    result: dict = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(), "sizes": sizes}
    runs = {"append": lambda: bench_append(sizes["append"]), "relay": lambda: bench_relay(sizes["relay"]),
            "replay": lambda: bench_replay(sizes["replay"]), "snapshot": lambda: bench_snapshot(sizes["snapshot"]),
            "growth": lambda: bench_growth(sizes["growth"], probe=1000),
            "worker": lambda: __import__("worker").bench_worker(  # bench/worker.py
                KAFKA, PG_URL.rsplit("/", 1)[0], sizes["worker"], sizes["worker_batch_sizes"])}
    http: dict | None = {"concurrencies": sizes["http_concurrency"], "seconds": sizes["http_seconds"]} if "http" in wanted else None
    if wanted & {"e2e", "http"}:
        # One system start for both: the throughput benchmark uses the clients the latency one registered.
        import e2e as end_to_end  # bench/e2e.py
        rates = sizes["e2e_rates"] if "e2e" in wanted else sizes["e2e_rates"][:1]
        pg_server = PG_URL.rsplit("/", 1)[0] if args.stores in ("both", "postgres") else None
        runs["e2e"] = lambda: end_to_end.bench_e2e(
            KAFKA, E2E_BASE_PORT, rates, sizes["e2e_seconds"], http=http, pg_server=pg_server,
            relapse_rates=sizes["relapse_rates"] if "e2e" in wanted else [], scale=args.scale,
            sqlite=args.stores in ("both", "sqlite"))
    for name, run in runs.items():
        if name in wanted or (name == "e2e" and http is not None):
            print(f"bench: {name} ...", flush=True)
            result[name] = run()
            print(f"bench: {name}: {json.dumps(result[name])}", flush=True)

    result["machine"]["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    out = ROOT / "bench/results"
    out.mkdir(exist_ok=True)
    (out / f"{args.out}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{args.out}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
