"""Supervision at scale, against a raw baseline in the same run (bench/README.md, "supervision").

    .venv/bin/python bench/supervision.py [--events 1000000] [--sizes 10000,100000,1000000]
                                          [--store postgresql://...|sqlite] [--out supervision]

1. Catch-up: a backlog of --events public events (a synthetic city: counties of ~10,000
   events each, every client's life as the services publish it) on five fresh topics of six
   partitions; the read model's worker (services/supervision/consumers.py, one process)
   consumes all of it into the store, and a raw kafka-python consumer loop (poll until the
   end offsets, nothing else) reads the same topics. Ratio = model rate / raw rate.
2. Query: GET /v1/indicators for one county and one year (in-process ASGI, the service's
   own app over the model), p50/p95 of 60 requests, with the model at each of --sizes
   events (the model grows by adding counties, as a province has more than a city), and
   again for one county whose own history grows (--county-sizes).

Kafka and PostgreSQL: the test ones of this engineer's index (JINGKANG_TEST_KAFKA_PORT,
JINGKANG_TEST_PG_PORT), started through deploy/ if not running and stopped after. Writes
bench/results/<out>.json and .md. Measurements, not assertions."""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402

from services.supervision.application import Rules, Supervision  # noqa: E402
from services.supervision.consumers import ReadModelWorker, catch_up  # noqa: E402
from services.supervision.readmodel import ReadModel  # noqa: E402
from shared.clock import LOCAL  # noqa: E402
from shared.contract.assessment import (  # noqa: E402
    AssessmentCompleted, AssessmentCompletedV2, ReassessmentDue, RehabPlanAgreed, ServiceSessionDelivered,
)
from shared.contract.funding import FundingShare, PurchaseContractPaid, PurchaseContractSigned, SessionAccrued  # noqa: E402
from shared.contract.intake import ClientRegistered, ConsentScope  # noqa: E402
from shared.contract.referral import (  # noqa: E402
    ClientPlaced, ReferralAccepted, ReferralCompleted, StationRegistered, TransferRequested,
)
from shared.envelope import encode, to_cloudevent  # noqa: E402
from shared.topics import ensure_topics  # noqa: E402

KAFKA_PORT = int(os.environ.get("JINGKANG_TEST_KAFKA_PORT", "19092"))
PG_PORT = int(os.environ.get("JINGKANG_TEST_PG_PORT", "5433"))
KAFKA = f"127.0.0.1:{KAFKA_PORT}"
PG_URL = f"postgresql://jingkang:jingkang@127.0.0.1:{PG_PORT}/jingkang_test"
CONSENT = ConsentScope(rehabilitation_services=True, share_with_health=True, share_with_disability_and_employment=False)
YEAR = (date(2026, 1, 1), date(2026, 12, 31))
SERVICES = ("intake", "assessment", "referral", "funding", "notification")


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=LOCAL)


def county(index: int) -> str:
    return f"{110000 + 10000 * (index // 90) + 101 + index % 90:06d}"  # 110101.. then 120101.. (never ..00)


def district_events(code: str, events: int, seed: int):
    """About `events` CloudEvents of one county's 2025-2026, as the services publish them:
    stations and a contract, then clients registered, assessed (v1 and v2), planned, served
    weekly (sessions and their accruals: most of the traffic), reassessed, some referred
    and placed; payments quarterly."""
    rng = random.Random(seed)
    n = 0

    def ce(event, when: datetime) -> dict:
        nonlocal n
        n += 1
        return to_cloudevent(event, id=str(uuid.UUID(int=rng.getrandbits(128))), time=when, sequence=n)

    stations = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(4)]
    streets = [f"{code}{i:03d}" for i in range(1, 13)]
    for i, s in enumerate(stations):
        yield ce(StationRegistered(station_id=s, tier="ningkang_post", district_code=code, streets=streets[3 * i:3 * i + 2],
                                   capacity=200), at(date(2025, 1, 2)))
    contract = uuid.UUID(int=rng.getrandbits(128))
    yield ce(PurchaseContractSigned(contract_id=contract, station_id=stations[0], district_code=code,
                                    period_start=date(2025, 1, 1), period_end=date(2026, 12, 31), budget=Decimal("2000000.00"),
                                    funding_sources=[FundingShare(source="district_finance", amount=Decimal("1500000.00")),
                                                     FundingShare(source="welfare_lottery", amount=Decimal("500000.00"))],
                                    unit_prices={"social_skills": Decimal("100.00")}), at(date(2025, 1, 1)))
    for q in range(8):
        paid_on = date(2025 + q // 4, 3 * (q % 4) + 3, 28)
        yield ce(PurchaseContractPaid(contract_id=contract, payment_id=uuid.UUID(int=rng.getrandbits(128)),
                                      amount=Decimal("150000.00"), period=f"Q{q}", paid_total=Decimal("150000.00") * (q + 1),
                                      remaining=Decimal("2000000.00") - Decimal("150000.00") * (q + 1)), at(paid_on))
    produced = 13
    while produced < events:
        client = uuid.UUID(int=rng.getrandbits(128))
        registered = date(2025, 1, 1) + timedelta(days=rng.randrange(700))
        station = rng.choice(stations)
        life = [ce(ClientRegistered(client_id=client, application_id=uuid.UUID(int=rng.getrandbits(128)), source="community",
                                    district_code=code, street_code=rng.choice(streets), registered_on=registered,
                                    free_service_eligible=True, hardship_categories=[], consent=CONSENT), at(registered))]
        assessed = registered
        fields = dict(client_id=client, assessment_id=uuid.UUID(int=rng.getrandbits(128)), kind="baseline", stability="stable",
                      risk_level=1, willing=True, service_category="community_rehab", medical_referral_needed=False,
                      assessed_on=assessed)
        life += [ce(AssessmentCompleted(**fields), at(assessed)), ce(AssessmentCompletedV2(**fields, functional_score=60), at(assessed))]
        if rng.random() < 0.8:
            agreed = registered + timedelta(days=rng.randrange(10, 45))
            life.append(ce(RehabPlanAgreed(client_id=client, plan_version=1, services=["social_skills"], agreed_by="client",
                                           agreed_on=agreed), at(agreed)))
        life.append(ce(ClientPlaced(client_id=client, station_id=station, district_code=code, placed_on=registered), at(registered)))
        due = registered + timedelta(days=90)
        life.append(ce(ReassessmentDue(client_id=client, last_assessed_on=registered, due_on=due), at(due)))
        if rng.random() < 0.3:
            asked = at(registered + timedelta(days=rng.randrange(5, 200)), 9)
            referral = uuid.UUID(int=rng.getrandbits(128))
            life += [ce(TransferRequested(client_id=client, referral_id=referral, kind="professional", reason="station_full",
                                          requested_at=asked, due_by=asked + timedelta(days=5)), asked),
                     ce(ReferralAccepted(client_id=client, referral_id=referral, kind="professional",
                                         at=asked + timedelta(hours=rng.randrange(1, 72))), asked + timedelta(days=3)),
                     ce(ReferralCompleted(client_id=client, referral_id=referral, kind="professional",
                                          at=asked + timedelta(days=10)), asked + timedelta(days=10))]
        for week in range(rng.randrange(8, 16)):
            day = registered + timedelta(days=7 * week + 3)
            session = uuid.UUID(int=rng.getrandbits(128))
            life += [ce(ServiceSessionDelivered(client_id=client, session_id=session, station_id=station,
                                                service_type="social_skills", session_date=day, minutes=60, mode="group",
                                                attendance="attended"), at(day)),
                     ce(SessionAccrued(contract_id=contract, session_id=session, service_type="social_skills",
                                       session_date=day, amount=Decimal("100.00")), at(day))]
        produced += len(life)
        yield from life


def publish(topics: dict[str, str], counties: list[str], per_county: int) -> int:
    producer = KafkaProducer(bootstrap_servers=KAFKA, acks=1, linger_ms=20, batch_size=256 * 1024,
                             compression_type=None, max_in_flight_requests_per_connection=5)
    sent = 0
    for i, code in enumerate(counties):
        for ce in district_events(code, per_county, seed=i):
            service = ce["source"].split("/")[1]
            producer.send(topics[service], key=ce["subject"].encode(), value=encode(ce))
            sent += 1
    producer.flush()
    producer.close()
    return sent


def raw_rate(topics: list[str]) -> tuple[int, float]:
    """A plain kafka-python consumer loop: poll until the end offsets, count the messages."""
    consumer = KafkaConsumer(bootstrap_servers=KAFKA, group_id=None, enable_auto_commit=False, max_poll_records=5000,
                             fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024)
    tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)
    started, read = time.perf_counter(), 0
    while any(consumer.position(tp) < end[tp] for tp in tps):
        for records in consumer.poll(timeout_ms=500, max_records=5000).values():
            read += len(records)
    elapsed = time.perf_counter() - started
    consumer.close()
    return read, elapsed


def model_rate(topics: list[str], store: str) -> tuple[int, float, Supervision]:
    model = ReadModel(store)
    supervision = Supervision(model, Rules())
    consumer = KafkaConsumer(bootstrap_servers=KAFKA, group_id=None, enable_auto_commit=False, max_poll_records=5000,
                             fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024)
    producer = KafkaProducer(bootstrap_servers=KAFKA)
    worker = ReadModelWorker(supervision, consumer, producer, "bench.supervision.dlq", max_records=5000, topics=topics)
    started = time.perf_counter()
    read = catch_up(worker)
    elapsed = time.perf_counter() - started
    consumer.close()
    producer.close()
    return read, elapsed, supervision


def query_latency(supervision: Supervision, district: str, requests: int = 60) -> dict:
    """p50/p95 of GET /v1/indicators: "fresh" as after a new fact arrived (the grouped facts
    are recomputed; facts already parsed stay parsed), and "repeat" (the same question again
    with nothing new: the grouped facts are reused)."""
    fresh = _latency(supervision, district, requests, forget=True)
    repeat = _latency(supervision, district, requests, forget=False)
    return {"p50_ms": fresh["p50_ms"], "p95_ms": fresh["p95_ms"], "repeat_p50_ms": repeat["p50_ms"],
            "repeat_p95_ms": repeat["p95_ms"], "requests": requests}


def _latency(supervision: Supervision, district: str, requests: int, forget: bool) -> dict:
    from fastapi.testclient import TestClient

    from services.supervision.api import create_app
    from shared.settings import load_settings

    http = TestClient(create_app(load_settings("supervision", {"JINGKANG_SUPERVISION_STORE": "memory://"}), supervision))
    params = {"district": district, "from": YEAR[0].isoformat(), "to": YEAR[1].isoformat()}
    assert http.get("/v1/indicators", params=params).status_code == 200  # warm
    times = []
    for _ in range(requests):
        if forget:
            supervision._collected.clear()
        started = time.perf_counter()
        answer = http.get("/v1/indicators", params=params)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(0.95 * len(times)) - 1], 1),
            "requests": requests}


def fresh_store(kind: str, tmp: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp}/supervision-{uuid.uuid4().hex[:8]}.sqlite"
    import psycopg

    schema = "bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{PG_URL}?schema={schema}"


def topics_of(run: str) -> dict[str, str]:
    return {s: f"bench.{run}.{s}.v1" for s in SERVICES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--county-sizes", default="10000,50000,100000")
    parser.add_argument("--store", default="postgresql", choices=["postgresql", "sqlite"])
    parser.add_argument("--out", default="supervision")
    parser.add_argument("--skip-catch-up", action="store_true", help="only the query curves (the largest point from --reuse)")
    parser.add_argument("--reuse", help="the run id of bench topics already published (bench.<run>.<service>.v1): "
                                        "measure catch-up on them instead of publishing --events anew")
    args = parser.parse_args()
    started_kafka = started_pg = False
    env = dict(os.environ, KAFKA_PORT=str(KAFKA_PORT), KAFKA_DATA=str(ROOT / f".cache/kafka-test-{KAFKA_PORT}"),
               PG_PORT=str(PG_PORT))
    if not listening(KAFKA_PORT):
        subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "start"], env=env, check=True)
        started_kafka = True
    if args.store == "postgresql" and not listening(PG_PORT):
        subprocess.run([str(ROOT / "deploy/postgres/postgres.sh"), "start"], env=env, check=True)
        started_pg = True
    results: dict = {"machine": {"cores": os.cpu_count(), "python": platform.python_version(), "cpu": platform.processor()},
                     "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "store": args.store}
    tmp = Path(tempfile.mkdtemp(prefix="bench-supervision-"))
    try:
        # --- catch-up of the whole backlog -------------------------------------------------------
        run = args.reuse or uuid.uuid4().hex[:8]
        topics = topics_of(run)
        ensure_topics(KAFKA, list(topics.values()))
        per_county = 10_000
        counties = [county(i) for i in range(max(1, args.events // per_county))]
        t = time.perf_counter()
        sent = 0 if args.reuse else publish(topics, counties, per_county)
        results["published"] = {"events": sent, "counties": len(counties), "seconds": round(time.perf_counter() - t, 1),
                                "reused_run": args.reuse}
        print("published", results["published"], flush=True)
        if not args.skip_catch_up:
            raw_read, raw_s = raw_rate(list(topics.values()))
            print("raw", raw_read, raw_s, flush=True)
        read, model_s, supervision = model_rate(list(topics.values()), fresh_store(args.store, tmp))
        print("model", read, model_s, flush=True)
        if not args.skip_catch_up:
            raw2_read, raw2_s = raw_rate(list(topics.values()))  # again after: drift on a shared machine
            raw_eps = (raw_read / raw_s + raw2_read / raw2_s) / 2
            results["catch_up"] = {"events": read, "model_seconds": round(model_s, 1),
                                   "model_events_per_s": round(read / model_s),
                                   "raw_events_per_s_before": round(raw_read / raw_s),
                                   "raw_events_per_s_after": round(raw2_read / raw2_s),
                                   "ratio": round((read / model_s) / raw_eps, 3)}
            print("catch_up", results["catch_up"], flush=True)
        results["query_full_backlog"] = query_latency(supervision, counties[0]) | {"model_events": read}
        print("query at backlog", results["query_full_backlog"], flush=True)
        supervision.model.close()

        # --- query latency as the model grows by counties -------------------------------------------
        curve = []
        for size in [int(s) for s in args.sizes.split(",")]:
            if size == read:
                curve.append({"model_events": size, "county_events": per_county, **results["query_full_backlog"]})
                continue
            run = uuid.uuid4().hex[:8]
            topics = topics_of(run)
            ensure_topics(KAFKA, list(topics.values()))
            n = max(1, size // per_county)
            publish(topics, [county(i) for i in range(n)], per_county)
            got, _, sv = model_rate(list(topics.values()), fresh_store(args.store, tmp))
            curve.append({"model_events": got, "county_events": per_county, **query_latency(sv, county(0))})
            print("curve", curve[-1], flush=True)
            sv.model.close()
        results["query_by_model_size"] = curve

        # --- query latency as one county's own history grows ---------------------------------------
        own = []
        for size in [int(s) for s in args.county_sizes.split(",")]:
            run = uuid.uuid4().hex[:8]
            topics = topics_of(run)
            ensure_topics(KAFKA, list(topics.values()))
            publish(topics, [county(0)], size)
            got, _, sv = model_rate(list(topics.values()), fresh_store(args.store, tmp))
            own.append({"model_events": got, "county_events": got, **query_latency(sv, county(0), requests=20)})
            print("county", own[-1], flush=True)
            sv.model.close()
        results["query_by_county_size"] = own
    finally:
        if started_kafka:
            subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "stop"], env=env, check=False)
        if started_pg:
            subprocess.run([str(ROOT / "deploy/postgres/postgres.sh"), "stop"], env=env, check=False)
    out = ROOT / "bench" / "results"
    (out / f"{args.out}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
