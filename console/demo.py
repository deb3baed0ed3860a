"""Load the demo district (演示): a small, obviously fictional district 110105 whose stations,
clients, referrals and money give every page of the console something to show.

    .venv/bin/python -m console.demo [--host 127.0.0.1] [--base-port 8001] [--data-dir .data]
    make demo

It acts only through the services' public HTTP APIs, as the demo staff of
deploy/demo/users.json (tokens signed with the development key, <data dir>/jwt.key or
JINGKANG_JWT_KEY), never into a store. To give the district a history (clients who have
waited more than 90 days, a contract period that has ended and can be settled), it moves the
development clock (JINGKANG_CLOCK_FILE, which `make up` keeps at <data dir>/clock-offset-seconds)
back about five months, acts as the staff would have acted on those days, and puts the clock
back where it was. Without a movable clock everything happens today and the parts that need
a past are skipped (it says which). Running it again finds its stations and adds nothing.
Everything personal here is invented: names start with 演示 (demo), ids are made up."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import httpx

from services.intake.resident_id import check_digit
from shared.auth import Authority
from shared.clock import LOCAL

ROOT = Path(__file__).resolve().parent.parent
DISTRICT = "110105"
MARK = "演示·"  # every demo station's name starts with it: how a second run knows the district is loaded
SERVICES = ("intake", "assessment", "referral", "funding", "notification")
HISTORY_DAYS = 150  # how far back the demo district's story starts


@dataclass(frozen=True)
class Station:
    key: str
    name: str
    tier: str
    streets: tuple[str, ...]
    capacity: int
    services: tuple[str, ...]  # what its sessions deliver, in turn
    prices: dict[str, str] = field(default_factory=dict)  # its purchase contract's unit prices; none: no contract
    budget: str = ""


STATIONS = (
    Station("S1", MARK + "朝阳区宁康驿站", "ningkang_post", ("110105011", "110105012"), 10,
            ("social_skills", "medication_training"), {"social_skills": "120.00", "medication_training": "100.00"},
            "120000.00"),
    Station("S2", MARK + "朝阳区宁康家园", "ningkang_home", ("110105013",), 8,
            ("daily_living_skills", "family_support"), {"daily_living_skills": "100.00", "family_support": "150.00"},
            "80000.00"),
    # Small on purpose: its street's later clients wait for a place.
    Station("S3", MARK + "朝阳区省级示范点", "provincial_demo", ("110105014",), 3, ("peer_support",)),
)
STREET_OF = {"S1": "110105011", "S2": "110105013", "S3": "110105014"}

SURNAMES = "甲乙丙丁戊己庚辛壬癸"
GIVEN = ("一", "二", "三")


@dataclass
class Person:
    """One fictional client and how far the story takes them."""
    n: int
    station: str  # whose street they live on
    arrives: int  # day (relative to today, negative = past) of the application
    stage: str  # applied | consented | registered | assessed | planned (placed or waitlisted)
    willing: bool = True  # unwilling: dynamic care (follow-up contacts, no place)
    events: dict[str, int] = field(default_factory=dict)  # relapse / exit / reassessed -> day
    exit_reason: str = ""
    application_id: str | None = None
    client_id: str | None = None

    @property
    def name(self) -> str:
        return f"{MARK}{SURNAMES[self.n % 10]}{GIVEN[self.n // 10 % 3]}"

    @property
    def born(self) -> date:
        return date(1965 + self.n % 30, 1 + self.n % 12, 1 + (self.n * 7) % 28)

    @property
    def sex(self) -> str:
        return "female" if self.n % 2 == 0 else "male"

    def application(self) -> dict[str, Any]:
        # A made-up resident id for the birth date and sex, with a valid check digit.
        seq = 900 + (self.n * 2 if self.sex == "female" else self.n * 2 + 1) % 100
        first17 = f"{DISTRICT}{self.born:%Y%m%d}{seq:03d}"
        return {"source": "community" if self.n % 3 else "hospital_discharge",
                "applicant": {"name": self.name, "id_number": first17 + check_digit(first17),
                              "birth_date": self.born.isoformat(), "sex": self.sex,
                              "phone": f"1380000{self.n:04d}", "address": f"演示区演示街道{self.n + 1}号"},
                "district_code": DISTRICT, "street_code": STREET_OF[self.station],
                "hardship_categories": ["minimum_living_allowance"] if self.n % 4 == 0 else []}


def cast() -> list[Person]:
    """The demo district's clients: every stage of the journey, with a history."""
    people: list[Person] = []

    def add(station: str, arrives: int, stage: str, **kw: Any) -> Person:
        people.append(Person(len(people), station, arrives, stage, **kw))
        return people[-1]

    # Five months ago: the first clients, placed at the three stations; the third station fills.
    for i in range(6):
        add("S1", -140, "planned", events={"reassessed": -50} if i % 2 else {})
    for i in range(4):
        add("S2", -140, "planned", events={"reassessed": -50} if i % 2 else {})
    for _ in range(3):
        add("S3", -140, "planned")
    add("S1", -140, "assessed", willing=False)  # dynamic care: contacts, no place
    add("S2", -138, "assessed", willing=False)
    # Their street's station is full: two wait from then on (over 90 days by today), two later.
    add("S3", -125, "planned")
    add("S3", -120, "planned")
    add("S3", -30, "planned")
    add("S3", -12, "planned")
    # Relapses: one went to hospital and came back; one is overdue for the hospital's answer;
    # one was reported today.
    people[1].events.update(relapse=-60, accepted=-60, completed=-45)
    people[2].events.update(relapse=-3)
    people[7].events.update(relapse=0)
    # Exits: one moved away, one recovered.
    people[3].events.update(exit=-20)
    people[3].exit_reason = "moved_away"
    people[8].events.update(exit=-15)
    people[8].exit_reason = "recovered"
    # Six weeks ago: two more planned, one assessed without a plan, one registered only (plans overdue).
    add("S1", -40, "planned")
    add("S2", -40, "planned")
    add("S1", -40, "assessed")
    add("S2", -40, "registered")
    # This month: registered this week, consented but not registered, applied (one past its limit).
    add("S1", -5, "registered")
    add("S1", -2, "consented")
    add("S2", -2, "consented")
    add("S1", -8, "applied")
    add("S2", 0, "applied")
    add("S1", 0, "applied")
    return people


def token_for(authority: Authority, user: dict[str, Any]) -> str:
    return authority.issue(sub=user["sub"], role=user["role"], districts=user["districts"])


class Clock:
    """The development clock every process reads (shared.clock.SystemClock's offset file).
    `at(day)` moves it to that many days from today (negative: the past); `restore()` puts
    back what it held before."""

    def __init__(self, path: Path | None):
        self.path = path
        self.original: str | None = path.read_text() if path and path.exists() else None
        self.base = float(self.original or 0) if self.original is not None and self.original.strip() else 0.0
        self.day = 0

    @property
    def today(self) -> date:
        """Today as the services see it with the clock where it started."""
        return (datetime.now(timezone.utc) + timedelta(seconds=self.base)).astimezone(LOCAL).date()

    def date(self, day: int) -> date:
        return self.today + timedelta(days=day)

    def at(self, day: int) -> None:
        self.day = day
        if self.path:
            self.path.write_text(str(self.base + day * 86400))

    def restore(self) -> None:
        self.day = 0
        if not self.path:
            return
        if self.original is None:
            self.path.unlink(missing_ok=True)
        else:
            self.path.write_text(self.original)


class DemoError(RuntimeError):
    pass


class Demo:
    """Tells the demo district's story through the APIs, day by day."""

    def __init__(self, urls: dict[str, str], tokens: dict[str, str], clock: Clock, say: Callable[[str], None] = print,
                 timeout: float = 60):
        self.urls, self.tokens, self.clock, self.say, self.timeout = urls, tokens, clock, say, timeout
        self.http = httpx.Client(timeout=30)
        self.people = cast()
        self.stations: dict[str, str] = {}  # key -> station id
        self.contracts: dict[str, str] = {}  # station key -> contract id
        self.sessions_to: int = -HISTORY_DAYS  # sessions are recorded up to this day
        self.history = clock.path is not None
        self.counts: dict[str, int] = {}

    # -- HTTP ---------------------------------------------------------------------------

    def call(self, user: str, method: str, service: str, path: str, body: Any = None,
             ok: tuple[int, ...] = (200, 201)) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())  # money commands require one; a retry reuses it
        for _ in range(10):
            r = self.http.request(method, self.urls[service] + path, json=body, headers=headers)
            # The worker's deadline tick may save the same aggregate at the same moment: retry, as the answer says.
            if r.status_code != 409 or "concurrently" not in r.text:
                break
            time.sleep(0.1)
        if r.status_code not in ok:
            raise DemoError(f"{method} {service} {path.split('?')[0]} as {user}: {r.status_code} {r.text[:300]}")
        return r.json() if r.content else None

    def wait(self, what: str, check: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(0.2)
        raise DemoError(f"waited {self.timeout:.0f}s for {what}; are the relays and workers running?")

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    # -- the story ----------------------------------------------------------------------

    def loaded(self) -> bool:
        stations = self.call("admin1", "GET", "referral", f"/v1/stations?district={DISTRICT}")["stations"]
        return any(s["name"].startswith(MARK) for s in stations)

    def run(self) -> None:
        try:
            self.open_district()
            days = sorted({p.arrives for p in self.people} | {d for p in self.people for d in p.events.values()})
            for day in days:
                self.on(day)
        finally:
            self.clock.restore()
        self.sessions_until(-1)
        self.contacts()
        self.settle()

    def on(self, day: int) -> None:
        self.clock.at(day if self.history else 0)
        self.sessions_until(day - 1)  # sessions are never dated after the clock's today
        for p in self.people:
            if p.arrives == day:
                self.arrive(p)
        for p in self.people:
            for what, when in p.events.items():
                if when == day and p.client_id:
                    getattr(self, what)(p)

    def open_district(self) -> None:
        self.clock.at(-HISTORY_DAYS)
        for s in STATIONS:
            out = self.call("admin1", "POST", "referral", "/v1/stations", {
                "name": s.name, "operator": MARK + "朝阳区康复协会", "tier": s.tier, "district_code": DISTRICT,
                "streets": list(s.streets), "capacity": s.capacity, "services": list(s.services)})
            self.stations[s.key] = out["station_id"]
            self.count("stations")
        start = self.clock.date(-HISTORY_DAYS).replace(day=1)
        end = start.replace(year=start.year + 1) - timedelta(days=1)
        for s in STATIONS:
            if not s.prices:
                continue
            budget = int(float(s.budget))
            lottery = budget * 3 // 10  # the welfare-lottery fund's share stays above 20%
            out = self.call("funding1", "POST", "funding", "/v1/contracts", {
                "station_id": self.stations[s.key], "district_code": DISTRICT, "period_start": start.isoformat(),
                "period_end": end.isoformat(), "budget": s.budget, "unit_prices": s.prices,
                "funding_sources": [{"source": "district_finance", "amount": f"{budget - lottery}.00"},
                                    {"source": "welfare_lottery", "amount": f"{lottery}.00"}]})
            self.contracts[s.key] = out["contract_id"]
            self.count("contracts")

    def arrive(self, p: Person) -> None:
        """Application, and as far along as the person's stage goes, on the day they arrive."""
        r = self.http.post(self.urls["intake"] + "/v1/applications", json=p.application(),
                           headers={"Authorization": f"Bearer {self.tokens['worker1']}"})
        if r.status_code == 409:  # the same (made-up) person already applied: leave them out
            self.say(f"demo: client {p.n} left out (intake: {r.json().get('detail', '')[:80]})")
            return
        if r.status_code != 201:
            raise DemoError(f"POST intake /v1/applications: {r.status_code} {r.text[:300]}")
        p.application_id = r.json()["application_id"]
        self.count("applications")
        if self.history and p.arrives < 0 and not hasattr(self, "_clock_checked"):
            self._clock_checked = True
            submitted = self.call("worker1", "GET", "intake", f"/v1/applications/{p.application_id}")["submitted_on"]
            if submitted != self.clock.date(p.arrives).isoformat():
                self.say("demo: the services do not read the clock file (JINGKANG_CLOCK_FILE); "
                         "loading without a history")
                self.history = False
        if p.stage == "applied":
            return
        self.call("worker1", "POST", "intake", f"/v1/applications/{p.application_id}/consent", {
            "signed_by": "self", "scope": {"rehabilitation_services": True, "share_with_health": p.n % 5 != 4,
                                           "share_with_disability_and_employment": p.n % 3 == 0}})
        if p.stage == "consented":
            return
        p.client_id = self.call("worker1", "POST", "intake", f"/v1/applications/{p.application_id}/register")["client_id"]
        self.count("clients registered")
        self.wait("assessment to learn the client", lambda: self.record(p))
        if p.stage == "registered":
            return
        self.assess(p, "baseline", "stable", 1)
        if p.stage == "planned":
            services = list(next(s for s in STATIONS if s.key == p.station).services)
            self.call("worker1", "POST", "assessment", f"/v1/clients/{p.client_id}/plan", {
                "goals": ["演示目标：每周参加小组活动", "演示目标：按时服药"], "services": services, "agreed_by": "client"})
            self.count("plans")
        if p.willing:
            self.wait("referral to place the client or put them on the waitlist",
                      lambda: self.placement(p)["status"] in ("placed", "waitlisted"))

    def assess(self, p: Person, kind: str, stability: str, risk: int) -> None:
        self.call("worker1", "POST", "assessment", f"/v1/clients/{p.client_id}/assessments", {
            "kind": kind, "stability": stability, "risk_level": risk, "willing": p.willing,
            "functional_score": 55 + p.n % 30, "assessor": "staff-w-0001"})
        self.count("assessments")

    def record(self, p: Person) -> dict[str, Any] | None:
        r = self.http.get(f"{self.urls['assessment']}/v1/clients/{p.client_id}/record",
                          headers={"Authorization": f"Bearer {self.tokens['worker1']}"})
        return r.json() if r.status_code == 200 else None

    def placement(self, p: Person) -> dict[str, Any]:
        r = self.http.get(f"{self.urls['referral']}/v1/clients/{p.client_id}/placement",
                          headers={"Authorization": f"Bearer {self.tokens['worker1']}"})
        return r.json() if r.status_code == 200 else {"status": None}

    def medical_referral(self, p: Person) -> dict[str, Any] | None:
        referrals = self.call("hospital1", "GET", "referral", f"/v1/referrals?client_id={p.client_id}")["referrals"]
        return next((r for r in reversed(referrals) if r["kind"] == "medical"), None)

    def reassessed(self, p: Person) -> None:
        self.assess(p, "process", "stable", 1)

    def relapse(self, p: Person) -> None:
        if p.events["relapse"] == 0:  # reported by the station on a home visit
            self.call("worker1", "POST", "assessment", f"/v1/clients/{p.client_id}/relapses",
                      {"reported_by": "staff-w-0001", "stability": "unstable", "risk_level": 4})
        else:
            self.assess(p, "process", "unstable", 4)
        self.count("relapses")
        self.wait("referral to open the green-channel referral", lambda: self.medical_referral(p))

    def accepted(self, p: Person) -> None:
        self.call("hospital1", "POST", "referral", f"/v1/referrals/{self.medical_referral(p)['referral_id']}/accept")

    def completed(self, p: Person) -> None:
        self.call("hospital1", "POST", "referral", f"/v1/referrals/{self.medical_referral(p)['referral_id']}/complete")
        self.count("referrals completed")

    def exit(self, p: Person) -> None:
        self.sessions_until(p.events["exit"] - 1)
        self.call("worker1", "POST", "intake", f"/v1/clients/{p.client_id}/exit", {"reason": p.exit_reason})
        self.wait("assessment to close the record", lambda: (self.record(p) or {}).get("status") != "active")
        self.count("exits")

    def sessions_until(self, day: int) -> None:
        """Weekly sessions (Wednesdays) of every placed client, up to that day (without a
        history, none: a session cannot be dated before the client's registration)."""
        if not self.history:
            return
        for d in range(self.sessions_to + 1, day + 1):
            on = self.clock.date(d)
            if on.weekday() != 2:
                continue
            for p in self.people:
                if not self.takes_part(p, d):
                    continue
                station = next(s for s in STATIONS if s.key == p.station)
                self.call("worker1", "POST", "assessment", f"/v1/clients/{p.client_id}/sessions", {
                    "service_type": station.services[(d // 7 + p.n) % len(station.services)],
                    "station_id": self.stations[p.station], "session_date": on.isoformat(),
                    "minutes": 90 if p.n % 2 else 60, "mode": "group" if p.n % 3 else "individual",
                    "attendance": "no_show" if (d // 7 + p.n) % 9 == 0 else "attended"})
                self.count("sessions")
        self.sessions_to = max(self.sessions_to, day)

    def takes_part(self, p: Person, d: int) -> bool:
        """Placed by then (not waiting), not in hospital, not gone."""
        if not p.client_id or p.stage != "planned" or not p.willing or d <= p.arrives:
            return False
        if p.station == "S3" and p.arrives > -140:  # waiting for a place at the full station
            return False
        e = p.events
        if "accepted" in e and e["accepted"] <= d < e["completed"]:
            return False
        return not ("exit" in e and d >= e["exit"])

    def contacts(self) -> None:
        """Monthly follow-up contacts of the dynamic-care clients (without a history, one today)."""
        for p in self.people:
            if not p.client_id or p.willing:
                continue
            for d in range(p.arrives + 10, 0, 30) if self.history else [0]:
                self.call("worker1", "POST", "assessment", f"/v1/clients/{p.client_id}/contacts", {
                    "method": "home_visit" if d % 60 else "phone", "outcome": "reached", "staff": "staff-w-0001",
                    "contacted_on": self.clock.date(d).isoformat()})
                self.count("contacts")

    def settle(self) -> None:
        """The month before last: prepared by funding1, approved by funding2, paid. Last
        month: prepared by funding1, awaiting funding2's approval. A direct payment to the second station."""
        if not self.history:
            self.say("demo: no settlement (a period must have ended with sessions in it; that needs the clock)")
            return
        last = self.clock.today.replace(day=1) - timedelta(days=1)
        before = last.replace(day=1) - timedelta(days=1)
        contract = self.contracts["S1"]
        self.wait("funding to accrue the sessions recorded", lambda: self.accrued_settled(contract))
        path = f"/v1/contracts/{contract}/settlements"
        first = self.call("funding1", "POST", "funding", path, {
            "period": f"{before:%Y-%m}", "performance_score": "0.92", "reasons": ["演示：季度督导评分 92 分"]})
        self.call("funding2", "POST", "funding", f"{path}/{first['settlement_id']}/approval")
        self.call("funding2", "POST", "funding", f"{path}/{first['settlement_id']}/payment")
        self.call("funding1", "POST", "funding", path, {
            "period": f"{last:%Y-%m}", "performance_score": "0.88", "reasons": ["演示：月度督导评分 88 分"]})
        self.call("funding1", "POST", "funding", f"/v1/contracts/{self.contracts['S2']}/payments",
                  {"amount": "10000.00", "period": f"{before:%Y-%m}"})
        self.count("settlements", 2)
        self.count("payments", 2)

    def accrued_settled(self, contract: str) -> bool:
        """Funding has priced every attended session recorded at the first station so far."""
        expected = self.expected_accruals()
        return self.call("funding1", "GET", "funding", f"/v1/contracts/{contract}")["sessions_accrued"] >= expected

    def expected_accruals(self) -> int:
        n = 0
        for d in range(-HISTORY_DAYS + 1, self.sessions_to + 1):
            if self.clock.date(d).weekday() != 2:
                continue
            n += sum(1 for p in self.people if p.station == "S1" and self.takes_part(p, d)
                     and (d // 7 + p.n) % 9 != 0)
        return n


def urls_from(host: str, base_port: int) -> dict[str, str]:
    return {s: f"http://{host}:{base_port + i}" for i, s in enumerate(SERVICES)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="where the services listen")
    parser.add_argument("--base-port", type=int, default=8001, help="intake's port; the others follow (make up: 8001)")
    parser.add_argument("--data-dir", default=os.environ.get("JINGKANG_DATA_DIR", str(ROOT / ".data")))
    parser.add_argument("--clock-file", help="the services' JINGKANG_CLOCK_FILE (default: $JINGKANG_CLOCK_FILE, "
                                             "else <data dir>/clock-offset-seconds when the services run with it)")
    parser.add_argument("--users", default=str(ROOT / "deploy/demo/users.json"))
    args = parser.parse_args(argv)

    data = Path(args.data_dir)
    key = os.environ.get("JINGKANG_JWT_KEY") or (
        (data / "jwt.key").read_text().strip() if (data / "jwt.key").exists() else None)
    if not key:
        print(f"demo: no signing key: start the system with `make up` (it keeps one in {data}/jwt.key) "
              "or set JINGKANG_JWT_KEY", file=sys.stderr)
        return 2
    clock_file = args.clock_file or os.environ.get("JINGKANG_CLOCK_FILE") or str(data / "clock-offset-seconds")
    authority = Authority(key, os.environ.get("JINGKANG_JWT_ISSUER", "jingkang-dev"))
    users = json.loads(Path(args.users).read_text())["users"]
    tokens = {u["username"]: token_for(authority, u) for u in users}
    demo = Demo(urls_from(args.host, args.base_port), tokens, Clock(Path(clock_file)))
    try:
        if demo.loaded():
            print(f"demo: the demo district {DISTRICT} is already loaded; nothing added")
            return 0
        print(f"demo: loading the demo district {DISTRICT} (about a minute) ...", flush=True)
        demo.run()
    except httpx.HTTPError as e:
        print(f"demo: a service did not answer ({e}); is the system running (make up)?", file=sys.stderr)
        return 1
    except DemoError as e:
        print(f"demo: stopped: {e}", file=sys.stderr)
        return 1
    print("demo: loaded " + ", ".join(f"{n} {what}" for what, n in demo.counts.items()))
    print(f"demo: sign in at http://{args.host}:{args.base_port - 1} (the console) as worker1, hospital1, admin1, "
          "funding1, funding2 or auditor1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
