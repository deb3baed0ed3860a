"""How a service's three processes start: `python -m services.<name> api|relay|worker`.
Each process is its own composition root: settings in, one Application built, run
until SIGTERM/SIGINT, then stop cleanly (the relay finishes its batch, the worker
commits its position)."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import Callable

from shared import metrics
from shared.settings import ServiceSettings
from shared.telemetry import setup_tracing
from shared.topics import ensure_topics, public_topics

log = logging.getLogger("jingkang")
WORKER_RESTART_SECONDS = 3


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the trace id when a span is current. Messages
    never carry personal identifiers: services log ids and codes only."""

    def format(self, record: logging.LogRecord) -> str:
        from opentelemetry import trace

        entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=os.environ.get("JINGKANG_LOG_LEVEL", "INFO"), handlers=[handler], force=True)
    for noisy in ("kafka", "aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_api(settings: ServiceSettings, create_app: Callable) -> None:
    import uvicorn

    config = uvicorn.Config(create_app(settings), host=settings.http_host, port=settings.http_port, log_level="warning")
    if not settings.reuse_port:
        uvicorn.Server(config).run()
        return
    # Several API processes of one service on one port: the kernel spreads new connections.
    sock = socket.socket(socket.AF_INET6 if ":" in settings.http_host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((settings.http_host, settings.http_port))
    uvicorn.Server(config).run(sockets=[sock])


def run_relay(settings: ServiceSettings, create_relay: Callable) -> None:
    from shared.relay import waiter_for

    ensure_topics(settings.kafka_bootstrap, public_topics())
    metrics.serve(settings.metrics_port)
    relay = create_relay(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    lock = exclusive_relay(settings, stop)
    try:
        if not stop.is_set():
            relay.run(stop, waiter_for(settings.store_url, relay.app, settings.relay_poll_seconds, stop))
    finally:
        if lock is not None:
            lock.close()
        relay.producer.flush()
        relay.producer.close()
        relay.app.close()


def exclusive_relay(settings: ServiceSettings, stop: threading.Event):
    """On PostgreSQL, a second relay of the same service waits as a hot standby (an advisory
    lock held for the process's life) instead of publishing everything twice."""
    if not settings.store_url.startswith(("postgresql:", "postgres:")):
        return None
    import zlib

    import psycopg

    key = zlib.crc32(f"jingkang-relay:{settings.store_url}".encode())
    conn = psycopg.connect(settings.store_url.split("?")[0], autocommit=True)
    announced = False
    while not stop.is_set() and not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
        if not announced:
            log.info("another relay of %s is running; standing by", settings.service)
            announced = True
        stop.wait(2.0)
    return conn


def leader_topic(settings: ServiceSettings) -> str:
    """The one-partition topic through which faust elects the worker group's leader (the
    only member that runs timers: deadlines). Its name is faust's (LeaderAssignor)."""
    return f"{settings.consumer_group}-__assignor-__leader"


def ensure_worker_topics(settings: ServiceSettings) -> None:
    """Every topic a worker needs, before faust starts. faust creates the leader topic
    itself as it starts, but when the broker's metadata does not show it yet at the first
    join, no member is the leader and no deadline fires until a metadata refresh, minutes
    later (the soak saw ReferralOverdue and intake's DeadlineBreached never come)."""
    ensure_topics(settings.kafka_bootstrap, public_topics() + [settings.dead_letter_topic])
    ensure_topics(settings.kafka_bootstrap, [leader_topic(settings)], partitions=1)


def run_worker(settings: ServiceSettings, create_worker: Callable) -> None:
    import faust

    ensure_worker_topics(settings)
    metrics.serve(settings.metrics_port + 1 if settings.metrics_port else None)
    worker_app = create_worker(settings)
    try:
        faust.Worker(worker_app, loglevel="WARNING").execute_from_commandline()
    except SystemExit as exit_:
        if exit_.code in (0, None):
            raise
        # faust gives up when the broker vanishes while it starts (or crashes later); its
        # app cannot be restarted in-process, so the process starts itself afresh, as a
        # supervisor would, and resumes from the positions it committed.
        log.warning("worker stopped with exit code %s; restarting in %ss", exit_.code, WORKER_RESTART_SECONDS)
        time.sleep(WORKER_RESTART_SECONDS)
        os.execv(sys.executable, sys.orig_argv)


def main(service: str, load_settings: Callable, create_app: Callable, create_relay: Callable, create_worker: Callable,
         run_worker: Callable = run_worker) -> None:
    """`run_worker`: a service whose worker is not a faust app (supervision) brings its own."""
    configure_logging()
    process = sys.argv[1] if len(sys.argv) > 1 else ""
    runners = {"api": (run_api, create_app), "relay": (run_relay, create_relay), "worker": (run_worker, create_worker)}
    if process not in runners:
        sys.exit(f"usage: python -m services.{service} api|relay|worker")
    settings = dataclasses.replace(load_settings(), process=process)
    # Every PostgreSQL connection of this process says whose it is (pg_stat_activity's
    # application_name): how the connection budget is checked on a running system.
    os.environ.setdefault("PGAPPNAME", f"jingkang-{service}-{process}")
    setup_tracing(service, process, settings.trace_file)
    runner, factory = runners[process]
    sys.argv = sys.argv[:1]  # faust's worker parses argv itself
    runner(settings, factory)
