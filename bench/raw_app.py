"""The raw baseline of the HTTP throughput benchmark: a minimal FastAPI app under uvicorn
(one process, like a service's API process) that validates a body of the same shape as
assessment's POST /v1/clients/{id}/sessions and does one raw INSERT + COMMIT of a blob of
the same size as the stored event, per request: in SQLite (WAL, as eventsourcing sets it),
or in PostgreSQL through a psycopg pool of the API's size (4) when DB is a postgresql:// URL.

    python bench/raw_app.py PORT DB STATE_BYTES"""
from __future__ import annotations

import os
import sqlite3
import sys
import threading
import uuid
from datetime import date
from typing import Literal
from uuid import UUID

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_type: str
    station_id: UUID
    session_date: date
    minutes: int = Field(ge=1, le=480)
    mode: Literal["individual", "group"]
    attendance: Literal["attended", "no_show"]


def create_app(db_path: str, state_bytes: int) -> FastAPI:
    if db_path.startswith("postgresql://"):
        return create_pg_app(db_path, state_bytes)
    local = threading.local()
    init = sqlite3.connect(db_path, isolation_level=None)
    init.execute("PRAGMA journal_mode=WAL")
    init.execute("CREATE TABLE IF NOT EXISTS events (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB)")
    init.close()
    filler = os.urandom(state_bytes)

    def conn() -> sqlite3.Connection:
        if not hasattr(local, "conn"):
            local.conn = sqlite3.connect(db_path, isolation_level=None, timeout=10, check_same_thread=False)
        return local.conn

    app = FastAPI()

    @app.post("/v1/clients/{client_id}/sessions", status_code=201)
    def record(client_id: UUID, body: SessionIn) -> dict:
        c = conn()
        c.execute("BEGIN IMMEDIATE")
        c.execute("INSERT INTO events VALUES (?, 1, 'raw:SessionDelivered', ?)", (str(uuid.uuid4()), filler))
        c.execute("COMMIT")
        return {"client_id": str(client_id), "minutes": body.minutes}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    return app


def create_pg_app(url: str, state_bytes: int) -> FastAPI:
    import psycopg
    from psycopg_pool import ConnectionPool

    with psycopg.connect(url, autocommit=True) as init:
        init.execute("CREATE TABLE IF NOT EXISTS raw_events (originator_id uuid, originator_version int, topic text, state bytea)")
    pool = ConnectionPool(url, min_size=4, max_size=4, open=True, kwargs={"autocommit": True})
    filler = os.urandom(state_bytes)
    app = FastAPI()

    @app.post("/v1/clients/{client_id}/sessions", status_code=201)
    def record(client_id: UUID, body: SessionIn) -> dict:
        with pool.connection() as conn, conn.transaction():
            conn.execute("INSERT INTO raw_events VALUES (%s, 1, 'raw:SessionDelivered', %s)", (uuid.uuid4(), filler))
        return {"client_id": str(client_id), "minutes": body.minutes}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    port, db_path, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    uvicorn.run(create_app(db_path, size), host="127.0.0.1", port=port, log_level="warning")
