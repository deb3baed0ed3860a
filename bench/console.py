"""Server time of the console's main pages, beside the service calls each makes.

    .venv/bin/python bench/console.py [--requests 60] [--clients 30] [--out console]

Starts the system as `make up` runs it (deploy/run.py: five services and the console, SQLite
stores, in a temporary data dir) on ports of its own (console JINGKANG_BENCH_CONSOLE_PORT,
default 18460, services from +1; Kafka JINGKANG_BENCH_KAFKA_PORT, default 19392, started
through deploy/kafka/kafka.sh if nothing answers there), seeds a small demo district through
the public APIs (a station, `--clients` clients registered and assessed, a few in relapse with
a medical referral, plans and sessions) and the fictional demo district of console/demo.py
(stations, a waitlist, contracts with settlements, five months of history), signs in through
the development sign-in as a worker, a hospital nurse, a district admin, a funding officer
and an auditor, and requests each main page `--requests` times in a row.

Each answer's Server-Timing header gives the page's server time (`total`) and the time it
spent waiting for the services (`services`, calls made at once counted once); the console's
own share is (total - services) / total. Page weight is the HTML plus the CSS and scripts it
loads. Writes bench/results/<out>.json and .md. A measurement, never an assertion."""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.e2e import application_body, percentile, start_groups_at_end  # noqa: E402
from shared.auth import Authority  # noqa: E402

JWT_KEY = "bench-console-jwt-key-known-to-the-bench-01"
SERVICES = ("intake", "assessment", "referral", "funding", "notification")


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def token(role: str, sub: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + Authority(JWT_KEY).issue(sub=sub, role=role, districts=["110105"])}


def wait_for(predicate, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := predicate():
                return result
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench/console.py: timed out waiting for {what}")


def seed(url: dict[str, str], clients: int) -> dict[str, list[str]]:
    """A small demo district through the public APIs: returns the client and referral ids."""
    worker, admin = token("station_worker", "staff-w-0001"), token("district_admin", "staff-a-0001")
    streets = [f"110105{n:03d}" for n in range(1, 4)]
    r = httpx.post(url["referral"] + "/v1/stations", headers=admin, json={
        "name": "演示驿站", "operator": "演示协会", "tier": "ningkang_home", "district_code": "110105",
        "streets": streets, "capacity": clients, "services": ["social_skills", "relapse_prevention"]})
    r.raise_for_status()
    ids = []
    for i in range(clients):
        body = {**application_body(), "street_code": streets[i % 3]}
        application = httpx.post(url["intake"] + "/v1/applications", json=body, headers=worker).json()["application_id"]
        httpx.post(f"{url['intake']}/v1/applications/{application}/consent", headers=worker, json={
            "signed_by": "self", "scope": {"rehabilitation_services": True, "share_with_health": i % 2 == 0}}).raise_for_status()
        ids.append(httpx.post(f"{url['intake']}/v1/applications/{application}/register", headers=worker).json()["client_id"])
    for i, client in enumerate(ids):
        wait_for(lambda: httpx.get(f"{url['assessment']}/v1/clients/{client}/record", headers=worker).status_code == 200,
                 what="assessment to learn the clients")
        if i % 4 == 3:
            continue  # some wait for their baseline
        relapse = i % 5 == 0
        httpx.post(f"{url['assessment']}/v1/clients/{client}/assessments", headers=worker, json={
            "kind": "baseline", "stability": "unstable" if relapse else "stable", "risk_level": 4 if relapse else 1,
            "willing": True, "functional_score": 55, "assessor": "staff-w-0001"}).raise_for_status()
        if not relapse:
            httpx.post(f"{url['assessment']}/v1/clients/{client}/plan", headers=worker, json={
                "goals": ["G-SOC-1"], "services": ["social_skills"], "agreed_by": "client"}).raise_for_status()
    referrals = wait_for(lambda: httpx.get(url["referral"] + "/v1/referrals", params={"district": "110105"},
                                           headers=worker).json()["referrals"], what="the medical referrals")
    return {"clients": ids, "referrals": [r["referral_id"] for r in referrals]}


def demo_district(url: dict[str, str], data: Path) -> list[str]:
    """console.demo's district through the same APIs (its clock moved back and put back through
    the data dir's clock file, as `make demo` does); returns its client ids."""
    from console.demo import Clock, Demo, token_for

    users = json.loads((ROOT / "deploy/demo/users.json").read_text())["users"]
    authority = Authority(JWT_KEY)
    district = Demo(url, {u["username"]: token_for(authority, u) for u in users},
                    Clock(data / "clock-offset-seconds"), say=lambda _: None)
    district.run()
    return [p.client_id for p in district.people if p.client_id]


def signed_in(console: str, username: str) -> httpx.Client:
    browser = httpx.Client(base_url=console, follow_redirects=False, timeout=30)
    page = browser.get("/signin/dev")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert browser.post("/signin/dev", data={"username": username, "csrf": csrf}).status_code == 303
    return browser


def timing(header: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"(\w+);dur=([0-9.]+)", header)}


def measure(browser: httpx.Client, paths: list[str], requests: int) -> dict:
    totals, waited, own_share, client_ms, sizes, calls = [], [], [], [], [], []
    for path in paths[:2] * 3:  # warm-up
        browser.get(path)
    for i in range(requests):
        path = paths[i % len(paths)]
        started = time.perf_counter()
        r = browser.get(path)
        client_ms.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, (path, r.status_code)
        t = timing(r.headers["server-timing"])
        totals.append(t["total"])
        waited.append(t["services"])
        own_share.append((t["total"] - t["services"]) / t["total"] if t["total"] else 0)
        calls.append(int(re.search(r'desc="(\d+) calls"', r.headers["server-timing"]).group(1)))
        sizes.append(len(r.content))
    q = lambda values, p: round(percentile(values, p), 1)  # noqa: E731
    return {"requests": requests, "server_p50_ms": q(totals, 50), "server_p95_ms": q(totals, 95),
            "services_p95_ms": q(waited, 95), "console_own_p95_ms": q([t - w for t, w in zip(totals, waited)], 95),
            "console_share_median": round(statistics.median(own_share), 2), "client_p95_ms": q(client_ms, 95),
            "service_calls": max(calls), "html_bytes": max(sizes)}


def assets_weight(browser: httpx.Client, html: str) -> int:
    refs = re.findall(r'(?:href|src)="(/(?:static|vendor)/[^"]+)"', html)
    return sum(len(browser.get(ref).content) for ref in set(refs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--out", default="console")
    args = parser.parse_args()

    console_port = int(os.environ.get("JINGKANG_BENCH_CONSOLE_PORT", "18460"))
    kafka_port = int(os.environ.get("JINGKANG_BENCH_KAFKA_PORT", "19392"))
    url = {s: f"http://127.0.0.1:{console_port + 1 + i}" for i, s in enumerate(SERVICES)}
    console = f"http://127.0.0.1:{console_port}"
    kafka_env = dict(os.environ, KAFKA_PORT=str(kafka_port), KAFKA_DATA=str(ROOT / f".cache/kafka-bench-{kafka_port}"))
    started_kafka = not listening(kafka_port)
    if started_kafka:
        subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "start"], env=kafka_env, check=True)
    data = Path(tempfile.mkdtemp(prefix="jingkang-bench-console-"))
    groups = {f"JINGKANG_{s.upper()}_GROUP": f"bench-console-{s}-{uuid.uuid4().hex[:8]}" for s in SERVICES + ("supervision",)}
    # The bench broker keeps earlier runs' events (make bench's ladders): a fresh group would
    # first work through all of them (and dead-letter them, their clients unknown here).
    start_groups_at_end(f"127.0.0.1:{kafka_port}", list(groups.values()))
    env = dict(os.environ, JINGKANG_KAFKA=f"127.0.0.1:{kafka_port}", JINGKANG_JWT_KEY=JWT_KEY, PYTHONPATH=str(ROOT), **groups)
    system = subprocess.Popen([sys.executable, str(ROOT / "deploy/run.py"), "--base-port", str(console_port + 1),
                               "--console-port", str(console_port), "--data-dir", str(data)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in system.stdout:
            if "Jingkang is up" in line:
                break
        else:
            raise SystemExit("bench/console.py: the system did not start")
        print("bench/console.py: seeding the demo district", flush=True)
        demo = seed(url, args.clients)
        print("bench/console.py: loading console.demo's district", flush=True)
        district = demo_district(url, data)
        worker, hospital = signed_in(console, "worker1"), signed_in(console, "hospital1")
        admin, funding, auditor = (signed_in(console, user) for user in ("admin1", "funding1", "auditor1"))
        today = datetime.now(timezone.utc).date()
        period = f"district=110105&from={today - timedelta(days=180)}&to={today}"
        pages = {
            "home (worker)": (worker, ["/"]),
            "my clients": (worker, ["/clients"]),
            "a client": (worker, [f"/clients/{c}" for c in demo["clients"]]),
            "new application": (worker, ["/clients/new"]),
            "referrals (hospital)": (hospital, ["/referrals"]),
            "a referral": (hospital, [f"/referrals/{r}" for r in demo["referrals"]]),
            "stations and waitlist (admin)": (admin, ["/stations"]),
            "contracts and settlements (funding)": (funding, ["/funding"]),
            "supervision dashboard (auditor)": (auditor, [f"/supervision?{period}"]),
            "evidence of a figure": (auditor, [f"/supervision/evidence/plan_within_30_days?{period}"]),
            "hash chains (auditor)": (auditor, ["/audit"]),
            "a case timeline": (auditor, [f"/audit/case?client={c}" for c in district]),
        }
        results = {}
        for name, (browser, paths) in pages.items():
            results[name] = measure(browser, paths, args.requests)
            results[name]["page_weight_bytes"] = results[name]["html_bytes"] + assets_weight(browser, browser.get(paths[0]).text)
            print(f"  {name}: {results[name]}", flush=True)
        heaviest = max(results, key=lambda n: results[n]["page_weight_bytes"])
        report = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
                  "clients": args.clients, "referrals": len(demo["referrals"]), "pages": results,
                  "heaviest_page": {"page": heaviest, "bytes": results[heaviest]["page_weight_bytes"]}}
        out = ROOT / "bench/results"
        out.mkdir(exist_ok=True)
        (out / f"{args.out}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        lines = [f"Console pages, {args.requests} requests each, demo district of {args.clients} clients and "
                 f"{len(demo['referrals'])} open referrals ({report['when']}, {os.cpu_count()} cores)", "",
                 "| page | server p50 ms | server p95 ms | waiting for services p95 ms | console's own p95 ms | "
                 "console's share (median) | service calls | page weight KiB |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, r in results.items():
            lines.append(f"| {name} | {r['server_p50_ms']} | {r['server_p95_ms']} | {r['services_p95_ms']} | "
                         f"{r['console_own_p95_ms']} | {r['console_share_median']:.0%} | {r['service_calls']} | "
                         f"{r['page_weight_bytes'] / 1024:.1f} |")
        lines += ["", f"Heaviest page: {heaviest}, {results[heaviest]['page_weight_bytes'] / 1024:.1f} KiB "
                      "(HTML + CSS + scripts: htmx, and ECharts on the chart pages; uncompressed)."]
        (out / f"{args.out}.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
    finally:
        system.send_signal(signal.SIGTERM)
        try:
            system.wait(timeout=40)
        except subprocess.TimeoutExpired:
            system.kill()
        if started_kafka:
            subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "stop"], env=kafka_env, check=False)


if __name__ == "__main__":
    main()
