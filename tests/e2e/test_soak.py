"""Soak, end to end: several concurrent workers push clients through their whole journey
on the running system for JINGKANG_SOAK_SECONDS (default 60), through HTTP with bearer
tokens alone: application -> consent -> registration -> baseline assessment -> plan ->
service sessions at the station that placed them -> for some a relapse (the medical
referral opens by itself; the hospital accepts and completes, declines, or leaves it) ->
for some an exit. Stations have few places, so most clients wait; a station's capacity is
raised half-way; one purchase contract's budget is too small for what its station delivers.

When the workers stop (and the month is over, so it can be settled), the relays and the
consumers are given time to catch up, and then:

* stored = published: every public event that each service's event store implies (its
  stored events through the service's contract mapping) is on its topic once, with the
  same id and log position, and nothing else about our subjects is there (duplicates are
  counted apart: a republished copy must be identical);
* published = consumed: every consumer is at the end of every partition it reads, nothing
  of ours was dead-lettered, and each event had its effect downstream (a registered client
  has a record in assessment, a place in referral's register and a directory entry in
  notification; a relapse opened exactly one medical referral; an attended session accrued
  once, or was recorded unfunded; ...);
* the invariants: no client placed and waiting at once, no station over capacity (at every
  step of the district's history, and now), no free place while someone waits for it, no
  payment or settlement beyond a contract's budget (and an over-budget request refused),
  every medical referral answered or open with a deadline, flagged once it passed.
"""
from __future__ import annotations

import calendar
import collections
import itertools
import json
import os
import random
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest

from shared.clock import LOCAL
from shared.contract import event_type
from shared.envelope import event_id
from shared.topics import SERVICES, public_topics
from tests.e2e.conftest import URL as FIRST_SYSTEM_URL, auth, move_clock, open_store
from tests.support import application_body, keyed, read_all, wait_until

pytestmark = pytest.mark.e2e

SOAK_SECONDS = float(os.environ.get("JINGKANG_SOAK_SECONDS", "60"))
WORKERS = int(os.environ.get("JINGKANG_SOAK_WORKERS", "6"))
PRICES = {"social_skills": "120.00", "medication_training": "80.00"}  # peer_support is priced nowhere
SMALL_BUDGET = Decimal("450.00")
TRANSIENT = (409, 503)  # 409 only when "changed concurrently": nothing was saved, retry


def aim(system: dict, district: str = "110106") -> None:
    """Point the soak at a running system and a district of its own (its placement and
    waitlist are the soak's alone): the second soak, on PostgreSQL stores
    (test_zzz_soak_postgresql.py), shares the broker with this one and takes another district."""
    global URL, DISTRICT, STREETS, WORKER, ADMIN, HOSPITAL, OFFICER_A, OFFICER_B
    URL = system.get("url", FIRST_SYSTEM_URL)
    DISTRICT = district
    STREETS = [f"{DISTRICT}{n}" for n in ("201", "202", "203", "204")]  # the last one has no station
    WORKER = {"X-Jingkang-Actor": "worker-soak", "X-Jingkang-Role": "station_worker",
              **auth("station_worker", district=DISTRICT, sub="worker-soak")}
    ADMIN = auth("district_admin", district=DISTRICT, sub="admin-soak")
    HOSPITAL = auth("hospital", district=DISTRICT, sub="hospital-soak")
    OFFICER_A = auth("funding_officer", district=DISTRICT, sub="officer-a-soak")
    OFFICER_B = auth("funding_officer", district=DISTRICT, sub="officer-b-soak")


aim({})


def system_now(system: dict) -> datetime:
    path = system["clock_file"]
    offset = float(path.read_text()) if path.exists() else 0.0
    return datetime.now(timezone.utc) + timedelta(seconds=offset)


def system_today(system: dict) -> date:
    return system_now(system).astimezone(LOCAL).date()


def client() -> httpx.Client:
    """Idle connections are dropped well before uvicorn's 5 s keep-alive timeout: reusing one
    the server is closing at that very moment is a reset the services have no part in."""
    return httpx.Client(limits=httpx.Limits(keepalive_expiry=2.0))


class Soak:
    """The driver: what it did and what it was answered, shared by the worker threads."""

    def __init__(self, system: dict):
        self.system = system
        self.lock = threading.Lock()
        self.errors: list[str] = []
        self.retries = collections.Counter()
        self.clients: dict[str, dict] = {}  # client id -> what the driver did with them
        self.stations: dict[str, dict] = {}  # station id -> {streets, contract}
        self.contracts: dict[str, dict] = {}  # contract id -> {budget, station, paid}
        self.refused: collections.Counter = collections.Counter()  # what was refused as over budget
        self.stop = threading.Event()
        self.outcomes = itertools.cycle(["completed", "accepted", "completed", "declined", "requested", "completed"])

    # -- HTTP ---------------------------------------------------------------------------------

    def call(self, http: httpx.Client, method: str, url: str, headers: dict, expect: tuple[int, ...], **kw):
        if method == "POST":  # one key for every attempt: a retried command is done once (and money needs one)
            headers = keyed(headers)
        for attempt in range(30):
            try:
                r = http.request(method, url, headers=headers, timeout=30, **kw)
            except (httpx.ConnectError, httpx.ReadError) as e:
                # never sent, or a read that changes nothing: try again; a POST cut short is not
                # repeated (it may have been done), it fails the journey
                if attempt == 29 or not (method == "GET" or isinstance(e, httpx.ConnectError)):
                    raise
                with self.lock:
                    self.retries[type(e).__name__] += 1
                time.sleep(0.2)
                continue
            concurrent = r.status_code == 409 and "changed concurrently" in r.text
            if r.status_code not in expect and (concurrent or r.status_code == 503):
                with self.lock:
                    self.retries[r.status_code] += 1
                time.sleep(0.05 * (attempt + 1) + random.random() * 0.05)
                continue
            break
        assert r.status_code in expect, f"{method} {url.split('//')[-1]} -> {r.status_code} {r.text[:300]}"
        return r

    def poll(self, http: httpx.Client, what: str, get, ok, timeout: float = 60):
        """Poll a query until `ok(response)`; the answer."""
        found: list = []

        def check():
            r = get(http)
            if r.status_code == 200 and ok(r.json()):
                found.append(r.json())
                return True
            return False

        wait_until(check, timeout=timeout, interval=0.2, what=what)
        return found[-1]

    # -- set-up -------------------------------------------------------------------------------

    def set_up(self, http: httpx.Client) -> None:
        today = system_today(self.system)
        layout = [("soak-1", [STREETS[0]], 4, SMALL_BUDGET), ("soak-2", STREETS[0:2], 6, Decimal("100000.00")),
                  ("soak-3", [STREETS[2]], 3, None)]
        for name, streets, capacity, budget in layout:
            r = self.call(http, "POST", URL["referral"] + "/v1/stations", ADMIN, (201,), json={
                "name": f"丰台区宁康驿站（{name}）", "operator": "丰台区精神康复协会", "tier": "ningkang_post",
                "district_code": DISTRICT, "streets": streets, "capacity": capacity,
                "services": ["social_skills", "medication_training", "peer_support"]})
            station_id = r.json()["station_id"]
            self.stations[station_id] = {"name": name, "streets": streets, "contract": None}
            if budget is None:
                continue  # its sessions are unfunded
            lottery = (budget * Decimal("0.3")).quantize(Decimal("0.01"))
            r = self.call(http, "POST", URL["funding"] + "/v1/contracts", OFFICER_A, (201,), json={
                "station_id": station_id, "district_code": DISTRICT,
                "period_start": today.replace(day=1).isoformat(), "period_end": (today + timedelta(days=400)).isoformat(),
                "budget": f"{budget:.2f}", "funding_sources": [
                    {"source": "district_finance", "amount": f"{budget - lottery:.2f}"},
                    {"source": "welfare_lottery", "amount": f"{lottery:.2f}"}],
                "unit_prices": PRICES})
            contract_id = r.json()["contract_id"]
            self.stations[station_id]["contract"] = contract_id
            self.contracts[contract_id] = {"budget": budget, "station": station_id, "paid": Decimal("0")}

    # -- one client's journey -----------------------------------------------------------------

    def journey(self, http: httpx.Client, rng: random.Random) -> None:
        intake, assessment, referral = URL["intake"], URL["assessment"], URL["referral"]
        street = rng.choice(STREETS)
        r = self.call(http, "POST", intake + "/v1/applications", WORKER, (201,),
                      json=application_body(district_code=DISTRICT, street_code=street))
        application_id = r.json()["application_id"]
        self.call(http, "POST", f"{intake}/v1/applications/{application_id}/consent", WORKER, (201,),
                  json={"signed_by": "self"})
        client_id = self.call(http, "POST", f"{intake}/v1/applications/{application_id}/register", WORKER,
                              (201,)).json()["client_id"]
        me = {"street": street, "willing": rng.random() > 0.15, "sessions": [], "relapsed": False,
              "referral": None, "outcome": None, "exited": False}
        with self.lock:
            self.clients[client_id] = me
        record = f"{assessment}/v1/clients/{client_id}"
        self.poll(http, "assessment to learn the client", lambda h: h.get(record + "/record", headers=WORKER),
                  lambda body: True)
        self.call(http, "POST", record + "/assessments", WORKER, (201,), json={
            "kind": "baseline", "stability": "stable", "risk_level": 1, "willing": me["willing"],
            "functional_score": rng.randrange(40, 90), "assessor": "staff-soak-01"})
        self.call(http, "POST", record + "/plan", WORKER, (201,), json={
            "goals": ["daily-living"], "services": ["social_skills", "medication_training"], "agreed_by": "client"})
        placement_url = f"{referral}/v1/clients/{client_id}/placement"
        if me["willing"]:  # community_rehab: referral places them or puts them on the waitlist
            placed = self.poll(http, "the client placed or waitlisted",
                               lambda h: h.get(placement_url, headers=WORKER),
                               lambda body: body["status"] in ("placed", "waitlisted"))
            if placed["status"] == "placed":
                assert street in self.stations[placed["station_id"]]["streets"], (placed, street)
                today = system_today(self.system).isoformat()
                for _ in range(rng.randrange(2, 6)):
                    service_type = rng.choice(["social_skills", "social_skills", "medication_training", "peer_support"])
                    attendance = "attended" if rng.random() < 0.85 else "no_show"
                    r = self.call(http, "POST", record + "/sessions", WORKER, (201,), json={
                        "service_type": service_type, "station_id": placed["station_id"], "session_date": today,
                        "minutes": 60, "mode": "group", "attendance": attendance})
                    me["sessions"].append((r.json()["session_id"], placed["station_id"], service_type, attendance))
        if rng.random() < 0.35:  # a relapse: the green channel opens a medical referral by itself
            me["relapsed"] = True
            self.call(http, "POST", record + "/assessments", WORKER, (201,), json={
                "kind": "process", "stability": "unstable", "risk_level": 4, "willing": me["willing"],
                "functional_score": rng.randrange(20, 50), "assessor": "staff-soak-01"})
            found = self.poll(http, "a medical referral", lambda h: h.get(
                referral + "/v1/referrals", params={"client_id": client_id}, headers=HOSPITAL),
                lambda body: body["referrals"])
            [medical] = found["referrals"]
            assert (medical["kind"], medical["reason"], medical["status"]) == ("medical", "relapse_detected", "requested")
            me["referral"] = medical["referral_id"]
            answer = f"{referral}/v1/referrals/{medical['referral_id']}"
            with self.lock:
                outcome = next(self.outcomes)
            if outcome in ("completed", "accepted"):
                self.call(http, "POST", answer + "/accept", HOSPITAL, (200,))
            if outcome == "completed":
                self.call(http, "POST", answer + "/complete", HOSPITAL, (200,))
            elif outcome == "declined":
                self.call(http, "POST", answer + "/decline", HOSPITAL, (200,), json={"reason": "no_capacity"})
            me["outcome"] = outcome  # accepted: still in hospital; requested: its deadline must catch it
        if rng.random() < 0.25:
            self.call(http, "POST", f"{intake}/v1/clients/{client_id}/exit", WORKER, (200,), json={"reason": "recovered"})
            me["exited"] = True

    def worker(self, seed: int) -> None:
        rng = random.Random(seed)
        with client() as http:
            while not self.stop.is_set():
                try:
                    self.journey(http, rng)
                except Exception as e:  # noqa: BLE001 - reported with the others at the end
                    with self.lock:
                        self.errors.append(f"worker {seed}: {e!r}"[:600])

    # -- the purse and the district admin, at the same time -----------------------------------

    def officer(self) -> None:
        """Direct payments on the small contract until its budget is spent (never beyond it),
        an over-budget payment on the large one, and half-way more places at one station."""
        [small] = [c for c, v in self.contracts.items() if v["budget"] == SMALL_BUDGET]
        [large] = [c for c, v in self.contracts.items() if v["budget"] != SMALL_BUDGET]
        period = f"{system_today(self.system):%Y-%m}"
        amounts = [Decimal("100.00")] * 5 + [Decimal("50.00"), Decimal("0.01")]
        raised = False
        started = time.monotonic()
        with client() as http:
            try:
                for amount in amounts:
                    if self.stop.wait(SOAK_SECONDS / 10):
                        break
                    paid = self.contracts[small]["paid"]
                    fits = paid + amount <= SMALL_BUDGET
                    r = self.call(http, "POST", f"{URL['funding']}/v1/contracts/{small}/payments", OFFICER_A,
                                  (201,) if fits else (422,), json={"amount": f"{amount:.2f}", "period": period})
                    if fits:
                        self.contracts[small]["paid"] += amount
                        assert Decimal(r.json()["remaining"]) == SMALL_BUDGET - paid - amount, r.text
                    else:
                        self.refused["payment"] += 1
                    if not raised and time.monotonic() - started > SOAK_SECONDS / 2:
                        raised = True
                        [s3] = [s for s, v in self.stations.items() if v["name"] == "soak-3"]
                        self.call(http, "POST", f"{URL['referral']}/v1/stations/{s3}/capacity", ADMIN, (200,),
                                  json={"capacity": 6})
                self.call(http, "POST", f"{URL['funding']}/v1/contracts/{large}/payments", OFFICER_A, (422,),
                          json={"amount": "100000.01", "period": period})
                self.refused["payment"] += 1
            except Exception as e:  # noqa: BLE001
                with self.lock:
                    self.errors.append(f"officer: {e!r}"[:600])

    def settle(self, http: httpx.Client, period: str) -> None:
        """After the month: the large contract is settled, approved by a second officer and
        paid; the small one's settlement is refused (its budget is spent) and says so."""
        for contract_id, c in self.contracts.items():
            url = f"{URL['funding']}/v1/contracts/{contract_id}"
            before = self.call(http, "GET", url, OFFICER_A, (200,)).json()
            assert Decimal(before["accrued"]) > 0, f"nothing accrued on {contract_id}: the soak drove too little"
            body = {"period": period, "performance_score": "0.9", "reasons": ["督导评估：记录完整"]}
            if c["budget"] == SMALL_BUDGET:
                r = self.call(http, "POST", url + "/settlements", OFFICER_A, (422,), json=body)
                self.refused["settlement"] += 1
                after = self.call(http, "GET", url, OFFICER_A, (200,)).json()
                assert len(after["budget_rejections"]) == len(before["budget_rejections"]) + 1, after
                assert after["settlements"] == before["settlements"] and after["paid"] == before["paid"], r.text
                continue
            settlement = self.call(http, "POST", url + "/settlements", OFFICER_A, (201,), json=body).json()
            expected = (Decimal(before["accrued"]) * Decimal("0.9")).quantize(Decimal("0.01"), ROUND_HALF_UP)
            assert Decimal(settlement["amount"]) == expected, settlement
            s_url = f"{url}/settlements/{settlement['settlement_id']}"
            self.call(http, "POST", s_url + "/approval", OFFICER_B, (200,))
            self.call(http, "POST", s_url + "/payment", OFFICER_B, (201,))
            c["paid"] += expected


# -- reading what the system stored, published and did ---------------------------------------

def stored_events(system: dict) -> dict[str, list]:
    """Every service's stored events, in log order: (notification, domain event)."""
    out = {}
    for service in SERVICES:
        app = open_store(system, service)
        out[service] = [(n, app.mapper.to_domain_event(n)) for n in app.notifications()]
        app.close()
    return out


def positions(system: dict) -> dict[str, dict[str, int]]:
    """Per service: its log's last position, the relay's published position, and each
    Kafka partition its worker has processed (tracking records)."""
    out = {}
    for service in SERVICES:
        app = open_store(system, service)
        try:
            rows = {"log": app.recorder.max_notification_id() or 0,
                    "relay": app.recorder.max_tracking_id("kafka-relay") or 0}
            for topic in public_topics():
                for p in range(6):
                    offset = app.recorder.max_tracking_id(f"kafka:{topic}:{p}")
                    if offset is not None:
                        rows[f"{topic}:{p}"] = offset
            out[service] = rows
        finally:
            app.close()
    return out


def end_offsets(bootstrap: str) -> dict[str, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(t, p) for t in public_topics() for p in (consumer.partitions_for_topic(t) or ())]
        return {f"{tp.topic}:{tp.partition}": end for tp, end in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def consumer_topics() -> dict[str, list[str]]:
    import importlib

    return {s: importlib.import_module(f"services.{s}.consumers").TOPICS for s in SERVICES}


def caught_up(system: dict) -> dict[str, int] | None:
    """The relay positions if every relay has published its whole log and every worker has
    processed every partition it reads up to the end offsets seen after them; else None."""
    pos = positions(system)
    if any(p["relay"] != p["log"] for p in pos.values()):
        return None
    ends = end_offsets(system["kafka"])
    for service, topics in consumer_topics().items():
        for tp, end in ends.items():
            # (a worker that started at the end of the topics has nothing to do before its start)
            done = pos[service].get(tp, system.get("start_offsets", {}).get(tp, 0) - 1)
            if tp.rsplit(":", 1)[0] in topics and end > 0 and done < end - 1:
                return None
    return {s: p["relay"] for s, p in pos.items()}


def to_public(service: str):
    import importlib

    return importlib.import_module(f"services.{service}.contracts").to_public


def of(events, cls) -> list:
    return [e for _, e in events if isinstance(e, cls)]


# -- the test ---------------------------------------------------------------------------------

def test_soak_stored_published_consumed_agree_and_the_invariants_hold(system):
    aim(system)
    soak_and_check(system)


def soak_and_check(system: dict) -> None:
    """The soak on a running system (aimed at it by aim()), and every check of its outcome."""
    from services.assessment.domain import ClientRecord
    from services.funding.domain import PurchaseContract, StationFunding
    from services.notification.domain import DirectoryEntry, Notification
    from services.referral.domain import ClientReferrals, DistrictPlacement, Referral

    soak = Soak(system)
    with client() as http:
        soak.set_up(http)

    # When the workers push clients through for the soak's duration
    threads = [threading.Thread(target=soak.worker, args=(i,), daemon=True) for i in range(WORKERS)]
    threads.append(threading.Thread(target=soak.officer, daemon=True))
    started = time.monotonic()
    for t in threads:
        t.start()
    soak.stop.wait(SOAK_SECONDS)
    soak.stop.set()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "a soak worker did not finish its journey in 3 minutes"
    driven = time.monotonic() - started
    assert len(soak.clients) >= WORKERS, f"only {len(soak.clients)} clients in {driven:.0f} s"

    # and, once what the workers did has gone through (a plan agreed just before the move must
    # reach notification before its "plan due" reminder's day comes), the month is over, so its
    # accruals are settled
    wait_until(lambda: caught_up(system), timeout=180, interval=1, what="the relays and consumers to catch up")
    today = system_today(system)
    period = f"{today:%Y-%m}"
    last_day = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    move_clock(system, (last_day - today).days + 1.01)
    with client() as http:
        wait_until(lambda: caught_up(system), timeout=180, interval=1, what="the relays and consumers to catch up")
        soak.settle(http, period)

    # and every unanswered referral past its deadline has been flagged (the referral worker's timer)
    def referrals_flagged():
        app = open_store(system, "referral")
        try:
            now = system_now(system)
            ids = {n.originator_id for n, e in [(n, app.mapper.to_domain_event(n)) for n in app.notifications()]
                   if isinstance(e, Referral.Requested)}
            return all(r.overdue or r.status != "requested" or r.due_by > now
                       for r in (app.repository.get(i) for i in ids))
        finally:
            app.close()

    wait_until(referrals_flagged, timeout=120, interval=1, what="every overdue referral flagged")
    relayed = wait_until(lambda: caught_up(system), timeout=240, interval=1,
                         what="the relays and consumers to catch up")

    # Then: what each store holds (up to what its relay had published), what the topics hold
    stores = stored_events(system)
    published_all = read_all(system["kafka"], public_topics())
    dead_letters = read_all(system["kafka"], [f"jingkang.{s}.dlq" for s in SERVICES])

    expected: dict[str, dict] = {}  # CloudEvent id -> (type, subject, sequence)
    for service, events in stores.items():
        mapping = to_public(service)
        for n, e in events:
            if n.id > relayed[service]:
                continue
            for public in mapping(e):
                ce_id = event_id(service, n.originator_id, n.originator_version, public)
                assert ce_id not in expected, f"two stored events map to one CloudEvent id {ce_id}"
                expected[ce_id] = {"type": type(public), "subject": public.subject, "sequence": n.id,
                                   "service": service}
    # Anything else on the topics about the soak's own clients, stations and contracts can only
    # have come from this system; other events not in its stores (those of integration tests or
    # of another run sharing the broker, or published after the snapshot) are counted apart.
    ours = set(soak.clients) | set(soak.stations) | set(soak.contracts)

    by_id: dict[str, dict] = {}
    duplicates: collections.Counter = collections.Counter()
    foreign = 0
    for ce in published_all:
        service = str(ce.get("source", "")).split("/")[-1]
        later = not isinstance(ce.get("sequence"), int) or ce["sequence"] > relayed.get(service, 0)
        if ce.get("id") not in expected and (later or ce.get("subject") not in ours):
            foreign += 1
            continue
        mine = expected.get(ce["id"])
        if mine is not None and (ce.get("sequence") != mine["sequence"] or str(ce.get("subject")) != str(mine["subject"])):
            # Another system on the same broker consumed the same events (an integration test's
            # client, or the first soak's system reading the second one's topics: both then keep
            # the district's placement, whose id is the district's) and derived the same id for
            # what it caused: its copy, not ours. Ours must still be there (`missing` below).
            foreign += 1
            continue
        if ce["id"] in by_id:
            duplicates[ce["type"]] += 1
            first = by_id[ce["id"]]
            assert {k: first[k] for k in ("type", "subject", "sequence", "data")} == \
                   {k: ce[k] for k in ("type", "subject", "sequence", "data")}, f"a republished {ce['id']} differs"
            continue
        by_id[ce["id"]] = ce
    missing = [(v["type"].__name__, i) for i, v in expected.items() if i not in by_id]
    extra = [(ce["type"], i) for i, ce in by_id.items() if i not in expected]
    misplaced = [ce for i, ce in by_id.items() if i in expected and (
        ce["type"], ce["subject"], ce["sequence"], ce["source"]) != (
        event_type(expected[i]["type"]), expected[i]["subject"], expected[i]["sequence"],
        f"jingkang/{expected[i]['service']}")]
    ours_dead = [(ce.get("type"), ce.get("id")) for ce in dead_letters if ce.get("id") in expected]
    stored_count = collections.Counter(event_type(v["type"]) for v in expected.values())
    published_count = collections.Counter(ce["type"] for ce in by_id.values())
    published_ce = list(by_id.values())
    # consumed: processed by every worker that reads its topic (their tracking records), per type
    worker_positions = positions(system)
    readers = {t: [s for s, ts in consumer_topics().items() if t in ts] for t in public_topics()}
    processed = collections.Counter(
        ce["type"] for ce in published_ce
        if all(worker_positions[s].get(ce["_at"], -1) >= ce["_offset"] for s in readers[ce["_at"].rsplit(":", 1)[0]]))

    def published(name: str) -> list[dict]:
        return [ce for ce in published_ce if ce["type"].split(".")[2] == name and ce["type"].endswith(".v1")]

    # -- published = consumed: each event's effect downstream ---------------------------------
    # (every worker is at the end of every partition it reads: caught_up above)
    consumed: dict[str, int] = {}
    problems: list[str] = []

    def effect(name: str, ok, why) -> None:
        """Each published `name` event must satisfy ok(ce); count those that do."""
        events = published(name)
        bad = [ce for ce in events if not ok(ce)]
        problems.extend(why(ce) for ce in bad)
        consumed[[ce["type"] for ce in events][0] if events else f"?.{name}"] = len(events) - len(bad)

    a_events, r_events, f_events, n_events = (stores[s] for s in ("assessment", "referral", "funding", "notification"))
    records = {e.originator_id for e in of(a_events, ClientRecord.Opened)}
    a_exits = {e.originator_id for e in of(a_events, ClientRecord.Exited)}
    referral_clients = {e.originator_id for e in of(r_events, ClientReferrals.Registered)}
    referral_exits = {e.originator_id for e in of(r_events, ClientReferrals.Exited)}
    referral_classified = collections.Counter(e.originator_id for e in of(r_events, ClientReferrals.Classified))
    directory = {e.originator_id for e in of(n_events, DirectoryEntry.Registered)}
    directory_exits = {e.originator_id for e in of(n_events, DirectoryEntry.Exited)}
    located = {e.originator_id for e in of(n_events, DirectoryEntry.Located)}
    subject_of = lambda ce: uuid.UUID(ce["subject"])  # noqa: E731

    effect("ClientRegistered",
           lambda ce: subject_of(ce) in records and ClientReferrals.id_for(subject_of(ce)) in referral_clients
           and DirectoryEntry.id_for("client", subject_of(ce)) in directory,
           lambda ce: f"ClientRegistered {ce['subject']}: assessment record {subject_of(ce) in records}, referral "
                      f"{ClientReferrals.id_for(subject_of(ce)) in referral_clients}, notification "
                      f"{DirectoryEntry.id_for('client', subject_of(ce)) in directory}")
    effect("ClientExited",
           lambda ce: subject_of(ce) in a_exits and ClientReferrals.id_for(subject_of(ce)) in referral_exits
           and DirectoryEntry.id_for("client", subject_of(ce)) in directory_exits,
           lambda ce: f"ClientExited {ce['subject']} not recorded by every consumer")
    classified = collections.Counter(subject_of(ce) for ce in published("ClientClassified"))
    effect("ClientClassified",
           lambda ce: referral_classified[ClientReferrals.id_for(subject_of(ce))] == classified[subject_of(ce)],
           lambda ce: f"client {ce['subject']}: {classified[subject_of(ce)]} ClientClassified, referral recorded "
                      f"{referral_classified[ClientReferrals.id_for(subject_of(ce))]}")

    medical = collections.Counter(e.cause_event_id for e in of(r_events, Referral.Requested)
                                  if e.kind == "medical" and e.cause_event_id)
    effect("RelapseDetected", lambda ce: medical[ce["id"]] == 1,
           lambda ce: f"RelapseDetected {ce['id']} opened {medical[ce['id']]} medical referrals, not 1")
    relapse_ids = {ce["id"] for ce in published_all if ce.get("type", "").endswith(".RelapseDetected.v1")}
    problems += [f"a medical referral from {c}, which is no RelapseDetected" for c in medical if c not in relapse_ids]

    accrued = collections.Counter(e.session_id for e in of(f_events, PurchaseContract.SessionAccrued))
    unfunded = collections.Counter(e.session_id for e in of(f_events, StationFunding.SessionUnfunded))
    session = lambda ce: uuid.UUID(ce["data"]["session_id"])  # noqa: E731
    effect("ServiceSessionDelivered",
           lambda ce: accrued[session(ce)] + unfunded[session(ce)] == (ce["data"]["attendance"] == "attended"),
           lambda ce: f"session {session(ce)} ({ce['data']['attendance']}) accrued {accrued[session(ce)]} "
                      f"and unfunded {unfunded[session(ce)]} times")
    session_ids = {session(ce) for ce in published_all if ce.get("type", "").endswith(".ServiceSessionDelivered.v1")}
    problems += [f"accrued session {s} was never delivered" for s in accrued if s not in session_ids]
    accrual = {ce["data"]["session_id"]: ce for ce in published("SessionAccrued")}
    delivered = {ce["data"]["session_id"]: ce for ce in published("ServiceSessionDelivered")}
    problems += [f"session {s} accrued {a['data']['amount']} for {delivered[s]['data']['service_type']}"
                 for s, a in accrual.items() if s in delivered and a["subject"] in soak.contracts
                 and a["data"]["amount"] != PRICES.get(delivered[s]["data"]["service_type"])]

    learned = {e.originator_id for e in of(f_events, StationFunding.Registered)}
    effect("StationRegistered", lambda ce: StationFunding.id_for(subject_of(ce)) in learned,
           lambda ce: f"funding did not learn StationRegistered {ce['subject']}")
    effect("PurchaseContractSigned", lambda ce: DirectoryEntry.id_for("contract", subject_of(ce)) in located,
           lambda ce: f"notification did not locate contract {ce['subject']}")

    caused = collections.Counter(e.cause_event_id for e in of(n_events, Notification.Scheduled) if e.cause_event_id)
    effect("TransferRequested", lambda ce: caused[ce["id"]] == 1,
           lambda ce: f"TransferRequested {ce['id']} notified {caused[ce['id']]} times, not once")
    for name in ("PurchaseContractPaid", "ReferralOverdue", "DynamicCareContactDue", "PlanOverdue", "ReassessmentDue"):
        effect(name, lambda ce: caused[ce["id"]] >= 1, lambda ce: f"{ce['type']} {ce['id']} notified nobody")
    # an agreed plan: its "plan due" reminder is cancelled, or was never scheduled; never sent
    plan_reminded = {e.client_id for e in of(n_events, Notification.Sent) if e.kind == "plan_due"}
    planned = {subject_of(ce): ce for ce in published("RehabPlanAgreed")}
    effect("RehabPlanAgreed", lambda ce: subject_of(ce) not in plan_reminded,
           lambda ce: f"client {ce['subject']} was reminded of a plan agreed on {ce['data']['agreed_on']}")

    # and what notification believes of each of the soak's clients' station is what referral placed
    notification_store = open_store(system, "notification")
    try:
        for client_id, me in soak.clients.items():
            if me["exited"]:
                continue
            entry_id = DirectoryEntry.id_for("client", uuid.UUID(client_id))
            repository = notification_store.repository
            me["notified_station"] = repository.get(entry_id).station_id if entry_id in repository else "no entry"
    finally:
        notification_store.close()

    # stored = published = consumed, for the log
    clients = soak.clients.values()
    print(f"\nsoak: {driven:.0f} s, {WORKERS} workers, {len(soak.clients)} clients "
          f"({sum(c['relapsed'] for c in clients)} relapsed: {dict(collections.Counter(c['outcome'] for c in clients if c['relapsed']))}; "
          f"{sum(c['exited'] for c in clients)} exited; {sum(len(c['sessions']) for c in clients)} sessions), "
          f"retried {dict(soak.retries)}, refused as over budget {dict(soak.refused)}; "
          f"{foreign} events on the topics not ours or after the snapshot; {len(dead_letters)} dead letters")
    print(f"{'event type':<52}{'stored':>8}{'published':>10}{'dups':>6}{'consumed':>10}{'effect':>8}")
    for name in sorted(set(stored_count) | set(published_count)):
        print(f"{name:<52}{stored_count[name]:>8}{published_count[name]:>10}"
              f"{duplicates.get(name, 0):>6}{processed[name]:>10}{consumed.get(name, '-'):>8}")
    print("(consumed: processed by every worker that reads its topic; effect: those whose effect downstream was "
          "checked and found; '-': no per-event effect checked)")

    # (a failed journey is reported after the system's own checks, which say more about why)
    assert not missing, f"{len(missing)} stored events never published, e.g. {missing[:5]}"
    assert not extra, f"{len(extra)} published events about our subjects that no store holds, e.g. {extra[:5]}"
    assert not misplaced, f"{len(misplaced)} published with another type, subject or position: {misplaced[:2]}"
    assert stored_count == published_count
    assert processed == published_count, "published events not processed by every worker that reads their topic"
    assert not ours_dead, f"{len(ours_dead)} of our events were dead-lettered: {ours_dead[:5]}"
    assert not problems, f"{len(problems)} events without their effect downstream:\n" + "\n".join(problems[:10])

    # -- the invariants -------------------------------------------------------------------------
    # Placement, replayed from the district's stored history step by step: never placed and
    # waiting at once, never more clients at a station than its places.
    districts = collections.defaultdict(list)
    for _, e in r_events:
        if type(e).__qualname__.startswith("DistrictPlacement."):
            districts[e.originator_id].append(e)
    final = {}
    for district_id, history in districts.items():
        capacity, streets, placed, waiting, away = {}, {}, {}, [], set()
        for e in history:
            kind = type(e).__name__
            if kind == "StationOpened":
                capacity[e.station_id], streets[e.station_id] = e.capacity, e.streets
            elif kind == "CapacityChanged":
                capacity[e.station_id] = e.capacity
            elif kind == "Placed":
                assert e.client_id not in placed, f"{e.client_id} placed twice (v{e.originator_version})"
                waiting = [w for w in waiting if w != e.client_id]
                placed[e.client_id] = e.station_id
            elif kind == "Transferred":
                placed[e.client_id] = e.station_id
                waiting = [w for w in waiting if w != e.client_id]
            elif kind == "Waitlisted":
                assert e.client_id not in placed and e.client_id not in waiting, \
                    f"{e.client_id} waitlisted while placed or waiting (v{e.originator_version})"
                waiting.append(e.client_id)
            elif kind == "Left":  # exited: off the station or the list
                placed.pop(e.client_id, None)
                waiting = [w for w in waiting if w != e.client_id]
                away.discard(e.client_id)
            elif kind == "Lapsed":  # waited more than 90 days: off the list until re-verified
                waiting = [w for w in waiting if w != e.client_id]
            elif kind == "LeftForHospital":
                away.add(e.client_id)
            elif kind == "Returned":
                away.discard(e.client_id)
            assert not set(placed) & set(waiting), f"placed and waiting at once after v{e.originator_version}"
            occupancy = collections.Counter(placed.values())
            over = {s: (occupancy[s], capacity.get(s)) for s in occupancy if occupancy[s] > capacity.get(s, 0)}
            assert not over, f"stations over capacity after v{e.originator_version} ({kind}): {over}"
        final[district_id] = (capacity, streets, placed, waiting, away)

    # and the district as referral answers now agrees with that history
    capacity, streets, placed, waiting, away = final[DistrictPlacement.id_for(DISTRICT)]
    with client() as http:
        listed = soak.call(http, "GET", URL["referral"] + "/v1/stations", ADMIN, (200,),
                           params={"district": DISTRICT}).json()["stations"]
        line = soak.call(http, "GET", URL["referral"] + "/v1/waitlist", ADMIN, (200,),
                         params={"district": DISTRICT}).json()["waiting"]
        occupancy = collections.Counter(placed.values())
        for s in listed:
            sid = uuid.UUID(s["station_id"])
            assert (s["capacity"], s["occupancy"]) == (capacity[sid], occupancy[sid]), s
            assert s["occupancy"] <= s["capacity"]
            if s["free_places"] > 0:  # a free place goes to the first in line for it
                assert not [w for w in line if w["street_code"] in s["streets"]], (s, line)
        assert [uuid.UUID(w["client_id"]) for w in line] == waiting

        # each of the soak's clients is where the driver's story says
        for client_id, me in soak.clients.items():
            if me["relapsed"]:  # one medical referral, as the hospital left it
                [r] = soak.call(http, "GET", URL["referral"] + "/v1/referrals", HOSPITAL, (200,),
                                params={"client_id": client_id}).json()["referrals"]
                assert r["referral_id"] == me["referral"] and r["status"] == me["outcome"], (client_id, me, r)
            where = soak.call(http, "GET", f"{URL['referral']}/v1/clients/{client_id}/placement", WORKER,
                              (200,)).json()
            if me["exited"]:
                assert where["status"] == "exited", (client_id, me, where)
                continue
            cid = uuid.UUID(client_id)
            want = ("placed" if cid in placed else "waitlisted") if me["willing"] else "not_placed"
            assert where["status"] == want, (client_id, me, where)
            assert me["notified_station"] == placed.get(cid), f"notification has {client_id} at another station"
            # on an accepted medical referral the place (or the turn) is held for them
            assert where["in_hospital"] == (me["outcome"] == "accepted" and me["willing"]), (client_id, me, where)

    # Every medical referral is answered, or open with a deadline (and flagged once past it).
    app = open_store(system, "referral")
    try:
        now = system_now(system)
        open_ones = 0
        for rid in {e.originator_id for e in of(r_events, Referral.Requested)}:
            r = app.repository.get(rid)
            if r.status in ("completed", "declined", "cancelled"):
                continue
            open_ones += 1
            assert r.due_by is not None, f"referral {rid} is {r.status} with no deadline"
            if r.status == "requested" and r.due_by <= now:
                assert r.overdue, f"referral {rid} is past its deadline {r.due_by} and not flagged"
    finally:
        app.close()
    flagged = collections.Counter(ce["data"]["referral_id"] for ce in published("ReferralOverdue"))
    assert all(v == 1 for v in flagged.values()), f"a referral flagged overdue twice: {flagged.most_common(1)}"

    # No payment or settlement beyond a contract's budget, at any step of its history.
    budgets = {}
    for _, e in f_events:
        if isinstance(e, PurchaseContract.Signed):
            budgets[e.originator_id] = {"budget": e.budget, "paid": Decimal(0), "held": {}}
        elif isinstance(e, (PurchaseContract.Paid, PurchaseContract.SettlementPaid)):
            b = budgets[e.originator_id]
            b["paid"] += e.amount
            sid = getattr(e, "settlement_id", None)
            b["held"].pop(sid, None)
            assert b["paid"] + sum(b["held"].values()) <= b["budget"], f"contract {e.originator_id} paid beyond budget"
            assert e.paid_total == b["paid"] and e.remaining >= 0, (e.paid_total, b["paid"], e.remaining)
        elif type(e).__name__ == "SettlementPrepared":
            b = budgets[e.originator_id]
            b["held"][e.settlement_id] = e.amount
            assert b["paid"] + sum(b["held"].values()) <= b["budget"], f"contract {e.originator_id} settled beyond budget"
        elif type(e).__name__ == "SettlementDeclined":
            budgets[e.originator_id]["held"].pop(e.settlement_id, None)
    signed = {ce["subject"]: Decimal(ce["data"]["budget"]) for ce in published("PurchaseContractSigned")}
    for ce in published("PurchaseContractPaid"):
        assert Decimal(ce["data"]["paid_total"]) <= signed[ce["subject"]] and Decimal(ce["data"]["remaining"]) >= 0, ce
    for ce in published("SettlementApproved"):
        assert Decimal(ce["data"]["amount"]) <= signed[ce["subject"]], ce
    with client() as http:
        for contract_id, c in soak.contracts.items():
            figures = soak.call(http, "GET", f"{URL['funding']}/v1/contracts/{contract_id}", OFFICER_A, (200,)).json()
            assert Decimal(figures["paid"]) == c["paid"] <= c["budget"], (figures["paid"], c)
            assert Decimal(figures["remaining"]) >= 0, figures
            assert Decimal(figures["paid"]) == budgets[uuid.UUID(contract_id)]["paid"], figures
    [small] = [c for c, v in soak.contracts.items() if v["budget"] == SMALL_BUDGET]
    assert soak.contracts[small]["paid"] == SMALL_BUDGET, "the small contract's budget was not spent: drive longer"
    rejected = [ce for ce in published("BudgetExceededRejected") if ce["subject"] in soak.contracts]
    assert len(rejected) == soak.refused["settlement"], (rejected, soak.refused)
    assert not soak.errors, f"{len(soak.errors)} journeys failed; first: " + "\n".join(soak.errors[:5])
