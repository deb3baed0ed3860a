"""Worker throughput (issue 13): one worker against a raw aiokafka consume loop, same topics.

    .venv/bin/python bench/worker.py [--events 20000] [--batch-sizes 1,200] [--profile]

(also `bench/run.py --only worker`). The worker is funding's, the one that takes most of the
traffic in production: assessment's ServiceSessionDelivered (its most frequent event)
accrues to the station's contract. The backlog is published to fresh topics of its own
(six partitions each, keyed by subject, as a relay publishes) with the mix funding sees:

- assessment topic: sessions attended at a contracted station (accrued; 55%), attended at a
  station without a contract (kept as unfunded; 10%), no-shows (nothing saved; 5%), and
  assessment's other events, which funding ignores (follow-up contacts, classifications,
  assessments; 25%);
- referral topic: StationRegistered for each station (learned), and placements, ignored (5%).

Then funding's real worker (`build_worker` over `consumer_for`, a subprocess started as
`python -m services.funding worker` starts it, on a fresh PostgreSQL database made by the
service's own application) consumes it from the beginning, once per batch size
(JINGKANG_CONSUMER_BATCH_SIZE: 1 is one message per transaction, as before batches). Done is
every partition's tracking position at its end offset. The baseline is aiokafka's getmany
until the end offsets, nothing else (faust's own client), before and after the workers.
Rates are counted from the first message seen (the worker's first position, the loop's
first record) to the last: the group join and faust's start are reported apart."""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.contract.assessment import (  # noqa: E402
    AssessmentCompleted, ClientClassified, FollowUpContactRecorded, ServiceSessionDelivered,
)
from shared.contract.referral import ClientPlaced, StationRegistered  # noqa: E402
from shared.envelope import encode, to_cloudevent  # noqa: E402

STATIONS, UNCONTRACTED = 40, 8  # stations with a contract, and without one
PRICED = ["medication_training", "social_skills", "peer_support", "daily_living_skills"]
DISTRICT = "110105"


def backlog(n: int, stations: list[uuid.UUID], seed: int = 13) -> list[tuple[str, uuid.UUID, object]]:
    """(topic kind, station, public event) x n in the mix above; stations[:STATIONS] have contracts."""
    rng = random.Random(seed)
    today = date.today()
    clients = [uuid.uuid4() for _ in range(2000)]
    out: list[tuple[str, uuid.UUID, object]] = []
    for station in stations:  # referral announces every station first
        out.append(("referral", station, StationRegistered(station_id=station, tier=rng.choice(["ningkang_home", "ningkang_post"]),
                                                           district_code=DISTRICT, streets=[DISTRICT + "001"], capacity=50)))
    while len(out) < n:
        roll, client = rng.random(), rng.choice(clients)
        day = today - timedelta(days=rng.randrange(1, 60))
        if roll < 0.70:  # sessions: accrued, unfunded (no contract), no-show
            station = rng.choice(stations[:STATIONS] if roll < 0.55 else stations[STATIONS:])
            out.append(("assessment", client, ServiceSessionDelivered(
                client_id=client, session_id=uuid.uuid4(), station_id=station, service_type=rng.choice(PRICED),
                session_date=day, minutes=60, mode="group", attendance="attended" if roll < 0.65 else "no_show")))
        elif roll < 0.80:
            out.append(("assessment", client, FollowUpContactRecorded(
                client_id=client, contact_id=uuid.uuid4(), contacted_on=day, method="phone", outcome="reached",
                next_contact_due_on=day + timedelta(days=30))))
        elif roll < 0.88:
            out.append(("assessment", client, ClientClassified(client_id=client, service_category="community_rehab",
                                                               medical_referral_needed=False, previous_category=None)))
        elif roll < 0.95:
            out.append(("assessment", client, AssessmentCompleted(
                client_id=client, assessment_id=uuid.uuid4(), kind="process", stability="stable", risk_level=1,
                willing=True, service_category="community_rehab", medical_referral_needed=False, assessed_on=day)))
        else:
            out.append(("referral", client, ClientPlaced(client_id=client, station_id=rng.choice(stations),
                                                         district_code=DISTRICT, placed_on=day)))
    return out[:n]


def publish(kafka: str, topics: dict[str, str], events: list) -> dict[tuple[str, int], int]:
    """Sent as a relay sends them (shared.envelope, keyed by subject); the end offsets."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer = KafkaProducer(bootstrap_servers=kafka, acks="all", linger_ms=20, batch_size=256 * 1024)
    now = datetime.now(timezone.utc)
    for sequence, (kind, _, public) in enumerate(events, 1):
        ce = to_cloudevent(public, id=str(uuid.uuid4()), time=now, sequence=sequence)
        producer.send(topics[kind], key=ce["subject"].encode(), value=encode(ce))
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka)
    tps = [TopicPartition(t, p) for t in topics.values() for p in consumer.partitions_for_topic(t)]
    ends = {(tp.topic, tp.partition): offset for tp, offset in consumer.end_offsets(tps).items()}
    consumer.close()
    return ends


async def raw_loop(kafka: str, ends: dict[tuple[str, int], int]) -> dict:
    """aiokafka (faust's client): getmany until every partition reaches its end offset."""
    from aiokafka import AIOKafkaConsumer

    started = time.perf_counter()
    consumer = AIOKafkaConsumer(*sorted({t for t, _ in ends}), bootstrap_servers=kafka, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    left = {tp: end for tp, end in ends.items() if end > 0}
    count, first = 0, None
    try:
        while left:
            for tp, records in (await consumer.getmany(timeout_ms=500, max_records=5000)).items():
                if records and first is None:
                    first = time.perf_counter()
                count += len(records)
                key = (tp.topic, tp.partition)
                if key in left and records and records[-1].offset >= left[key] - 1:
                    del left[key]
    finally:
        await consumer.stop()
    end = time.perf_counter()
    return {"events": count, "per_s": round(count / (end - first), 1), "seconds": round(end - first, 2),
            "start_s": round(first - started, 2)}


def create_database(server: str) -> str:
    import psycopg

    name = "bench_worker_" + uuid.uuid4().hex[:10]
    with psycopg.connect(f"{server}/jingkang_test", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"


def prepare_funding(store_url: str, stations: list[uuid.UUID], kafka: str):
    """Funding's store made by its own application as its API process makes it, with a contract
    for each of the first STATIONS stations (this year, a budget that never runs out)."""
    from services.funding.application import create_application
    from services.funding.settings import load_settings

    settings = dataclasses.replace(load_settings({"JINGKANG_FUNDING_STORE": store_url, "JINGKANG_KAFKA": kafka}), process="api")
    funding = create_application(settings)
    year = date.today().year
    for station in stations[:STATIONS]:
        funding.sign_contract(station_id=station, district_code=DISTRICT, period_start=date(year - 1, 1, 1),
                              period_end=date(year, 12, 31), budget=Decimal("100000000.00"),
                              funding_sources=[{"source": "welfare_lottery", "amount": Decimal("100000000.00")}],
                              unit_prices={t: Decimal("80.00") for t in PRICED})
    return funding


def positions(funding, ends: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    from shared.consumer import tracking_for

    out = {}
    for topic, partition in ends:
        done = funding.recorder.max_tracking_id(tracking_for(topic, partition, 0).application_name)
        out[(topic, partition)] = -1 if done is None else done
    return out


def run_worker(kafka: str, pg_server: str, topics: dict[str, str], ends: dict[tuple[str, int], int],
               stations: list[uuid.UUID], batch_size: int, profile: Path | None = None, timeout: float = 1800) -> dict:
    store_url = create_database(pg_server)
    funding = prepare_funding(store_url, stations, kafka)
    before = funding.recorder.max_notification_id() or 0
    data_dir = ROOT / ".cache" / f"bench-worker-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, PYTHONPATH=str(ROOT), JINGKANG_FUNDING_STORE=store_url, JINGKANG_KAFKA=kafka,
               JINGKANG_DATA_DIR=str(data_dir), JINGKANG_FUNDING_GROUP=f"bench-worker-{uuid.uuid4().hex[:8]}",
               JINGKANG_CONSUMER_BATCH_SIZE=str(batch_size), JINGKANG_TICK_SECONDS="3600")
    command = [sys.executable, str(Path(__file__)), "serve", ",".join(topics.values())]
    if profile is not None:
        command = [str(ROOT / ".venv/bin/py-spy"), "record", "--format", "raw", "--rate", "50", "--nonblocking",
                   "-o", str(profile), "--", *command]
    log = open(ROOT / ".cache" / f"bench-worker-{batch_size}.log", "w")
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    goal = {tp: end - 1 for tp, end in ends.items()}
    first = None
    try:
        while True:
            now = positions(funding, ends)
            if first is None and any(v >= 0 for v in now.values()):
                first = time.perf_counter()
            if all(now[tp] >= goal[tp] for tp in goal):
                break
            if proc.poll() is not None or time.perf_counter() - started > timeout:
                raise RuntimeError(f"worker (batch {batch_size}) stopped or timed out: see .cache/bench-worker-{batch_size}.log")
            time.sleep(0.1)
        end = time.perf_counter()
    finally:
        os.killpg(proc.pid, signal.SIGINT if profile is not None else signal.SIGTERM)  # py-spy writes its profile on SIGINT
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    n = sum(ends.values())
    stored = (funding.recorder.max_notification_id() or 0) - before
    funding.close()
    first = first or end
    return {"batch_size": batch_size, "events": n, "per_s": round(n / (end - first), 1) if end > first else None,
            "seconds": round(end - first, 2), "start_s": round(first - started, 2), "events_stored": stored}


PARTS = [  # (what, a frame whose presence in a stack counts the sample for it)
    ("handling messages (EventConsumer.process / process_batch)", "EventConsumer.process"),
    ("  loading aggregates (Repository.get)", "Repository.get (eventsourcing/application.py"),
    ("  recording events and positions (Application._record)", "Application._record"),
    ("  snapshots (Application._take_snapshots)", "Application._take_snapshots"),
    ("  the position check (has_tracking_id / max_tracking_id)", "max_tracking_id"),
    ("  decoding and validating the CloudEvent (shared.envelope.decode)", "decode (shared/envelope.py"),
    ("  the pool's pre-ping (check_connection)", "check_connection"),
    ("  waiting on PostgreSQL (psycopg Connection.wait)", "Connection.wait"),
    ("the event loop: faust, aiokafka (BaseEventLoop._run_once)", "_run_once"),
]


def summarise_profile(path: Path) -> list[tuple[str, float]]:
    """Inclusive share of the samples whose stack holds each part (py-spy raw: collapsed stacks)."""
    totals: Counter = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples += int(count)
        for what, frame in PARTS:
            if frame in stack:
                totals[what] += int(count)
    return [(what, round(100 * totals[what] / samples, 1)) for what, _ in PARTS] if samples else []


def bench_worker(kafka: str, pg_server: str, n: int, batch_sizes: list[int], profile: bool = False) -> dict:
    from shared.topics import ensure_topics

    run = uuid.uuid4().hex[:8]
    topics = {"assessment": f"bench.{run}.assessment.v1", "referral": f"bench.{run}.referral.v1"}
    ensure_topics(kafka, list(topics.values()))
    stations = [uuid.uuid4() for _ in range(STATIONS + UNCONTRACTED)]
    events = backlog(n, stations)
    mix = Counter(type(e).__name__ + ("" if not isinstance(e, ServiceSessionDelivered) else f" {e.attendance}") for _, _, e in events)
    ends = publish(kafka, topics, events)
    raw_before = asyncio.run(raw_loop(kafka, ends))
    workers, profiles = [], {}
    for size in batch_sizes:
        path = ROOT / ".cache" / f"bench-worker-{run}-{size}.txt" if profile else None
        workers.append(run_worker(kafka, pg_server, topics, ends, stations, size, path))
        print(f"bench: worker, batch {size}: {json.dumps(workers[-1])}", flush=True)
        if path is not None and path.exists():
            profiles[str(size)] = summarise_profile(path)
    raw_after = asyncio.run(raw_loop(kafka, ends))
    raw = (raw_before["per_s"] + raw_after["per_s"]) / 2
    for w in workers:
        w["ratio"] = round(w["per_s"] / raw, 5) if w["per_s"] else None
    out = {"events": sum(ends.values()), "mix": dict(mix.most_common()), "topics": topics, "raw_before": raw_before,
           "raw_after": raw_after, "raw_per_s": round(raw, 1), "workers": workers}
    if profiles:
        out["profiles"] = profiles
    return out


def markdown(r: dict) -> str:
    lines = [f"Worker throughput: funding's worker on PostgreSQL, {r['events']:,} public events "
             f"(mix: {', '.join(f'{k} {v:,}' for k, v in r['mix'].items())}); raw baseline: aiokafka getmany loop "
             f"{r['raw_before']['per_s']:,.0f} /s before, {r['raw_after']['per_s']:,.0f} /s after the workers.", "",
             "| worker batch size | events/s | seconds | start s | events stored | raw /s | ratio (worker ÷ raw) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for w in r["workers"]:
        lines.append(f"| {w['batch_size']} | {w['per_s']:,.0f} | {w['seconds']} | {w['start_s']} | {w['events_stored']:,} | "
                     f"{r['raw_per_s']:,.0f} | {w['ratio']} |")
    for size, rows in r.get("profiles", {}).items():
        lines += ["", f"Profile of the worker at batch size {size} (py-spy, share of its samples whose stack holds it):", "",
                  "| part | share |", "| --- | --- |"]
        lines += [f"| {what.strip() if not what.startswith(' ') else '– ' + what.strip()} | {share}% |" for what, share in rows]
    return "\n".join(lines) + "\n"


def serve(topics: list[str]) -> None:
    """The worker process: funding's worker as `python -m services.funding worker` builds it, over the bench's topics."""
    import faust

    from services.funding.consumers import create_consumer
    from services.funding.settings import load_settings
    from shared.consumer import build_worker
    from shared.runner import leader_topic
    from shared.topics import ensure_topics

    settings = dataclasses.replace(load_settings(), process="worker")
    ensure_topics(settings.kafka_bootstrap, [settings.dead_letter_topic])
    ensure_topics(settings.kafka_bootstrap, [leader_topic(settings)], partitions=1)
    app = build_worker(create_consumer(settings), settings, topics)
    sys.argv = sys.argv[:1]
    faust.Worker(app, loglevel="WARNING").execute_from_commandline()


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "serve":
        return serve(sys.argv[2].split(","))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-sizes", default="1,200,1000")
    parser.add_argument("--profile", action="store_true", help="record the workers with py-spy")
    parser.add_argument("--out", default="worker")
    args = parser.parse_args()
    import run as bench  # bench/run.py: the bench's ports and infrastructure

    bench.start_infrastructure()
    result = bench_worker(bench.KAFKA, bench.PG_URL.rsplit("/", 1)[0], args.events,
                          [int(s) for s in args.batch_sizes.split(",")], args.profile)
    result["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    result["load_average"] = [round(x, 1) for x in os.getloadavg()]
    out = ROOT / "bench/results"
    (out / f"{args.out}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{args.out}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
