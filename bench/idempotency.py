"""What an Idempotency-Key costs a command (shared/idempotency.py), on PostgreSQL.

    .venv/bin/python bench/idempotency.py [--commands 400]

Referral's `POST /v1/stations` (validate, one new aggregate, one event) through its FastAPI
app in process, as an API process saves (database functions on), in one run against its own
baseline: the same command without a key. Also the retry: the same key and body again (a
lookup and the stored answer, nothing saved). PostgreSQL from deploy/postgres on
JINGKANG_BENCH_PG_PORT (default 5733; started if nothing listens there). Measurements, no
assertions; results in bench/results/idempotency.json."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from services.referral.api import create_app  # noqa: E402
from services.referral.application import create_application  # noqa: E402
from shared.settings import load_settings  # noqa: E402

PG_PORT = int(os.environ.get("JINGKANG_BENCH_PG_PORT", "5733"))
PG_URL = f"postgresql://jingkang:jingkang@127.0.0.1:{PG_PORT}/jingkang_test"
STATION = {"name": "宁康驿站", "operator": "社工机构", "tier": "ningkang_post", "district_code": "110105",
           "streets": ["110105001"], "capacity": 20, "services": ["peer_support"]}


def ensure_postgres() -> None:
    try:
        socket.create_connection(("127.0.0.1", PG_PORT), timeout=1).close()
    except OSError:
        subprocess.run([str(ROOT / "deploy/postgres/postgres.sh"), "start"], env=dict(os.environ, PG_PORT=str(PG_PORT)),
                       check=True)


def referral_http() -> TestClient:
    schema = "bench_idem_" + uuid.uuid4().hex[:10]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    settings = dataclasses.replace(load_settings("referral", {"JINGKANG_REFERRAL_STORE": f"{PG_URL}?schema={schema}"}),
                                   process="api")
    return TestClient(create_app(settings, create_application(settings)))


def timed(http: TestClient, n: int, headers: list[dict[str, str]]) -> tuple[float, list[float]]:
    latencies = []
    started = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        r = http.post("/v1/stations", json=STATION, headers=headers[i])
        latencies.append(time.perf_counter() - t)
        assert r.status_code == 201, r.text
    return time.perf_counter() - started, sorted(latencies)


def summary(n: int, seconds: float, latencies: list[float]) -> dict:
    return {"per_s": round(n / seconds, 1), "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=400)
    n = parser.parse_args().commands
    ensure_postgres()
    http = referral_http()
    timed(http, 20, [{}] * 20)  # tables made, connections warm
    keys = [{"Idempotency-Key": str(uuid.uuid4())} for _ in range(n)]
    plain = summary(n, *timed(http, n, [{}] * n))
    keyed = summary(n, *timed(http, n, keys))
    retried = summary(n, *timed(http, n, keys))  # every key again: the recorded answers
    result = {"command": "referral POST /v1/stations, in process, PostgreSQL", "commands": n,
              "without_key": plain, "with_key": keyed, "retry_with_key": retried,
              "with_key_vs_without": round(keyed["per_s"] / plain["per_s"], 3),
              "retry_vs_without": round(retried["per_s"] / plain["per_s"], 3),
              "load_average": [round(x, 1) for x in os.getloadavg()]}
    out = ROOT / "bench/results"
    out.mkdir(exist_ok=True)
    (out / "idempotency.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
