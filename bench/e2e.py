"""End-to-end latency and HTTP command throughput of the running system (deploy/run.py, as
tests/e2e/conftest.py starts it: five services x api, relay, worker), on SQLite stores and
on PostgreSQL stores (a database per service, as docker-compose.yml has them), each against
a raw baseline measured in the same run. Used by bench/run.py (--only e2e,http)."""
from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.intake.resident_id import check_digit  # noqa: E402
from shared.auth import Authority  # noqa: E402

SERVICES = ("intake", "assessment", "referral", "funding", "notification", "supervision")
JWT_KEY = "bench-jwt-signing-key-known-to-the-bench-0001"
STATION = "5f0c1e8a-7d4b-4b7e-9a51-3d0c2f6e9b11"


def auth(role: str = "station_worker", district: str = "110105", sub: str = "bench-worker") -> dict[str, str]:
    token = Authority(JWT_KEY, os.environ.get("JINGKANG_JWT_ISSUER", "jingkang-dev")).issue(sub=sub, role=role, districts=[district])
    return {"Authorization": f"Bearer {token}", "X-Jingkang-Actor": sub, "X-Jingkang-Role": role}


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def summary_ms(values: list[float]) -> dict:
    return {k: (round(v * 1000, 1) if v is not None else None)
            for k, v in (("p50_ms", percentile(values, 50)), ("p95_ms", percentile(values, 95)), ("p99_ms", percentile(values, 99)))}


# --- the system ----------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int | None) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _pid_from(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def postgres_server_pid() -> int | None:
    """The PostgreSQL server on the bench's port: bench/run.py's cluster (a data dir per port),
    or one started before on that port (postmaster.pid's fourth line is its port)."""
    port = os.environ.get("JINGKANG_BENCH_PG_PORT", "5733")
    for data in (ROOT / f".cache/postgres-bench-{port}/data", ROOT / ".cache/postgres/data"):
        try:
            lines = (data / "postmaster.pid").read_text().splitlines()
        except OSError:
            continue
        if len(lines) > 3 and lines[3].strip() == port:
            return int(lines[0])
    return None


def broker_pid() -> int | None:
    """The broker bench/run.py started (its pid file in the bench broker's data dir)."""
    return _pid_from(ROOT / f".cache/kafka-bench-{os.environ.get('JINGKANG_BENCH_KAFKA_PORT', '19392')}/kafka.pid")


def cpu_per_request(before: dict[str, float], after: dict[str, float], requests: int, cores: int) -> dict:
    """CPU milliseconds per request by process over a step, their sum, and the rate the
    machine's cores could sustain at that cost (the bound when nothing else waits)."""
    if not requests:
        return {}
    by = {k: round((after[k] - before.get(k, 0.0)) * 1000 / requests, 2) for k in after}
    total = round(sum(by.values()), 1)
    return {"total_ms": total, "cores": cores, "bound_per_s": round(cores * 1000 / total, 1) if total else None,
            "by_process_ms": dict(sorted(by.items(), key=lambda kv: -kv[1]))}

_issued: set[str] = set()


def resident_id() -> str:
    while True:
        born = date(1960, 1, 1) + timedelta(days=random.randrange(0, 15000))
        first17 = f"110105{born:%Y%m%d}{random.randrange(0, 100) * 10 + random.choice([0, 2, 4, 6, 8]):03d}"
        number = first17 + check_digit(first17)
        if number not in _issued:
            _issued.add(number)
            return number


def application_body() -> dict:
    number = resident_id()
    born = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
    return {"source": "hospital_discharge", "district_code": "110105", "street_code": "110105001",
            "hardship_categories": ["minimum_living_allowance"],
            "applicant": {"name": "基准" + uuid.uuid4().hex[:4], "id_number": number, "birth_date": born, "sex": "female",
                          "phone": "13800000000", "address": "朝阳区某街道1号"}}


def start_groups_at_end(kafka: str, groups: list[str]) -> None:
    """Commit the end of every public topic for each new consumer group, so the workers start
    where a fresh deployment would: the bench broker keeps earlier runs' events, and catching
    up on thousands of old registrations first would be measured as latency."""
    from kafka import KafkaConsumer, TopicPartition

    from shared.topics import ensure_topics, public_topics

    ensure_topics(kafka, public_topics())
    for group in groups:
        consumer = KafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
        try:
            partitions = [TopicPartition(t, p) for t in public_topics() for p in consumer.partitions_for_topic(t) or []]
            consumer.assign(partitions)
            consumer.seek_to_end(*partitions)
            for tp in partitions:
                consumer.position(tp)
            consumer.commit()
        finally:
            consumer.close()


class System:
    """deploy/run.py on its own base port, data dir and consumer groups, against the bench
    broker; with pg_server (postgresql://user:pw@host:port) every store is a fresh database
    there, dropped when the system stops."""

    def __init__(self, kafka: str, base_port: int, pg_server: str | None = None, scale: int = 1):
        self.kafka, self.base = kafka, base_port
        self.url = {s: f"http://127.0.0.1:{base_port + i}" for i, s in enumerate(SERVICES)}
        self.data = Path(tempfile.mkdtemp(prefix="jingkang-bench-"))
        self.pg_server = pg_server
        self.kind = "postgres" if pg_server else "sqlite"
        self.registered: set[str] = set()  # clients of this system assessment knows
        self.databases: list[str] = []
        groups = {f"JINGKANG_{s.upper()}_GROUP": f"bench-{s}-{uuid.uuid4().hex[:8]}" for s in SERVICES}
        start_groups_at_end(kafka, list(groups.values()))
        env = dict(os.environ, JINGKANG_KAFKA=kafka, PYTHONPATH=str(ROOT), JINGKANG_JWT_KEY=JWT_KEY, **groups)
        for s in SERVICES:
            env.pop(f"JINGKANG_{s.upper()}_STORE", None)  # SQLite files in the data dir, as the e2e tests run it
        if pg_server:
            import psycopg

            run = uuid.uuid4().hex[:8]
            with psycopg.connect(f"{pg_server}/jingkang_test", autocommit=True) as conn:
                for s in SERVICES:
                    self.databases.append(f"bench_{run}_{s}")
                    conn.execute(f"CREATE DATABASE {self.databases[-1]}")
                    env[f"JINGKANG_{s.upper()}_STORE"] = f"{pg_server}/{self.databases[-1]}"
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "deploy/run.py"), "--base-port", str(base_port),
                                      "--data-dir", str(self.data), "--scale", str(scale)], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for line in self.proc.stdout:
                if "Jingkang is up" in line:
                    break
                if self.proc.poll() is not None:
                    raise RuntimeError("deploy/run.py exited: " + line)
            threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()  # keep the pipe drained
            deadline = time.monotonic() + 90
            while not all(self._ready(u) for u in self.url.values()):
                if time.monotonic() > deadline:
                    raise RuntimeError("the system did not get ready in 90 s")
                time.sleep(0.5)
        except BaseException:
            self.stop()
            raise

    def processes(self) -> dict[str, int]:
        """The processes run.py started, by service-process (intake-api, intake-relay, ...): pid."""
        out: dict[str, int] = {}
        for child in children(self.proc.pid):
            try:
                args = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            name = "-".join(a.decode().split(".")[-1] for a in args[2:4] if a)
            key, n = name, 2
            while key in out:
                key, n = f"{name}-{n}", n + 1
            out[key] = child
        return out

    def memory(self) -> dict:
        """Resident memory (MiB) of each process run.py started, by service-process."""
        out: dict[str, float] = {}
        for name, pid in self.processes().items():
            try:
                rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                           if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                continue
            out[name] = round(rss / 1024, 1)
        return out

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far (user + system) by each process of the system, by the
        PostgreSQL server (all its backends) and the Kafka broker that serve it, and by this
        bench process (the load generator and its polling)."""
        out = {name: cpu_seconds(pid) for name, pid in self.processes().items()}
        if self.pg_server:
            server = postgres_server_pid()
            out["postgresql"] = sum(cpu_seconds(pid) for pid in [server, *children(server)] if pid)
        kafka = broker_pid()
        if kafka:
            out["kafka"] = cpu_seconds(kafka)
        out["bench-client"] = time.process_time()
        return out

    @staticmethod
    def _ready(url: str) -> bool:
        return System._ready_url(url + "/ready")

    @staticmethod
    def _ready_url(url: str) -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.databases:
            import psycopg

            with psycopg.connect(f"{self.pg_server}/jingkang_test", autocommit=True) as conn:
                for name in self.databases:
                    conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            self.databases = []


# --- end-to-end latency ------------------------------------------------------------------------------

async def consented_applications(system: System, n: int, concurrency: int = 8) -> list[str]:
    """n applications with consent recorded, ready to register (setup, not measured)."""
    headers = auth()
    out: list[str] = []
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=30) as http:
        async def one() -> None:
            async with sem:
                body = application_body()
                for _ in range(10):  # 409 "changed concurrently": reload and retry, as the API says
                    r = await http.post(system.url["intake"] + "/v1/applications", json=body, headers=headers)
                    if r.status_code != 409:
                        break
                if r.status_code != 201:
                    raise RuntimeError(f"intake answered {r.status_code}: {r.text}")
                application_id = r.json()["application_id"]
                for _ in range(10):
                    r = await http.post(f"{system.url['intake']}/v1/applications/{application_id}/consent",
                                        json={"signed_by": "self"}, headers=headers)
                    if r.status_code != 409:
                        break
                r.raise_for_status()
                out.append(application_id)
        await asyncio.gather(*(one() for _ in range(n)))
    return out


registered: list[str] = []  # clients assessment knows (for the throughput benchmark)


POLL_FIRST, POLL_LONGEST, POLL_SHARE = 0.02, 0.25, 0.1


async def poll_until_seen(accepted: dict[str, float], seen: dict[str, float], poll_one, finished) -> None:
    """Ask about each accepted request until it is seen: every 20 ms at first, then every tenth
    of the time it has waited (at most every 250 ms), so the observation costs the system
    little when it is slow (asking every pending client every 20 ms fed on itself: the more
    it waited, the more it was asked), at a resolution of a tenth of the latency measured."""
    sem = asyncio.Semaphore(16)
    asked: dict[str, float] = {}

    async def limited(c: str) -> None:
        async with sem:
            await poll_one(c)
    while not finished():
        now = time.perf_counter()
        due = [c for c, t in list(accepted.items()) if c not in seen
               and now - asked.get(c, 0.0) >= min(max(POLL_FIRST, POLL_SHARE * (now - t)), POLL_LONGEST)]
        for c in due:
            asked[c] = now
        if due:
            await asyncio.gather(*(limited(c) for c in due))
        await asyncio.sleep(0.01)


async def e2e_step(system: System, applications: list[str], rate: float, duration: float, drain: float) -> dict:
    """Register clients at a fixed rate (open loop) and watch assessment learn each one.
    Latency: from intake's 201 to the first GET /v1/clients/{id}/record that answers 200 on
    assessment (intake API -> SQLite -> relay -> Kafka -> assessment worker -> SQLite -> API)."""
    headers = auth()
    n = len(applications)
    accepted: dict[str, float] = {}
    sent_at: dict[str, float] = {}
    seen: dict[str, float] = {}
    http_latency: list[float] = []
    errors = conflicts = 0
    polls = 0
    sending_done = asyncio.Event()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as http:
        async def register(application_id: str) -> None:
            nonlocal errors, conflicts
            sent = time.perf_counter()
            try:
                for _ in range(10):  # a 409 is retried at once, as a client would; counted
                    r = await http.post(f"{system.url['intake']}/v1/applications/{application_id}/register", headers=headers)
                    if r.status_code != 409:
                        break
                    conflicts += 1
            except httpx.HTTPError:
                errors += 1
                return
            now = time.perf_counter()
            if r.status_code != 201:
                errors += 1
                return
            http_latency.append(now - sent)
            client_id = r.json()["client_id"]
            sent_at[client_id] = sent
            accepted[client_id] = now

        async def poll_one(client_id: str) -> None:
            nonlocal polls
            polls += 1
            try:
                r = await http.get(f"{system.url['assessment']}/v1/clients/{client_id}/record", headers=headers)
            except httpx.HTTPError:
                return
            if r.status_code == 200 and client_id not in seen:
                seen[client_id] = time.perf_counter()

        def poller():
            return poll_until_seen(accepted, seen, poll_one,
                                   lambda: sending_done.is_set() and len(seen) >= len(accepted) and not inflight)

        inflight: set[asyncio.Task] = set()
        cpu_before = system.cpu()
        poll_task = asyncio.create_task(poller())
        started = time.perf_counter()
        for i, application_id in enumerate(applications):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(register(application_id))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        send_seconds = time.perf_counter() - started
        if inflight:
            await asyncio.wait(set(inflight), timeout=drain)
        sending_done.set()
        try:
            await asyncio.wait_for(poll_task, timeout=drain)
        except asyncio.TimeoutError:
            pass
        await asyncio.sleep(1)  # what the last registrations cause after assessment knows them (other workers)
        cpu = cpu_per_request(cpu_before, system.cpu(), len(accepted), os.cpu_count() or 1)
    latencies = [seen[c] - accepted[c] for c in seen if c in accepted]
    registered.extend(seen)
    return {"rate": rate, "requests": n, "accepted": len(accepted), "errors": errors, "conflicts_retried": conflicts, "seen": len(latencies),
            "not_seen_after_drain": len(accepted) - len(latencies), "send_rate": round(n / send_seconds, 1) if send_seconds else None,
            "polls": polls, **summary_ms(latencies), "http": summary_ms(http_latency),
            "from_send": summary_ms([seen[c] - sent_at[c] for c in seen if c in sent_at]), "cpu": cpu}


BASELINE = {"kind": "baseline", "stability": "stable", "risk_level": 1, "willing": True, "functional_score": 70,
            "assessor": "bench-assessor"}
RELAPSE = {"kind": "process", "stability": "unstable", "risk_level": 4, "willing": True, "functional_score": 45,
           "assessor": "bench-assessor"}


async def assessed_clients(system: System, clients: list[str], concurrency: int = 8) -> list[str]:
    """Clients assessment knows with a baseline assessment recorded, and notification knows
    too (setup for the relapse path, not measured)."""
    headers = auth()
    out: list[str] = []
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=30) as http:
        async def one(client_id: str) -> None:
            async with sem:
                r = await http.post(f"{system.url['assessment']}/v1/clients/{client_id}/assessments", json=BASELINE,
                                    headers=headers)
                if r.status_code == 201:
                    out.append(client_id)
        await asyncio.gather(*(one(c) for c in clients))
    return out


async def relapse_step(system: System, clients: list[str], rate: float, drain: float) -> dict:
    """The second path: record a relapse (assessment's 201 on a process assessment, unstable,
    risk 4) at a fixed rate, and watch notification tell of the medical referral it opened:
    assessment API -> store -> relay -> Kafka (RelapseDetected) -> referral worker -> store ->
    relay -> Kafka (TransferRequested) -> notification worker -> store -> API."""
    headers = auth()
    accepted: dict[str, float] = {}
    seen: dict[str, float] = {}
    http_latency: list[float] = []
    errors = 0
    sending_done = asyncio.Event()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as http:
        async def relapse(client_id: str) -> None:
            nonlocal errors
            sent = time.perf_counter()
            try:
                r = await http.post(f"{system.url['assessment']}/v1/clients/{client_id}/assessments", json=RELAPSE,
                                    headers=headers)
            except httpx.HTTPError:
                errors += 1
                return
            if r.status_code != 201:
                errors += 1
                return
            accepted[client_id] = time.perf_counter()
            http_latency.append(accepted[client_id] - sent)

        async def poll_one(client_id: str) -> None:
            try:
                r = await http.get(f"{system.url['notification']}/v1/notifications", params={"client_id": client_id},
                                   headers=headers)
            except httpx.HTTPError:
                return
            if r.status_code == 200 and client_id not in seen and any(
                    n["kind"] == "transfer_requested" for n in r.json()["notifications"]):
                seen[client_id] = time.perf_counter()

        def poller():
            return poll_until_seen(accepted, seen, poll_one,
                                   lambda: sending_done.is_set() and len(seen) >= len(accepted))

        cpu_before = system.cpu()
        poll_task = asyncio.create_task(poller())
        started = time.perf_counter()
        tasks = []
        for i, client_id in enumerate(clients):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(relapse(client_id)))
        send_seconds = time.perf_counter() - started
        await asyncio.wait(tasks, timeout=drain)
        sending_done.set()
        try:
            await asyncio.wait_for(poll_task, timeout=drain)
        except asyncio.TimeoutError:
            pass
        await asyncio.sleep(1)
        cpu = cpu_per_request(cpu_before, system.cpu(), len(accepted), os.cpu_count() or 1)
    latencies = [seen[c] - accepted[c] for c in seen if c in accepted]
    return {"rate": rate, "requests": len(clients), "cpu": cpu, "accepted": len(accepted), "errors": errors, "seen": len(latencies),
            "not_seen_after_drain": len(accepted) - len(latencies),
            "send_rate": round(len(clients) / send_seconds, 1) if send_seconds else None,
            **summary_ms(latencies), "http": summary_ms(http_latency)}


def raw_kafka_step(kafka: str, topic: str, rate: float, n: int, drain: float) -> dict:
    """The raw baseline: kafka-python producer (the relay's settings) -> a plain KafkaConsumer
    in another thread, at the same fixed rate; latency from send() to receipt."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=kafka, group_id=None, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for tp in partitions:
        consumer.position(tp)  # resolve now, so nothing sent later is skipped
    run_id = uuid.uuid4().hex
    received: dict[int, float] = {}
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=100).values():
                now = time.perf_counter()
                for record in records:
                    message = json.loads(record.value)
                    if message["run"] == run_id:
                        received[message["i"]] = now
    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    producer = KafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True, linger_ms=5, retries=5,
                             max_in_flight_requests_per_connection=5)
    producer.send(topic, value=json.dumps({"run": "warm-up", "i": -1}).encode()).get(timeout=30)  # metadata, connections
    sent: dict[int, float] = {}
    started = time.perf_counter()
    for i in range(n):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent[i] = time.perf_counter()
        producer.send(topic, key=str(uuid.uuid4()).encode(), value=json.dumps({"run": run_id, "i": i}).encode())
    send_seconds = time.perf_counter() - started
    producer.flush()
    deadline = time.monotonic() + drain
    while len(received) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join()
    consumer.close()
    producer.close()
    latencies = [received[i] - sent[i] for i in received]
    return {"rate": rate, "messages": n, "received": len(latencies), "send_rate": round(n / send_seconds, 1),
            **summary_ms(latencies)}


def saturated(step: dict, received_key: str, total_key: str, p99_limit_ms: float) -> str:
    """Why this step counts as saturated ('' if it does not)."""
    if step[received_key] < step[total_key]:
        return f"{step[total_key] - step[received_key]} not seen after the drain"
    if (step["p99_ms"] or 0) > p99_limit_ms:
        return f"p99 above {p99_limit_ms / 1000:g} s"
    if (step["send_rate"] or 0) < 0.9 * step["rate"]:
        return "requested rate not achieved"
    if step.get("errors"):
        return f"{step['errors']} errors"
    return ""


def ladder(system: System, rates: list[float], seconds: float, drain: float, p99_limit_ms: float) -> list[dict]:
    """Registration -> assessment knows the client, each rate for `seconds`, until a step saturates."""
    steps = []
    for rate in rates:
        applications = asyncio.run(consented_applications(system, int(rate * seconds)))
        time.sleep(3)  # what the setup caused (relays, workers) settles before the step is measured
        step = asyncio.run(e2e_step(system, applications, rate, seconds, drain))
        steps.append(step)
        step["saturated"] = saturated(step, "seen", "requests", p99_limit_ms)
        print(f"bench: e2e {system.kind} {json.dumps(step)}", flush=True)
        if step["saturated"]:
            break
    return steps


def relapse_ladder(system: System, rates: list[float], seconds: float, drain: float, p99_limit_ms: float) -> list[dict]:
    """Relapse -> notification tells of the medical referral, on clients the first ladder registered."""
    steps = []
    pool = [c for c in registered if c in system.registered]
    for rate in rates:
        n = int(rate * seconds)
        if len(pool) < n:
            break
        clients, pool[:n] = asyncio.run(assessed_clients(system, pool[:n])), []
        time.sleep(3)  # what the baseline assessments caused (placements, notices) settles first
        step = asyncio.run(relapse_step(system, clients, rate, drain))
        steps.append(step)
        step["saturated"] = saturated(step, "seen", "requests", p99_limit_ms)
        print(f"bench: relapse {system.kind} {json.dumps(step)}", flush=True)
        if step["saturated"]:
            break
    return steps


def bench_e2e(kafka: str, base_port: int, rates: list[float], seconds: float, p99_limit_ms: float = 5000,
              drain: float = 30, http: dict | None = None, pg_server: str | None = None,
              relapse_rates: list[float] = (), scale: int = 1, sqlite: bool = True) -> dict:
    """Both ladders: each rate for `seconds`, stepping up until a step saturates (p99 above the
    limit, something not seen after the drain, or the requested rate not achieved); the
    system's ladder on SQLite stores, then (with pg_server) on PostgreSQL stores; the relapse
    path at `relapse_rates` on each; the HTTP benchmark (`http`) on each."""
    from shared.topics import ensure_topics

    topic = "jingkang.benchrtt.v1"
    ensure_topics(kafka, [topic])
    raw_steps = []
    for rate in rates:
        step = raw_kafka_step(kafka, topic, rate, int(rate * seconds), drain)
        raw_steps.append(step)
        print(f"bench: e2e raw kafka {json.dumps(step)}", flush=True)
        step["saturated"] = saturated(step, "received", "messages", p99_limit_ms)
        if step["saturated"]:
            break
    by_rate = {s["rate"]: s for s in raw_steps}
    stores: dict[str, dict] = {}
    kinds = ([("sqlite", None)] if sqlite else []) + ([("postgres", pg_server)] if pg_server else [])
    for kind, server in kinds:
        system = System(kafka, base_port, server, scale)
        out: dict = {"scale": scale}
        try:
            before = len(registered)
            # Warm up: a few registrations end to end (topics, consumer group assignment, connections).
            warm = asyncio.run(consented_applications(system, 5))
            warmed = asyncio.run(e2e_step(system, warm, 1, 5, drain=120))
            if warmed["seen"] < len(warm):
                raise RuntimeError(f"warm-up: assessment learned {warmed['seen']} of {len(warm)} clients in 120 s")
            out["system"] = ladder(system, rates, seconds, drain, p99_limit_ms)
            system.registered = set(registered[before:])
            out["memory_mib"] = system.memory()
            if relapse_rates:
                time.sleep(5)  # let the last step's backlog settle
                out["relapse"] = relapse_ladder(system, list(relapse_rates), seconds, drain, p99_limit_ms)
            if http is not None:  # the HTTP throughput benchmark, on the clients just registered
                time.sleep(5)
                mine = [c for c in registered[before:]]
                if not mine:
                    raise RuntimeError("no registered client to record sessions for")
                out["http"] = bench_http(system, mine, http["concurrencies"], http["seconds"], base_port + 50,
                                         pg_server=server)
        finally:
            system.stop()
        for s_ in out["system"]:
            raw = by_rate.get(s_["rate"])
            if raw and raw["p50_ms"] and s_["p50_ms"]:
                s_["raw_p50_ms"], s_["raw_p99_ms"] = raw["p50_ms"], raw["p99_ms"]
                s_["p50_vs_raw"] = round(s_["p50_ms"] / raw["p50_ms"], 1)
        stores[kind] = out
    return {"seconds_per_step": seconds, "p99_limit_ms": p99_limit_ms, "raw": raw_steps, "stores": stores,
            "path": "POST intake /register (201) -> first 200 from GET assessment /v1/clients/{id}/record (polled every 20 ms, then every tenth of the wait, at most every 250 ms)",
            "relapse_path": "POST assessment /assessments (relapse, 201) -> first GET notification /v1/notifications "
                            "listing transfer_requested (polled every 20 ms, then every tenth of the wait, at most every 250 ms)",
            "store_kinds": {"sqlite": "SQLite files (deploy/run.py default; the relay polls)",
                            "postgres": "PostgreSQL, a database per service (relays woken by LISTEN/NOTIFY)"}}


# --- HTTP command throughput -------------------------------------------------------------------------

def stored_session_bytes(system: System) -> int:
    """Mean size of a stored ServiceSessionDelivered event in assessment's store."""
    if system.databases:
        import psycopg

        with psycopg.connect(f"{system.pg_server}/{system.databases[SERVICES.index('assessment')]}") as conn:
            row = conn.execute("SELECT avg(length(state)), count(*) FROM assessment_events WHERE topic LIKE '%%Session%%'").fetchone()
        if row and row[1]:
            return int(row[0])
        raise RuntimeError("no stored session events found in assessment's database")
    for path in system.data.rglob("*assessment*"):
        if path.suffix not in (".sqlite", ".db", ".sqlite3"):
            continue
        with sqlite3.connect(path) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
                if {"topic", "state"} <= set(cols):
                    row = db.execute(f"SELECT avg(length(state)), count(*) FROM {table} WHERE topic LIKE '%Session%'").fetchone()
                    if row and row[1]:
                        return int(row[0])
    raise RuntimeError(f"no stored session events found under {system.data}")


async def closed_loop(url_for, body: dict, headers: dict, concurrency: int, seconds: float) -> dict:
    """`concurrency` clients, each sending its next request when the last one answered."""
    done: list[float] = []
    failures = 0
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as http:
        stop_at = time.perf_counter() + seconds

        async def client(k: int) -> None:
            nonlocal failures
            i = 0
            while time.perf_counter() < stop_at:
                sent = time.perf_counter()
                r = await http.post(url_for(k, i), json=body, headers=headers)
                i += 1
                if r.status_code == 201:
                    done.append(time.perf_counter() - sent)
                else:
                    failures += 1
                    if failures == 1:
                        print(f"bench: http first failure {r.status_code}: {r.text[:300]}", flush=True)
        started = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"concurrency": concurrency, "requests": len(done), "failures": failures,
            "per_s": round(len(done) / elapsed, 1), **summary_ms(done)}


def bench_http(system: System, clients: list[str], concurrencies: list[int], seconds: float, raw_port: int,
               pg_server: str | None = None) -> dict:
    """POST /v1/clients/{id}/sessions on assessment's API process (one uvicorn process; the
    rest of the system runs as usual, so its relay publishes what is appended), against a
    minimal FastAPI app doing one raw SQLite INSERT+COMMIT of the same size per request.
    Client k of c takes the registered clients k, k+c, ... in turn: no two concurrent
    requests touch one aggregate."""
    headers = auth()
    base = system.url["assessment"]
    # The service's business date (registered_on is the local date of the registration).
    session_date = max(httpx.get(f"{base}/v1/clients/{c}/record", headers=headers).json()["registered_on"] for c in clients[-5:])
    body = {"service_type": "social_skills", "station_id": STATION, "session_date": session_date,
            "minutes": 60, "mode": "group", "attendance": "attended"}

    def system_url(concurrency: int):
        def url_for(k: int, i: int) -> str:
            mine = clients[k::concurrency]
            return f"{base}/v1/clients/{mine[i % len(mine)]}/sessions"
        return url_for

    asyncio.run(closed_loop(system_url(1), body, headers, 1, 2))  # warm up
    size = stored_session_bytes(system)
    db = f"{pg_server}/jingkang_test" if pg_server else system.data / "raw-http.sqlite"
    raw = subprocess.Popen([sys.executable, str(ROOT / "bench/raw_app.py"), str(raw_port), str(db), str(size)],
                           cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        deadline = time.monotonic() + 30
        while not System._ready_url(f"http://127.0.0.1:{raw_port}/health"):
            if time.monotonic() > deadline or raw.poll() is not None:
                raise RuntimeError("the raw baseline app did not start")
            time.sleep(0.2)
        raw_url = lambda k, i: f"http://127.0.0.1:{raw_port}/v1/clients/{clients[0]}/sessions"  # noqa: E731
        asyncio.run(closed_loop(raw_url, body, headers, 1, 2))  # warm up
        rows = []
        for c in concurrencies:  # alternate, so drift on the shared machine hits both alike
            s = asyncio.run(closed_loop(system_url(c), body, headers, c, seconds))
            r = asyncio.run(closed_loop(raw_url, body, headers, c, seconds))
            rows.append({"concurrency": c, "system": s, "raw": r, "ratio": round(s["per_s"] / r["per_s"], 3) if r["per_s"] else None})
            print(f"bench: http {json.dumps(rows[-1])}", flush=True)
    finally:
        raw.terminate()
        raw.wait(timeout=10)
    return {"seconds_per_level": seconds, "stored_event_bytes": size, "store": "PostgreSQL (both)" if pg_server else "SQLite (both)",
            "command": "assessment POST /v1/clients/{id}/sessions (ServiceSessionDelivered)", "levels": rows}
