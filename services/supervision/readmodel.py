"""The supervision read model: the public facts the indicators need, kept in the service's
own store (SQLite by default, PostgreSQL), with the Kafka position of every partition it
has consumed in the same transaction (the tracking records: a redelivered message is a
no-op, a crash loses nothing).

Tables
- supervision_facts: one row per distinct CloudEvent of a type the definitions use
  (services/supervision/indicators.py `USED`), keyed by its CloudEvent id (a republished
  copy is the same row), with the columns a query selects by: district, street, station,
  client, referral or contract (`ref`), and `day`, the business date the definitions read
  (registered_on, agreed_on, due_on, the Shanghai date of requested_at, ...). The row
  keeps the event's data as published, so every figure can be recomputed and traced back
  to the CloudEvent ids behind it (the evidence).
- supervision_positions: per topic and partition, the next offset to consume.
- supervision_districts: every district code a fact names (the district tree's leaves).
- supervision_version: a counter moved by every transaction that adds facts (what a query
  cached is valid while it stands still).
- supervision_reviews: the closed periods already checked against their targets.

A query reads one district's facts up to the end of the period (every definition reads
only facts of a business day on or before `end`, see indicators.py), never the topics."""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable, Iterator, Sequence
from urllib.parse import parse_qs, unquote, urlparse

from services.supervision.indicators import Fact, _local_day
from shared.auth import area_prefix
from shared.contract import lookup

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS supervision_facts (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, subject TEXT, time TEXT NOT NULL,
        recorded_on TEXT NOT NULL, sequence BIGINT NOT NULL, day TEXT NOT NULL,
        client_id TEXT, district TEXT, street TEXT, station TEXT, ref TEXT, data TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS supervision_facts_client ON supervision_facts (client_id, day)",
    "CREATE INDEX IF NOT EXISTS supervision_facts_district ON supervision_facts (district, name, day)",
    "CREATE INDEX IF NOT EXISTS supervision_facts_ref ON supervision_facts (ref)",
    """CREATE TABLE IF NOT EXISTS supervision_positions (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset BIGINT NOT NULL, PRIMARY KEY (topic, partition))""",
    "CREATE TABLE IF NOT EXISTS supervision_districts (code TEXT PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS supervision_version (one INTEGER PRIMARY KEY CHECK (one = 1), facts BIGINT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS supervision_reviews (
        district TEXT NOT NULL, period TEXT NOT NULL, PRIMARY KEY (district, period))""",
)
COLUMNS = ("id", "name", "type", "subject", "time", "recorded_on", "sequence", "day", "client_id", "district", "street",
           "station", "ref", "data")
# The business date of each type the definitions read (indicators.py); the rest count on recorded_on.
DAY_FIELDS = ("registered_on", "relocated_on", "exited_on", "agreed_on", "assessed_on", "due_on", "placed_on",
              "waiting_since", "period_start", "requested_at", "at")
DISTRICT_FACTS = ("StationRegistered", "ClientPlaced", "WaitlistExceeded", "PurchaseContractSigned")
RESIDENCE = ("ClientRegistered", "ClientRelocated")


@dataclass(frozen=True)
class Row:
    """A fact as stored: what the evidence endpoint shows and what indicators re-read."""
    id: str
    name: str
    type: str
    subject: str | None
    time: str


def row_of(ce: dict, fact: Fact) -> tuple:
    """The supervision_facts row of a CloudEvent and the fact it states."""
    e = fact.event
    values = vars(e)  # the model's fields (plain dict lookups: pydantic's getattr of a missing name is slow)
    day = fact.recorded_on
    for name in DAY_FIELDS:
        value = values.get(name)
        if value is not None:
            day = _local_day(value) if isinstance(value, datetime) else value
            break
    ref = values.get("referral_id") or values.get("contract_id")
    text = lambda v: None if v is None else str(v)  # noqa: E731
    return (fact.id, type(e).__name__, str(ce.get("type")), text(ce.get("subject")), str(ce.get("time")),
            fact.recorded_on.isoformat(), fact.sequence, day.isoformat(), text(values.get("client_id")),
            text(values.get("district_code")), text(values.get("street_code")), text(values.get("station_id")),
            text(ref), json.dumps(ce.get("data"), ensure_ascii=False))


def area_bounds(area: str) -> tuple[str, str]:
    """The codes under an area as a range an index can use: 320100 -> 320100..320199."""
    prefix = area_prefix(area) or area
    return prefix.ljust(6, "0"), prefix.ljust(6, "9")


class ReadModel:
    """The tables above in one database: `sqlite:///path`, `memory://` (one SQLite database
    in memory, for tests) or `postgresql://...` (the service's store URL)."""

    def __init__(self, url: str, cache_size: int = 500_000):
        parsed = urlparse(url)
        self.url = url
        self.cache_size = cache_size
        self._parsed: dict[str, Fact] = {}
        self.postgres = parsed.scheme in ("postgresql", "postgres")
        self._lock = threading.RLock()
        self._pool = None
        self._sqlite: sqlite3.Connection | None = None
        if self.postgres:
            from psycopg_pool import ConnectionPool

            schema = parse_qs(parsed.query).get("schema")
            kwargs: dict[str, Any] = dict(dbname=parsed.path.lstrip("/"), host=parsed.hostname or "127.0.0.1",
                                          port=parsed.port or 5432, user=unquote(parsed.username or ""),
                                          password=unquote(parsed.password or ""), connect_timeout=2)
            if schema:
                kwargs["options"] = f"-c search_path={schema[0]}"
            self._pool = ConnectionPool(kwargs=kwargs, min_size=1, max_size=8, open=True, timeout=5)
        elif parsed.scheme == "memory":
            self._sqlite = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        elif parsed.scheme == "sqlite":
            self._sqlite = sqlite3.connect(parsed.path, check_same_thread=False, isolation_level=None, timeout=10)
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("PRAGMA synchronous=NORMAL")
        else:
            raise ValueError(f"unsupported store URL scheme {parsed.scheme!r}")
        with self._transaction(write=True) as cur:
            for statement in SCHEMA:
                cur.execute(statement)

    # --- plumbing: one SQL dialect (? placeholders), two drivers ---------------------------------------
    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    class _Cursor:
        def __init__(self, model: "ReadModel", cur):
            self.model, self.cur = model, cur

        def execute(self, statement: str, params: Sequence = ()):
            self.cur.execute(self.model._sql(statement), tuple(params))
            return self.cur

        def executemany(self, statement: str, rows: Iterable[Sequence]):
            self.cur.executemany(self.model._sql(statement), list(rows))

        def fetchall(self):
            return self.cur.fetchall()

    def _transaction(self, write: bool = False):
        """One transaction; on SQLite a writing one takes the write lock at once (so two
        writers never deadlock upgrading), a reading one does not wait for the writer (WAL)."""
        model = self

        class Tx:
            def __enter__(self):
                if model.postgres:
                    self.ctx = model._pool.connection()
                    conn = self.ctx.__enter__()
                    self.cm = conn.transaction()
                    self.cm.__enter__()
                    return ReadModel._Cursor(model, conn.cursor())
                model._lock.acquire()
                model._sqlite.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                return ReadModel._Cursor(model, model._sqlite.cursor())

            def __exit__(self, kind, value, tb):
                if model.postgres:
                    try:
                        self.cm.__exit__(kind, value, tb)
                    finally:
                        self.ctx.__exit__(kind, value, tb)
                    return False
                try:
                    model._sqlite.execute("ROLLBACK" if kind else "COMMIT")
                finally:
                    model._lock.release()
                return False

        return Tx()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._sqlite is not None:
            self._sqlite.close()

    def ping(self) -> None:
        with self._transaction() as cur:
            cur.execute("SELECT 1").fetchall()

    # --- writes --------------------------------------------------------------------------------------
    def version(self) -> int:
        """A number that changes whenever facts are added or the model is emptied."""
        with self._transaction() as cur:
            rows = cur.execute("SELECT facts FROM supervision_version WHERE one = 1").fetchall()
        return rows[0][0] if rows else 0

    def positions(self) -> dict[tuple[str, int], int]:
        """The next offset to consume of every partition consumed so far."""
        with self._transaction() as cur:
            rows = cur.execute("SELECT topic, partition, next_offset FROM supervision_positions").fetchall()
        return {(t, p): o for t, p, o in rows}

    def apply(self, rows: Sequence[tuple], positions: dict[tuple[str, int], int]) -> None:
        """Store new facts and the positions they were consumed up to, in one transaction.
        A fact already stored (same CloudEvent id: a republished copy) stays as it was."""
        columns = ", ".join(COLUMNS)
        with self._transaction(write=True) as cur:
            if rows:
                cur.executemany(f"INSERT INTO supervision_facts ({columns}) VALUES ({', '.join('?' * len(COLUMNS))}) "
                                "ON CONFLICT (id) DO NOTHING", rows)
            if rows:  # what is cached from the facts is stale now
                cur.execute("INSERT INTO supervision_version (one, facts) VALUES (1, 1) "
                            "ON CONFLICT (one) DO UPDATE SET facts = supervision_version.facts + 1")
            districts = sorted({row[9] for row in rows if row[9]})
            if districts:
                cur.executemany("INSERT INTO supervision_districts (code) VALUES (?) ON CONFLICT DO NOTHING",
                                [(d,) for d in districts])
            if positions:
                cur.executemany("INSERT INTO supervision_positions (topic, partition, next_offset) VALUES (?, ?, ?) "
                                "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                                [(t, p, o) for (t, p), o in positions.items()])

    def clear(self) -> None:
        """Empty the model and forget every position (a rebuild from zero starts here)."""
        with self._transaction(write=True) as cur:
            for table in ("supervision_facts", "supervision_positions", "supervision_reviews", "supervision_districts"):
                cur.execute(f"DELETE FROM {table}")
            cur.execute("INSERT INTO supervision_version (one, facts) VALUES (1, 1) "
                        "ON CONFLICT (one) DO UPDATE SET facts = supervision_version.facts + 1")
        self._parsed.clear()

    # --- reads ---------------------------------------------------------------------------------------
    def facts_of(self, area: str, until: date) -> Iterator[Fact]:
        """Every fact an indicator of `area` (a county, or a city or province) can read for a
        period ending `until`: its residents' facts (clients who ever lived there), its
        stations, placements, waitlist, contracts and their payments."""
        lo, hi = area_bounds(area)
        end = until.isoformat()
        residents = ("SELECT client_id FROM supervision_facts WHERE district >= ? AND district <= ? "
                     f"AND name IN ({', '.join('?' * len(RESIDENCE))})")
        contracts = "SELECT ref FROM supervision_facts WHERE name = 'PurchaseContractSigned' AND district >= ? AND district <= ?"
        # UNION ALL, not UNION: no sort of the rows to drop the few found twice (a resident's
        # ClientPlaced is also a district fact); the loop below drops them.
        statement = (
            f"SELECT id, type, recorded_on, sequence FROM supervision_facts WHERE day <= ? AND client_id IN ({residents}) "
            f"UNION ALL SELECT id, type, recorded_on, sequence FROM supervision_facts WHERE day <= ? "
            f"AND district >= ? AND district <= ? AND name IN ({', '.join('?' * len(DISTRICT_FACTS))}) "
            f"UNION ALL SELECT id, type, recorded_on, sequence FROM supervision_facts WHERE day <= ? "
            f"AND name = 'PurchaseContractPaid' AND ref IN ({contracts})")
        params = [end, lo, hi, *RESIDENCE, end, lo, hi, *DISTRICT_FACTS, end, lo, hi]
        # A CloudEvent id's content never changes, so a fact parsed once is kept (reading and
        # parsing its data is most of a query's time): bounded, emptied when full.
        parsed = self._parsed
        with self._transaction() as cur:
            rows = cur.execute(statement, params).fetchall()
            if len(parsed) + len(rows) > self.cache_size:
                parsed.clear()
            missing = list({r[0]: None for r in rows if r[0] not in parsed})
            data: dict[str, str] = {}
            for start in range(0, len(missing), 500):
                chunk = missing[start:start + 500]
                data.update(cur.execute(f"SELECT id, data FROM supervision_facts WHERE id IN ({', '.join('?' * len(chunk))})",
                                        chunk).fetchall())
        models: dict[str, Any] = {}
        seen: set[str] = set()
        for ce_id, ce_type, recorded_on, sequence in rows:
            if ce_id in seen:
                continue
            seen.add(ce_id)
            fact = parsed.get(ce_id)
            if fact is None:
                cls = models.get(ce_type) or models.setdefault(ce_type, lookup(ce_type))
                fact = parsed[ce_id] = Fact(id=ce_id, recorded_on=date.fromisoformat(recorded_on), sequence=int(sequence),
                                            event=cls.model_validate_json(data[ce_id]))
            yield fact

    def rows(self, ids: Sequence[str]) -> list[Row]:
        """The stored facts of those CloudEvent ids, in the order given."""
        found: dict[str, Row] = {}
        with self._transaction() as cur:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start:start + 500])
                statement = (f"SELECT id, name, type, subject, time FROM supervision_facts "
                             f"WHERE id IN ({', '.join('?' * len(chunk))})")
                found.update({r[0]: Row(*r) for r in cur.execute(statement, chunk).fetchall()})
        return [found[i] for i in ids if i in found]

    def districts(self) -> set[str]:
        """Every district code a fact names."""
        with self._transaction() as cur:
            rows = cur.execute("SELECT code FROM supervision_districts").fetchall()
        return {r[0] for r in rows}

    def first_day(self) -> date | None:
        with self._transaction() as cur:
            rows = cur.execute("SELECT MIN(day) FROM supervision_facts").fetchall()
        return date.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    def dump(self) -> dict[str, list[tuple]]:
        """Every row of the model, sorted: a rebuild must give the same."""
        with self._transaction() as cur:
            facts = cur.execute(f"SELECT {', '.join(COLUMNS)} FROM supervision_facts ORDER BY id").fetchall()
            positions = cur.execute("SELECT topic, partition, next_offset FROM supervision_positions "
                                    "ORDER BY topic, partition").fetchall()
        return {"facts": [tuple(r) for r in facts], "positions": [tuple(r) for r in positions]}

    def reviewed(self, district: str, period: str) -> bool:
        with self._transaction() as cur:
            return bool(cur.execute("SELECT 1 FROM supervision_reviews WHERE district = ? AND period = ?",
                                    (district, period)).fetchall())

    def mark_reviewed(self, district: str, period: str) -> None:
        with self._transaction(write=True) as cur:
            cur.execute("INSERT INTO supervision_reviews (district, period) VALUES (?, ?) ON CONFLICT DO NOTHING",
                        (district, period))
