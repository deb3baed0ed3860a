"""Configuration common to every service, read from the environment by a function
(never at import), so tests and the composition root pass their own.

Per service (SVC = INTAKE, ASSESSMENT, ...):
  JINGKANG_<SVC>_STORE   event store URL: postgresql://user:pw@host:port/db[?schema=s], sqlite:///path,
                         or memory:// (default sqlite:///<JINGKANG_DATA_DIR>/<svc>.sqlite)
  JINGKANG_<SVC>_PORT    HTTP port (defaults 8001..8005)
  JINGKANG_<SVC>_CIPHER_KEY  AES key (base64, 16/24/32 bytes) encrypting the store at rest
  JINGKANG_<SVC>_GROUP   Kafka consumer group of its worker (default jingkang-<svc>)
  JINGKANG_<SVC>_METRICS_PORT  Prometheus port of the relay and worker processes (the API
                         serves /metrics itself); the worker uses this port + 1
Shared:
  JINGKANG_KAFKA         bootstrap servers (default 127.0.0.1:9092)
  JINGKANG_ENV           development (default) or production
  JINGKANG_DATA_DIR      where embedded SQLite files live (default .data)
  JINGKANG_TRACE_FILE    write finished spans as JSON lines here (development exporter)
  JINGKANG_JWT_KEY, JINGKANG_JWT_ISSUER  development tokens (HS256, shared/auth.py); without a key
                         or an OpenID issuer outside production, authorisation is off; production refuses a key
  JINGKANG_OIDC_ISSUER   the OpenID Connect issuer whose RS256/ES256 tokens are accepted (shared/oidc.py);
                         required in production (https). With it:
  JINGKANG_OIDC_AUDIENCE          the audience tokens must name (default jingkang)
  JINGKANG_OIDC_ACTOR_CLAIM       claim naming who acts, recorded in events: a staff or system id,
                                  never a name (default sub; deploy/keycloak's realm: staff_id)
  JINGKANG_OIDC_ROLE_CLAIM        claim holding the role, a string or a list of roles, dotted for
                                  nested claims (default realm_access.roles, Keycloak's)
  JINGKANG_OIDC_DISTRICTS_CLAIM   claim holding the districts, a list (default districts)
  JINGKANG_OIDC_LEEWAY_SECONDS    clock skew allowed on exp/nbf (default 30, at most 120)
  JINGKANG_OIDC_KEYS_CACHE_SECONDS  how long the issuer's keys are used before fetching them again (300)
  JINGKANG_OIDC_REFRESH_SECONDS   least time between two fetches for an unknown key id (default 10)
  JINGKANG_RELAY_BATCH_SIZE, JINGKANG_RELAY_POLL_SECONDS, JINGKANG_CONSUMER_ATTEMPTS, JINGKANG_CONSUMER_BATCH_SIZE  tuning
  JINGKANG_RELAY_MAX_BACKOFF_SECONDS  longest wait between a blocked relay's retries (default 60)
  JINGKANG_TICK_SECONDS  how often a worker checks deadlines (default 30)
  JINGKANG_AGGREGATE_CACHE_SIZE  aggregates an API or worker process keeps in memory (default 500; 0: none).
                         A cached aggregate is brought up to date from the store at each read
                         (one query for the events after the cached version), so it is never
                         stale with several processes writing; a cold read costs two (snapshot, events)
  JINGKANG_PG_POOL_API, JINGKANG_PG_POOL_RELAY, JINGKANG_PG_POOL_WORKER  PostgreSQL connections
                         in the one pool of each kind of process (defaults 4, 2, 2; see
                         pg_connections and README "Connection budget")
  JINGKANG_REUSE_PORT    1: the API binds its port with SO_REUSEPORT, so several API processes
                         of one service share it (deploy/run.py --scale)
  JINGKANG_MAX_EVENT_BYTES  the size budget of one event (default 256 KiB): the largest public
                         event a consumer accepts and the largest event the store records; the
                         relay's producer allows this plus KAFKA_OVERHEAD_BYTES, and the broker's
                         message.max.bytes (deploy/kafka/server.properties, docker-compose.yml)
                         is at least that. See README "Size budget".
  JINGKANG_MAX_REQUEST_BYTES  the largest HTTP request body an API reads (default 64 KiB; 413 above)
  JINGKANG_CLOCK_FILE    development only: a file holding seconds to add to the clock, so an
                         end-to-end test can move every process 31 or 91 days ahead
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import parse_qs, unquote, urlparse

# The connection budget (README "Connection budget"): each process has ONE psycopg pool of a
# fixed size, shared by all its parts (the Application's recorder, intake's identity keys,
# the relay's seals); the relay also holds two connections of its own for its whole life
# (LISTEN, and the advisory lock that keeps a second relay on standby).
DEFAULT_POOL_SIZES = {"api": 4, "relay": 2, "worker": 2}
HELD_CONNECTIONS = {"relay": 2}
OTHER_POOL_SIZE = 2  # tools and tests that open a store outside the three processes
# Aggregates kept per process (an LRU), fast-forwarded from the store at each read: a command
# then reads only the events after the cached version, not the snapshot and the whole tail
# (bench/README.md, "Where the time goes").
DEFAULT_AGGREGATE_CACHE_SIZE = 500
DEFAULT_MAX_EVENT_BYTES = 256 * 1024
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024
# Room the producer's max_request_size leaves above the event budget for the key, headers and
# record-batch framing; the broker's message.max.bytes must be at least budget + this.
KAFKA_OVERHEAD_BYTES = 64 * 1024
DEFAULT_PORTS = {"intake": 8001, "assessment": 8002, "referral": 8003, "funding": 8004, "notification": 8005,
                 "supervision": 8006}


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class OidcSettings:
    """The identity provider whose tokens are accepted and how its claims are read."""
    issuer: str
    audience: str = "jingkang"
    actor_claim: str = "sub"
    role_claim: str = "realm_access.roles"
    districts_claim: str = "districts"
    leeway_seconds: int = 30
    keys_cache_seconds: float = 300.0
    refresh_seconds: float = 10.0


MAX_LEEWAY_SECONDS = 120


@dataclass(frozen=True)
class ServiceSettings:
    service: str
    store_url: str
    kafka_bootstrap: str = "127.0.0.1:9092"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    production: bool = False
    data_dir: str = ".data"
    cipher_key: str | None = None
    trace_file: str | None = None
    relay_poll_seconds: float = 0.2
    relay_batch_size: int = 500
    relay_max_backoff_seconds: float = 60.0
    consumer_group: str = ""
    clock_file: str | None = None
    tick_seconds: float = 30.0
    metrics_port: int | None = None
    jwt_key: str | None = None
    jwt_issuer: str = "jingkang-dev"
    oidc: OidcSettings | None = None
    process: str = ""  # api, relay or worker: set by shared.runner for the process it starts
    consumer_attempts: int = 3
    consumer_backoff_seconds: float = 0.2
    consumer_batch_size: int = 1000  # messages a worker processes together at most (shared/consumer.py); 1: one at a time
    idempotency_hours: float = 24.0  # how long an Idempotency-Key is honoured (shared/idempotency.py)
    reuse_port: bool = False
    pool_sizes: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_POOL_SIZES))
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    aggregate_cache_size: int = DEFAULT_AGGREGATE_CACHE_SIZE
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def pool_size(self) -> int:
        """The size of this process's one PostgreSQL pool."""
        return self.pool_sizes.get(self.process, OTHER_POOL_SIZE)

    @property
    def topic(self) -> str:
        return f"jingkang.{self.service}.v1"

    @property
    def dead_letter_topic(self) -> str:
        return f"jingkang.{self.service}.dlq"


def load_settings(service: str, environ: Mapping[str, str] | None = None) -> ServiceSettings:
    env = os.environ if environ is None else environ
    prefix = f"JINGKANG_{service.upper()}_"
    data_dir = env.get("JINGKANG_DATA_DIR", ".data")
    production = env.get("JINGKANG_ENV", "development") == "production"
    settings = ServiceSettings(
        service=service,
        store_url=env.get(prefix + "STORE") or f"sqlite:///{os.path.abspath(data_dir)}/{service}.sqlite",
        kafka_bootstrap=env.get("JINGKANG_KAFKA", "127.0.0.1:9092"),
        http_host=env.get(prefix + "HOST", "127.0.0.1"),
        http_port=int(env.get(prefix + "PORT", DEFAULT_PORTS.get(service, 8000))),
        production=production,
        data_dir=os.path.abspath(data_dir),
        cipher_key=env.get(prefix + "CIPHER_KEY") or None,
        trace_file=env.get("JINGKANG_TRACE_FILE") or None,
        relay_poll_seconds=float(env.get("JINGKANG_RELAY_POLL_SECONDS", "0.2")),
        relay_batch_size=int(env.get("JINGKANG_RELAY_BATCH_SIZE", "500")),
        relay_max_backoff_seconds=float(env.get("JINGKANG_RELAY_MAX_BACKOFF_SECONDS", "60")),
        consumer_group=env.get(prefix + "GROUP") or f"jingkang-{service}",
        clock_file=None if production else (env.get("JINGKANG_CLOCK_FILE") or None),
        tick_seconds=float(env.get("JINGKANG_TICK_SECONDS", "30")),
        metrics_port=int(env[prefix + "METRICS_PORT"]) if env.get(prefix + "METRICS_PORT") else None,
        jwt_key=env.get("JINGKANG_JWT_KEY") or None,
        jwt_issuer=env.get("JINGKANG_JWT_ISSUER", "jingkang-dev"),
        oidc=load_oidc_settings(env),
        consumer_attempts=int(env.get("JINGKANG_CONSUMER_ATTEMPTS", "3")),
        consumer_batch_size=max(1, int(env.get("JINGKANG_CONSUMER_BATCH_SIZE", "1000"))),
        idempotency_hours=float(env.get("JINGKANG_IDEMPOTENCY_HOURS", "24")),
        pool_sizes=pool_sizes(env),
        reuse_port=env.get("JINGKANG_REUSE_PORT", "") in ("1", "true", "yes"),
        max_event_bytes=int(env.get("JINGKANG_MAX_EVENT_BYTES", DEFAULT_MAX_EVENT_BYTES)),
        max_request_bytes=int(env.get("JINGKANG_MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES)),
        aggregate_cache_size=int(env.get("JINGKANG_AGGREGATE_CACHE_SIZE", DEFAULT_AGGREGATE_CACHE_SIZE)),
        extra={k[len(prefix):]: v for k, v in env.items() if k.startswith(prefix)},
    )
    if production and settings.store_url.startswith(("sqlite:", "memory:")):
        raise SettingsError(f"{prefix}STORE must be a PostgreSQL URL in production")
    if production and service != "auth":
        if settings.jwt_key:
            raise SettingsError("JINGKANG_JWT_KEY is a shared secret any holder can sign with: production accepts only "
                                "tokens signed by the identity provider (set JINGKANG_OIDC_ISSUER, unset JINGKANG_JWT_KEY)")
        if settings.oidc is None:
            raise SettingsError("JINGKANG_OIDC_ISSUER is required in production: every request must be authorised")
        if not settings.oidc.issuer.startswith("https://"):
            raise SettingsError("JINGKANG_OIDC_ISSUER must be an https URL in production")
    return settings


def pool_sizes(environ: Mapping[str, str]) -> dict[str, int]:
    """Pool size per kind of process, from JINGKANG_PG_POOL_<PROCESS> or the defaults."""
    sizes = {}
    for process, default in DEFAULT_POOL_SIZES.items():
        name = f"JINGKANG_PG_POOL_{process.upper()}"
        try:
            sizes[process] = int(environ.get(name, default))
        except ValueError:
            sizes[process] = 0
        if sizes[process] < 1:
            raise SettingsError(f"{name} must be a whole number of at least 1")
    return sizes


def pg_connections(process: str, sizes: Mapping[str, int] | None = None) -> int:
    """The most PostgreSQL connections one process of that kind ever opens: its pool and
    the connections it holds apart from it. deploy/run.py adds these up against the
    cluster's max_connections before it starts anything."""
    return (sizes or DEFAULT_POOL_SIZES).get(process, OTHER_POOL_SIZE) + HELD_CONNECTIONS.get(process, 0)
def load_oidc_settings(env: Mapping[str, str]) -> OidcSettings | None:
    issuer = env.get("JINGKANG_OIDC_ISSUER")
    if not issuer:
        return None
    try:
        oidc = OidcSettings(
            issuer=issuer,
            audience=env.get("JINGKANG_OIDC_AUDIENCE") or "jingkang",
            actor_claim=env.get("JINGKANG_OIDC_ACTOR_CLAIM") or "sub",
            role_claim=env.get("JINGKANG_OIDC_ROLE_CLAIM") or "realm_access.roles",
            districts_claim=env.get("JINGKANG_OIDC_DISTRICTS_CLAIM") or "districts",
            leeway_seconds=int(env.get("JINGKANG_OIDC_LEEWAY_SECONDS", "30")),
            keys_cache_seconds=float(env.get("JINGKANG_OIDC_KEYS_CACHE_SECONDS", "300")),
            refresh_seconds=float(env.get("JINGKANG_OIDC_REFRESH_SECONDS", "10")),
        )
    except ValueError as e:
        raise SettingsError(f"JINGKANG_OIDC_*: not a number: {e}") from None
    if not 0 <= oidc.leeway_seconds <= MAX_LEEWAY_SECONDS:
        raise SettingsError(f"JINGKANG_OIDC_LEEWAY_SECONDS must be between 0 and {MAX_LEEWAY_SECONDS}")
    if oidc.keys_cache_seconds <= 0 or oidc.refresh_seconds < 0:
        raise SettingsError("JINGKANG_OIDC_KEYS_CACHE_SECONDS must be positive, JINGKANG_OIDC_REFRESH_SECONDS not negative")
    return oidc


def store_env(settings: ServiceSettings) -> dict[str, str]:
    """The `eventsourcing` environment for this service's event store."""
    url = urlparse(settings.store_url)
    env: dict[str, str] = {}
    if url.scheme in ("postgresql", "postgres"):
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_DBNAME=url.path.lstrip("/"),
            POSTGRES_HOST=url.hostname or "127.0.0.1",
            POSTGRES_PORT=str(url.port or 5432),
            POSTGRES_USER=unquote(url.username or ""),
            POSTGRES_PASSWORD=unquote(url.password or ""),
            POSTGRES_CONNECT_TIMEOUT="1",  # eventsourcing retries 10 times: a dead store answers 503 in ~12 s, not 50
            # A fixed pool (the connection budget): no overflow beyond it, ever.
            POSTGRES_POOL_SIZE=str(settings.pool_size),
            POSTGRES_MAX_OVERFLOW="0",
            POSTGRES_LOCK_TIMEOUT="5",
            # No POSTGRES_PRE_PING (a round trip per connection taken): ServiceApplication gives
            # the pool a check that discards dead connections without one (shared.store.discard_dead).
            # API processes save through one database function call instead of several
            # statements (bench/: append +45%). Only there: in eventsourcing 9.5.6 that path
            # drops tracking records, which workers need (ServiceApplication refuses the mix).
            POSTGRES_ENABLE_DB_FUNCTIONS="y" if settings.process == "api" else "n",
            # That function, with the table lock the library's leaves out (ids committed in order).
            PROCESS_RECORDER_TOPIC="shared.pgstore:OrderedProcessRecorder",
        )
        if settings.process in ("relay", "worker"):
            # The API creates the tables (and functions) and starts first (deploy/run.py, the
            # compose file): a relay and a worker doing it at the same moment fail with
            # "tuple concurrently updated" on PostgreSQL.
            env["CREATE_TABLE"] = "n"
        schema = parse_qs(url.query).get("schema")
        if schema:  # one database with a schema per service also works
            env["POSTGRES_SCHEMA"] = schema[0]
    elif url.scheme == "sqlite":
        path = url.path
        if not path or path == "/":
            raise SettingsError("sqlite store URL needs a path: sqlite:///path/to/file.sqlite")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        env.update(PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=path, SQLITE_LOCK_TIMEOUT="10")
    elif url.scheme == "memory":
        env.update(PERSISTENCE_MODULE="eventsourcing.popo")
    else:
        raise SettingsError(f"unsupported event store URL scheme {url.scheme!r}")
    env["SINGLE_ROW_TRACKING"] = "y"
    if settings.aggregate_cache_size > 0 and settings.process != "relay":  # a relay reads the log, not aggregates
        # Fast-forward (the library's default) reads what other processes saved since: the
        # cache never answers with a stale version, and a write still meets the store's
        # optimistic concurrency check.
        env.update(AGGREGATE_CACHE_MAXSIZE=str(settings.aggregate_cache_size), AGGREGATE_CACHE_FASTFORWARD="y")
    env["MAX_EVENT_BYTES"] = str(settings.max_event_bytes)  # read by ServiceApplication's mapper
    if settings.cipher_key:
        # the library's AES-GCM format, through `cryptography` (shared/cipher.py: 50× faster)
        env.update(CIPHER_TOPIC="shared.cipher:AESGCMCipher", CIPHER_KEY=settings.cipher_key)
    return env
