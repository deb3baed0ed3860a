"""What the auditor's read of one client's events costs (shared.audit.client_events, behind
the console's case timeline), against decoding the whole log as it did before, in one run.

    .venv/bin/python bench/audit_reads.py [--clients 2000] [--reads 20]

A district of `--clients` clients in one store (each: an own record, an application, a
referral naming a station; a shared placement naming each; half the referrals accepted: the
shapes of tests/integration/test_audit_reads.py), on SQLite (a temporary file) and on
PostgreSQL from deploy/postgres on JINGKANG_BENCH_PG_PORT (default 5733; started if nothing
listens there), each plain and encrypted at rest. Measurements, no assertions; results in
bench/results/audit-reads.{json,md}."""
from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.idempotency import PG_URL, ensure_postgres  # noqa: E402
from shared.audit import client_events  # noqa: E402
from shared.settings import load_settings, store_env  # noqa: E402
from tests.integration.test_audit_reads import Cases, district, whole_log_rule  # noqa: E402


def store(kind: str, encrypted: bool, folder: str) -> Cases:
    if kind == "postgresql":
        schema = "bench_audit_" + uuid.uuid4().hex[:10]
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        url = f"{PG_URL}?schema={schema}"
    else:
        url = f"sqlite:///{folder}/cases-{uuid.uuid4().hex[:6]}.sqlite"
    env = {"JINGKANG_CASES_STORE": url}
    if encrypted:
        env["JINGKANG_CASES_CIPHER_KEY"] = base64.b64encode(os.urandom(32)).decode()
    return Cases(env=store_env(dataclasses.replace(load_settings("cases", env), process="api")))


def median_ms(read, clients: list, reads: int) -> float:
    times = []
    for client_id in clients[:reads]:
        started = time.perf_counter()
        read(client_id)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--reads", type=int, default=20)
    args = parser.parse_args()
    ensure_postgres()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("sqlite", "postgresql"):
            for encrypted in (False, True):
                app = store(kind, encrypted, folder)
                try:
                    clients, _ = district(app, args.clients, random.Random(7))
                    events = app.recorder.max_notification_id()
                    sample = random.Random(1).sample(clients, args.reads)
                    now = median_ms(lambda c: client_events(app, c, None), sample, args.reads)
                    before = median_ms(lambda c: whole_log_rule(app, c, None), sample, args.reads)
                finally:
                    app.close()
                rows.append({"store": kind + (", encrypted" if encrypted else ""), "events": events,
                             "median_ms": now, "whole_log_median_ms": before, "faster": round(before / now, 1)})
                print(json.dumps(rows[-1]), flush=True)
    out = ROOT / "bench/results/audit-reads"
    out.with_suffix(".json").write_text(json.dumps({"clients": args.clients, "reads": args.reads, "rows": rows}, indent=2) + "\n")
    lines = [f"One client's events (shared.audit.client_events), {args.clients} clients in one store, median of "
             f"{args.reads} reads ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores)", "",
             "| store | stored events | now ms | decoding the whole log ms | faster |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['store']} | {r['events']:,} | {r['median_ms']} | {r['whole_log_median_ms']} | {r['faster']}× |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
