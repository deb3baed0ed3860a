"""    .venv/bin/python bench/append_ab.py N ROUNDS

Append: pre-ping (the library's check, a round trip per connection taken) vs discard_dead,
alternating rounds on the same store in one process, each beside a raw INSERT + COMMIT round."""
import sys, time, json, uuid, statistics
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "bench"))
import run as b, psycopg
from psycopg_pool import ConnectionPool
from shared.store import discard_dead
n, rounds = int(sys.argv[1]), int(sys.argv[2])
schema = b.fresh_schema()
app = b.bench_app(schema); b.fill(app, 10)
pool = app.store_pool()
payload = app.recorder.select_notifications(start=1, limit=1)[0].state
res = {"pre_ping": [], "socket_check": [], "raw": []}; cpu = {"pre_ping": 0.0, "socket_check": 0.0}
with psycopg.connect(b.PG_URL) as conn:
    conn.execute(f"CREATE TABLE {schema}.raw_events (id bigserial primary key, originator_id uuid, originator_version integer, topic text, state bytea)"); conn.commit()
    for r in range(rounds):
        for name, check in (("pre_ping", ConnectionPool.check_connection), ("socket_check", discard_dead)) if r % 2 == 0 else (("socket_check", discard_dead), ("pre_ping", ConnectionPool.check_connection)):
            pool._check = check
            c = time.process_time(); res[name].append(n / b.timed_appends(app, n)); cpu[name] += time.process_time() - c
        t = time.perf_counter()
        for _ in range(n):
            conn.execute(f"INSERT INTO {schema}.raw_events (originator_id, originator_version, topic, state) VALUES (%s, 1, %s, %s)", (uuid.uuid4(), "bench:Session.Delivered", payload)); conn.commit()
        res["raw"].append(n / (time.perf_counter() - t))
med = {k: round(statistics.median(v)) for k, v in res.items()}
print(json.dumps({"per_s_median": med, "ratio_pre_ping": round(med["pre_ping"] / med["raw"], 3), "ratio_socket_check": round(med["socket_check"] / med["raw"], 3),
                  "cpu_us_per_append": {k: round(v / n / rounds * 1e6) for k, v in cpu.items()}, "total_per_s": {k: round(n * len(v) / sum(n / x for x in v)) for k, v in res.items()}, "rounds_": {k: [round(x) for x in v] for k, v in res.items()}}))
app.close()
