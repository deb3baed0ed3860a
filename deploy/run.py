"""Run the whole system in the foreground: what `make up` does.

Starts Apache Kafka (deploy/kafka/kafka.sh) unless JINGKANG_KAFKA points at a broker
that already answers, then each service's three processes (api, relay, worker), waits
until every API answers /health, and stops everything it started on Ctrl-C or SIGTERM.

  python deploy/run.py [--base-port 8001] [--console-port 8000] [--data-dir .data]

Then the staff console (python -m console) on --console-port (default: the base port - 1).

Event stores are SQLite files in the data dir unless JINGKANG_<SVC>_STORE is set
(e.g. to a PostgreSQL URL from deploy/postgres/postgres.sh url <svc>). Bearer tokens are
signed with a development key kept in <data dir>/jwt.key unless JINGKANG_JWT_KEY is set."""
from __future__ import annotations

import argparse
import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("intake", "assessment", "referral", "funding", "notification", "supervision")
PROCESSES = ("api", "relay", "worker")


def reachable(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


def dev_cipher_key(data_dir: Path) -> str:
    """A development key for intake's encrypted store, kept beside the data it protects."""
    path = data_dir / "intake.key"
    if not path.exists():
        path.write_text(base64.b64encode(os.urandom(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


def dev_lookup_key(data_dir: Path) -> str:
    """A development key for intake's person index (keyed hash of resident ids): it must stay
    the same as long as the data it indexes, so it is kept beside it too."""
    path = data_dir / "intake-lookup.key"
    if not path.exists():
        path.write_text(base64.b64encode(os.urandom(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


def dev_jwt_key(data_dir: Path) -> str:
    """A development key that signs bearer tokens, kept in the data dir so tokens outlive a restart."""
    path = data_dir / "jwt.key"
    if not path.exists():
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:  # never readable by others
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def wait_healthy(port: int, procs: list[subprocess.Popen], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise SystemExit(f"run.py: a process exited during start-up: {dead[0].args}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"run.py: no answer on port {port} after {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-port", type=int, default=8001)
    parser.add_argument("--console-port", type=int, help="the staff console's port (default: base port - 1)")
    parser.add_argument("--data-dir", default=os.environ.get("JINGKANG_DATA_DIR", str(ROOT / ".data")))
    args = parser.parse_args()

    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, JINGKANG_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    env.setdefault("JINGKANG_KAFKA", "127.0.0.1:9092")
    env.setdefault("JINGKANG_INTAKE_CIPHER_KEY", dev_cipher_key(data_dir))
    env.setdefault("JINGKANG_INTAKE_LOOKUP_KEY", dev_lookup_key(data_dir))
    if env.get("JINGKANG_ENV") != "production" and not env.get("JINGKANG_JWT_KEY"):
        env["JINGKANG_JWT_KEY"] = dev_jwt_key(data_dir)  # production brings its own (shared.settings insists)
    if env.get("JINGKANG_ENV") != "production":  # a movable clock: the demo loader gives its district a past
        env.setdefault("JINGKANG_CLOCK_FILE", str(data_dir / "clock-offset-seconds"))
    empty = not (data_dir / "intake.sqlite").exists() and not env.get("JINGKANG_INTAKE_STORE")
    for i, service in enumerate(SERVICES):
        env[f"JINGKANG_{service.upper()}_PORT"] = str(args.base_port + i)
        # Prometheus for the relay (this port) and the worker (+1); the API serves /metrics itself.
        env.setdefault(f"JINGKANG_{service.upper()}_METRICS_PORT", str(args.base_port + 1000 + 2 * i))
    console_port = args.console_port or args.base_port - 1
    env["JINGKANG_CONSOLE_PORT"] = str(console_port)

    started_kafka = False
    if not reachable(env["JINGKANG_KAFKA"]):
        print("run.py: starting Apache Kafka (KRaft) on", env["JINGKANG_KAFKA"], flush=True)
        subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "start"], check=True)
        started_kafka = True

    procs: list[subprocess.Popen] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        print("run.py: stopping", flush=True)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
        if started_kafka:
            subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "stop"], check=False)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log_dir = data_dir / "logs"
    log_dir.mkdir(exist_ok=True)

    def spawn(service: str, process: str) -> None:
        log = open(log_dir / f"{service}-{process}.log", "ab")
        module = ["console"] if service == "console" else [f"services.{service}", process]
        procs.append(subprocess.Popen([sys.executable, "-m", *module],
                                      cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))

    try:
        # APIs first: each creates its store's tables once, before its relay and worker open it.
        for service in SERVICES:
            spawn(service, "api")
        for i, service in enumerate(SERVICES):
            wait_healthy(args.base_port + i, procs)
        for service in SERVICES:
            spawn(service, "relay")
            spawn(service, "worker")
        spawn("console", "web")
        wait_healthy(console_port, procs)
        print("run.py: Jingkang is up:", ", ".join(f"{s} http://127.0.0.1:{args.base_port + i}/docs"
                                                   for i, s in enumerate(SERVICES)), flush=True)
        print(f"run.py: open the staff console: http://127.0.0.1:{console_port}", flush=True)
        print(f"run.py: logs in {log_dir}; Ctrl-C stops everything", flush=True)
        if empty:
            print("run.py: load the demo district: make demo", flush=True)
        dev_key = (data_dir / "jwt.key").exists() and env.get("JINGKANG_JWT_KEY") == dev_jwt_key(data_dir)
        key = f"$(cat {data_dir / 'jwt.key'})" if dev_key else "<your key>"
        print(f"run.py: a bearer token for the APIs (from {ROOT}): JINGKANG_JWT_KEY={key} "
              f"{Path(sys.executable)} -m shared.auth token --sub w-1 --role station_worker --district 110105",
              flush=True)
        parent = os.getppid()
        while True:
            if os.getppid() != parent:  # whoever started us (make) is gone: don't linger
                stop()
            for p in procs:
                if p.poll() is not None:
                    print(f"run.py: {p.args[-2]} {p.args[-1]} exited with {p.returncode}; stopping", flush=True)
                    stop()
            time.sleep(1)
    except BaseException:
        stop()
        raise


if __name__ == "__main__":
    main()
