"""The relay against the raw producer, interleaved: ROUNDS rounds of N events, each round the
relay publishes them (system), then a bare producer sends the same messages (raw), with the
process's CPU time of each side. CPU per event is what to compare on a shared machine: the
relay is CPU-bound, and wall-clock ratios of single runs moved 0.3-1.1 at load 10-18.

    .venv/bin/python bench/relay_ab.py CODE_ROOT N ROUNDS TRACING(0|1)

CODE_ROOT is a checkout whose shared/ is measured (e.g. `git archive main shared bench | tar -x -C /tmp/old`,
with services/ linked in), so old and new code run alternately against one broker and database."""
import sys, time, json, statistics
root, n, rounds, tracing = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
sys.path.insert(0, root); sys.path.insert(0, root + "/bench")
import run as b
from kafka import KafkaProducer
from shared.relay import OutboxRelay, make_producer
from shared.topics import ensure_topics
from shared.envelope import encode, event_id, to_cloudevent
if tracing:
    from shared.telemetry import setup_tracing
    setup_tracing("bench", "relay")
ensure_topics(b.KAFKA, ["jingkang.bench.v1", "jingkang.benchraw.v1"])
app = b.bench_app(b.fresh_schema())
relay = OutboxRelay(app, "bench", b.to_public, make_producer(b.KAFKA), batch_size=500)
producer = KafkaProducer(bootstrap_servers=b.KAFKA, acks="all", enable_idempotence=True, linger_ms=5, max_in_flight_requests_per_connection=5)
ratios, sys_t, raw_t, sys_c, raw_c = [], 0.0, 0.0, 0.0, 0.0
for r in range(rounds):
    start = app.recorder.max_notification_id() or 0
    b.fill(app, n)
    t, c = time.perf_counter(), time.process_time()
    while relay.publish_batch(): pass
    s = time.perf_counter() - t; sys_c += time.process_time() - c
    messages = []
    for notification in app.recorder.select_notifications(start=start, limit=n, inclusive_of_start=False):
        de = app.mapper.to_domain_event(notification)
        for public in b.to_public(de):
            ce = to_cloudevent(public, id=event_id("bench", notification.originator_id, 1, public), time=de.timestamp, sequence=notification.id)
            h = [("content-type", b"application/cloudevents+json"), ("ce_type", ce["type"].encode()), ("traceparent", ("00-" + "a"*32 + "-" + "b"*16 + "-01").encode())]
            messages.append((public.subject.encode(), encode(ce), h))
    t, c = time.perf_counter(), time.process_time()
    futures = [producer.send("jingkang.benchraw.v1", key=k, value=v, headers=h) for k, v, h in messages]
    producer.flush()
    for f in futures: f.get(timeout=30)
    w = time.perf_counter() - t; raw_c += time.process_time() - c
    ratios.append(w / s); sys_t += s; raw_t += w
print(json.dumps({"code": root, "tracing": tracing, "system_per_s": round(n*rounds/sys_t), "raw_per_s": round(n*rounds/raw_t),
                  "ratio_total": round(raw_t/sys_t, 3), "cpu_us_per_event_system": round(sys_c/n/rounds*1e6), "cpu_us_per_event_raw": round(raw_c/n/rounds*1e6), "cpu_ratio": round(raw_c/sys_c, 3), "ratio_median": round(statistics.median(ratios), 3), "ratios": [round(x, 2) for x in ratios]}))
