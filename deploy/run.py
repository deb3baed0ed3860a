"""Run the whole system in the foreground: what `make up` does.

Starts Apache Kafka (deploy/kafka/kafka.sh) unless JINGKANG_KAFKA points at a broker
that already answers, then each service's three processes (api, relay, worker), waits
until every API answers /health, and stops everything it started on Ctrl-C or SIGTERM.

  python deploy/run.py [--base-port 8001] [--console-port 8000] [--data-dir .data] [--store sqlite|postgres] [--scale N] [--idp keycloak]

Then the staff console (python -m console) on --console-port (default: the base port - 1).

Event stores are SQLite files in the data dir unless JINGKANG_<SVC>_STORE is set. With
--store postgres (make up STORE=postgres) every store not set otherwise is a database of the
project's own cluster (deploy/postgres/postgres.sh, started if it is not running, on PG_PORT,
default 5433). Before anything starts, the PostgreSQL connections of every process are
added up (shared.settings.pg_connections: the connection budget) against what each cluster
still has free, and run.py refuses to start a system that would exhaust it.
--scale N (make up SCALE=N) runs N API processes per service on its one port (SO_REUSEPORT:
the kernel spreads connections) and N workers in its consumer group; one relay, always.
Bearer tokens are signed with a development key kept in <data dir>/jwt.key unless
JINGKANG_JWT_KEY is set; with --idp keycloak (`make up IDP=keycloak`) Keycloak
(deploy/keycloak/keycloak.sh, port KEYCLOAK_PORT, default 8080) is started with the demo realm, the
console signs staff in there and the services accept the tokens it signs (and still development
tokens: `make demo`)."""
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
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from shared.settings import pg_connections, pool_sizes  # noqa: E402

SERVICES = ("intake", "assessment", "referral", "funding", "notification", "supervision")

PROCESSES = ("api", "relay", "worker")
POSTGRES_SH = ROOT / "deploy/postgres/postgres.sh"


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


def postgres_stores(env: dict[str, str]) -> bool:
    """Point every store not set otherwise at a database of the project's cluster, starting
    the cluster if needed; True if run.py started it (and so stops it)."""
    started = subprocess.run([str(POSTGRES_SH), "status"], env=env, capture_output=True).returncode != 0
    if started:
        print("run.py: starting PostgreSQL (deploy/postgres/postgres.sh)", flush=True)
    subprocess.run([str(POSTGRES_SH), "start"], env=env, check=True)  # also creates missing databases
    for service in SERVICES:
        if not env.get(f"JINGKANG_{service.upper()}_STORE"):
            url = subprocess.run([str(POSTGRES_SH), "url", service], env=env, check=True, capture_output=True, text=True)
            env[f"JINGKANG_{service.upper()}_STORE"] = url.stdout.strip()
    return started


def connection_budget(env: dict[str, str], scale: int) -> dict[str, int]:
    """The most PostgreSQL connections the system opens, per cluster (host:port)."""
    instances = {"api": scale, "relay": 1, "worker": scale}
    sizes = pool_sizes(env)
    need: Counter[str] = Counter()
    for service in SERVICES:
        url = urlparse(env.get(f"JINGKANG_{service.upper()}_STORE", ""))
        if url.scheme in ("postgresql", "postgres"):
            cluster = f"{url.hostname or '127.0.0.1'}:{url.port or 5432}"
            need[cluster] += sum(n * pg_connections(process, sizes) for process, n in instances.items())
    return dict(need)


def check_budget(env: dict[str, str], scale: int) -> None:
    """Refuse to start what would exhaust a cluster's connections (clients then fail at random
    with "remaining connection slots are reserved", and the system stops)."""
    import psycopg

    for cluster, need in connection_budget(env, scale).items():
        url = next(u for s in SERVICES if (u := env.get(f"JINGKANG_{s.upper()}_STORE", "")) and cluster in u)
        with psycopg.connect(url.split("?")[0], connect_timeout=5, autocommit=True) as conn:
            limit = int(conn.execute("SHOW max_connections").fetchone()[0])
            reserved = int(conn.execute("SHOW superuser_reserved_connections").fetchone()[0])
            used = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").fetchone()[0]
        free = limit - reserved - used
        print(f"run.py: PostgreSQL {cluster}: this system opens at most {need} connections; "
              f"{free} of {limit} are free", flush=True)
        if need > free:
            raise SystemExit(f"run.py: PostgreSQL {cluster} has {free} connections free (max_connections {limit}, "
                             f"{reserved} reserved, {used} in use) and this system needs {need}: raise max_connections "
                             f"(deploy/postgres/), lower JINGKANG_PG_POOL_API/_RELAY/_WORKER or --scale "
                             f"(README \"Connection budget\")")


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
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--scale", type=int, default=1,
                        help="API processes and workers per service (default 1)")
    parser.add_argument("--idp", choices=["keycloak"], help="sign in at this identity provider (OpenID Connect)")
    args = parser.parse_args()
    if args.scale < 1:
        parser.error("--scale must be at least 1")

    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, JINGKANG_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    env.setdefault("JINGKANG_KAFKA", "127.0.0.1:9092")
    env.setdefault("JINGKANG_INTAKE_CIPHER_KEY", dev_cipher_key(data_dir))
    env.setdefault("JINGKANG_INTAKE_LOOKUP_KEY", dev_lookup_key(data_dir))
    keycloak = [str(ROOT / "deploy/keycloak/keycloak.sh")]
    if args.idp == "keycloak":
        env["JINGKANG_OIDC_ISSUER"] = subprocess.run(keycloak + ["url"], check=True, capture_output=True,
                                                     text=True).stdout.strip()
        env.setdefault("JINGKANG_OIDC_ACTOR_CLAIM", "staff_id")  # the realm's staff ids, as development tokens name them
    if env.get("JINGKANG_ENV") != "production" and not env.get("JINGKANG_JWT_KEY"):
        # Production uses its identity provider only (shared.settings insists). In development the
        # services also take development tokens beside Keycloak's, so `make demo` works either way.
        env["JINGKANG_JWT_KEY"] = dev_jwt_key(data_dir)
    if env.get("JINGKANG_ENV") != "production":  # a movable clock: the demo loader gives its district a past
        env.setdefault("JINGKANG_CLOCK_FILE", str(data_dir / "clock-offset-seconds"))
    empty = not (data_dir / "intake.sqlite").exists() and not env.get("JINGKANG_INTAKE_STORE")
    for i, service in enumerate(SERVICES):
        env[f"JINGKANG_{service.upper()}_PORT"] = str(args.base_port + i)
        # Prometheus for the relay (this port) and the worker (+1); the API serves /metrics itself.
        env.setdefault(f"JINGKANG_{service.upper()}_METRICS_PORT", str(args.base_port + 1000 + 2 * i))
    console_port = args.console_port or args.base_port - 1
    env["JINGKANG_CONSOLE_PORT"] = str(console_port)
    if args.idp == "keycloak":  # the console signs staff in at Keycloak as its client of the demo realm
        env.update(JINGKANG_CONSOLE_SIGNIN="oidc", JINGKANG_CONSOLE_URL=f"http://127.0.0.1:{console_port}")
        env.setdefault("JINGKANG_CONSOLE_OIDC_CLIENT_SECRET", "jingkang-console-development-secret")

    started_postgres = postgres_stores(env) if args.store == "postgres" else False
    check_budget(env, args.scale)
    if args.scale > 1:
        env["JINGKANG_REUSE_PORT"] = "1"  # the APIs of a service share its port

    started_kafka = False
    if not reachable(env["JINGKANG_KAFKA"]):
        print("run.py: starting Apache Kafka (KRaft) on", env["JINGKANG_KAFKA"], flush=True)
        subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "start"], check=True)
        started_kafka = True

    started_keycloak = False
    if args.idp == "keycloak" and not reachable(env["JINGKANG_OIDC_ISSUER"].split("/")[2]):
        print("run.py: starting Keycloak at", env["JINGKANG_OIDC_ISSUER"], flush=True)
        subprocess.run(keycloak + ["start"], check=True)
        started_keycloak = True

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
        if started_postgres:
            subprocess.run([str(POSTGRES_SH), "stop"], env=env, check=False)
        if started_keycloak:
            subprocess.run(keycloak + ["stop"], check=False)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log_dir = data_dir / "logs"
    log_dir.mkdir(exist_ok=True)

    def spawn(service: str, process: str, instance: int = 1) -> None:
        name = f"{service}-{process}" + (f"-{instance}" if instance > 1 else "")
        log = open(log_dir / f"{name}.log", "ab")
        own = dict(env)
        if instance > 1:  # its own Prometheus ports, above the first instances'
            i = SERVICES.index(service)
            own[f"JINGKANG_{service.upper()}_METRICS_PORT"] = str(args.base_port + 1000 + 2 * len(SERVICES) * (instance - 1) + 2 * i)
        module = ["console"] if service == "console" else [f"services.{service}", process]
        procs.append(subprocess.Popen([sys.executable, "-m", *module],
                                      cwd=ROOT, env=own, stdout=log, stderr=subprocess.STDOUT))

    try:
        # APIs first: each creates its store's tables once, before its relay and worker open it.
        for service in SERVICES:
            spawn(service, "api")
        for i, service in enumerate(SERVICES):
            wait_healthy(args.base_port + i, procs)
        for service in SERVICES:
            for instance in range(2, args.scale + 1):
                spawn(service, "api", instance)
            spawn(service, "relay")
            for instance in range(1, args.scale + 1):
                spawn(service, "worker", instance)
        spawn("console", "web")
        wait_healthy(console_port, procs)
        print("run.py: Jingkang is up:", ", ".join(f"{s} http://127.0.0.1:{args.base_port + i}/docs"
                                                   for i, s in enumerate(SERVICES)), flush=True)
        print(f"run.py: open the staff console: http://127.0.0.1:{console_port}", flush=True)
        print(f"run.py: logs in {log_dir}; Ctrl-C stops everything", flush=True)
        if empty:
            print("run.py: load the demo district: make demo", flush=True)
        if args.idp == "keycloak":
            print(f"run.py: sign in at {env['JINGKANG_OIDC_ISSUER']} (demo users of deploy/demo/users.json, password = "
                  f"username); a bearer token for the APIs: curl -s {env['JINGKANG_OIDC_ISSUER']}/protocol/openid-connect/"
                  "token -d grant_type=password -d client_id=jingkang-dev-cli -d username=worker1 -d password=worker1 "
                  "| jq -r .access_token", flush=True)
        else:
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
