"""Helpers shared by the test tiers: valid applicants, waiting, reading a topic."""
from __future__ import annotations

import json
import random
import re
import time
import uuid
from datetime import date, timedelta
from typing import Any, Callable

from services.intake.resident_id import check_digit


_issued: set[str] = set()  # intake refuses a second open application for one person: never repeat one


def resident_id(born: date, sex: str = "female", region: str = "110105") -> str:
    """A valid resident id for that birth date and sex, not handed out before in this process."""
    for _ in range(1000):
        seq = random.randrange(0, 100) * 10 + random.choice([1, 3, 5, 7, 9] if sex == "male" else [0, 2, 4, 6, 8])
        first17 = f"{region}{born:%Y%m%d}{seq:03d}"
        number = first17 + check_digit(first17)
        if number not in _issued:
            _issued.add(number)
            return number
    raise RuntimeError("no unused resident id left for that birth date, sex and region")


def guardian(born: date | None = None, relationship: str = "parent") -> dict[str, Any]:
    """A guardian as the API takes it: an adult by default."""
    born = born or date(1960, 1, 1) + timedelta(days=random.randrange(0, 7000))
    return {"name": "监护" + uuid.uuid4().hex[:4], "id_number": resident_id(born, "male", region="110108"),
            "relationship": relationship, "phone": "13700000000"}


def applicant(born: date | None = None, sex: str = "female") -> dict[str, Any]:
    born = born or date(1960, 1, 1) + timedelta(days=random.randrange(0, 15000))
    return {"name": "测试" + uuid.uuid4().hex[:4], "id_number": resident_id(born, sex), "birth_date": born.isoformat(),
            "sex": sex, "phone": "13800000000", "address": "朝阳区某街道1号"}


def application_body(**overrides: Any) -> dict[str, Any]:
    body = {"source": "hospital_discharge", "applicant": applicant(), "district_code": "110105",
            "street_code": "110105001", "hardship_categories": ["minimum_living_allowance"]}
    body.update(overrides)
    return body


def wait_until(predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.25, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as e:  # not there yet
            last_error = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_error!r})" if last_error else ""))


def read_topic(bootstrap: str, topic: str, keep: Callable[[dict], bool], expect: int, timeout: float = 60) -> list[tuple[Any, dict]]:
    """Read `topic` from the beginning as a fresh consumer group until `expect` kept events arrived."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="test-" + uuid.uuid4().hex,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=1000)
    kept: list[tuple[Any, dict]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for message in consumer:  # ends after 1 s without messages
                try:
                    ce = json.loads(message.value)
                except ValueError:
                    continue
                if isinstance(ce, dict) and keep(ce):
                    kept.append((message, ce))
            if len(kept) >= expect:  # and the topic went quiet: duplicates would have shown
                break
    finally:
        consumer.close()
    return kept


def messages(bootstrap: str, topics: list[str], timeout: float = 120) -> list[Any]:
    """Every message of the topics from the beginning up to their end offsets now, as
    kafka-python records, read by a fresh consumer with no group (it commits nothing and
    disturbs no service's group)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out, deadline = [], time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"{topics} not read to their end in {timeout:.0f} s"
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
        return out
    finally:
        consumer.close()


def read_all(bootstrap: str, topics: list[str], timeout: float = 120) -> list[dict]:
    """messages() that are JSON objects (CloudEvents), with where each was ("_at":
    "topic:partition", "_offset")."""
    out = []
    for m in messages(bootstrap, topics, timeout):
        try:
            ce = json.loads(m.value)
        except (TypeError, ValueError):
            continue
        if isinstance(ce, dict):
            out.append({**ce, "_at": f"{m.topic}:{m.partition}", "_offset": m.offset})
    return out


MONEY_MOVING_PATH = re.compile(r"/(payments|payment|settlements|subsidies)$")


def keyed(headers: dict[str, str] | None = None) -> dict[str, str]:
    """Headers with a new Idempotency-Key: each call is a new request (funding's money-moving
    commands require one)."""
    return {**(headers or {}), "Idempotency-Key": str(uuid.uuid4())}


def with_idempotency_keys(client: Any) -> Any:
    """An httpx/TestClient that sends a new Idempotency-Key with every money-moving POST
    that does not carry one, as a careful client would."""
    def add_key(request: Any) -> None:
        if request.method == "POST" and MONEY_MOVING_PATH.search(request.url.path) and "idempotency-key" not in request.headers:
            request.headers["Idempotency-Key"] = str(uuid.uuid4())

    client.event_hooks = {**client.event_hooks, "request": [*client.event_hooks.get("request", []), add_key]}
    return client


def dead_letters(bootstrap: str, topic: str, key: bytes) -> list:
    """The messages of that key in a dead-letter topic, read from its start."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="t-" + uuid.uuid4().hex,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000)
    try:
        return [m for m in consumer if m.key == key]
    finally:
        consumer.close()


def stop_process(proc: Any) -> None:
    """SIGTERM a service process started by a test, as an operator would; killed after 30 s."""
    import signal
    import subprocess

    if proc.poll() is not None:  # already gone
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
