"""Tamper evidence: each service's stored events form a hash chain.

The relay seals every record it passes, in log order: hash_n = SHA-256(hash_{n-1} ||
position, aggregate, version, topic || the stored bytes, ciphertext where encrypted). The
seals go in a table beside the events (`jingkang_chain`), and the hash also travels on
each published event (CloudEvents extension `chainhash`), so subscribers hold copies the
database administrator cannot rewrite. `verify` recomputes the chain from the stored
events and names the first record that was altered, deleted, inserted or reordered."""
from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol
from urllib.parse import parse_qs, urlparse

from shared.store import pooled_transaction

GENESIS = b"\x00" * 32
TABLE = "jingkang_chain"


def link(previous: bytes, notification) -> bytes:
    header = f"{notification.id}|{notification.originator_id}|{notification.originator_version}|{notification.topic}|"
    return hashlib.sha256(previous + header.encode() + bytes(notification.state)).digest()


class Seals(Protocol):
    def last(self) -> tuple[int, bytes]: ...
    def append(self, seals: list[tuple[int, bytes]]) -> None: ...
    def all(self) -> Iterator[tuple[int, bytes]]: ...


class MemorySeals:
    def __init__(self) -> None:
        self.rows: dict[int, bytes] = {}

    def last(self) -> tuple[int, bytes]:
        return max(self.rows.items(), default=(0, GENESIS))

    def append(self, seals: list[tuple[int, bytes]]) -> None:
        for position, digest in seals:
            self.rows.setdefault(position, digest)

    def all(self) -> Iterator[tuple[int, bytes]]:
        return iter(sorted(self.rows.items()))


class SqlSeals:
    """The seal table in the service's own database (PostgreSQL or SQLite). On PostgreSQL it
    borrows from the process's pool when given one (the relay's: README "Connection budget"),
    and otherwise connects per call (the auditor)."""

    def __init__(self, store_url: str, pool=None):
        url = urlparse(store_url)
        self.pool = pool
        self.postgres = url.scheme in ("postgresql", "postgres")
        if self.postgres:
            self.conninfo = store_url.split("?")[0]
            schema = parse_qs(url.query).get("schema", ["public"])[0]
            self.table = f'"{schema}".{TABLE}'
            self.blob, self.ignore = "bytea", "ON CONFLICT (position) DO NOTHING"
        else:
            self.path = url.path
            self.table, self.blob, self.ignore = TABLE, "BLOB", "ON CONFLICT (position) DO NOTHING"
        with self._transaction() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (position bigint PRIMARY KEY, hash {self.blob} NOT NULL)")

    @contextlib.contextmanager
    def _transaction(self):
        """A cursor in one transaction (committed when the block ends normally), rows as tuples."""
        if self.postgres and self.pool is not None:
            with pooled_transaction(self.pool) as cur:
                yield cur
        elif self.postgres:
            import psycopg
            with psycopg.connect(self.conninfo, connect_timeout=5) as conn, conn.cursor() as cur:
                yield cur
        else:
            conn = sqlite3.connect(self.path, timeout=10)
            try:
                with conn:
                    yield conn.cursor()
            finally:
                conn.close()

    def last(self) -> tuple[int, bytes]:
        with self._transaction() as cur:
            row = cur.execute(f"SELECT position, hash FROM {self.table} ORDER BY position DESC LIMIT 1").fetchone()
        return (row[0], bytes(row[1])) if row else (0, GENESIS)

    def append(self, seals: list[tuple[int, bytes]]) -> None:
        if not seals:
            return
        mark = "%s" if self.postgres else "?"
        with self._transaction() as cur:
            cur.executemany(f"INSERT INTO {self.table} (position, hash) VALUES ({mark}, {mark}) {self.ignore}", seals)

    def all(self) -> Iterator[tuple[int, bytes]]:
        with self._transaction() as cur:
            rows = cur.execute(f"SELECT position, hash FROM {self.table} ORDER BY position").fetchall()
        return iter((p, bytes(h)) for p, h in rows)


def seals_for(store_url: str, pool=None) -> Seals:
    return MemorySeals() if store_url.startswith("memory:") else SqlSeals(store_url, pool)


class Sealer:
    """Extends the chain as the relay reads the log (deterministic: a repeat after a
    crash computes the same hashes, and appending them again changes nothing)."""

    def __init__(self, seals: Seals):
        self.seals = seals
        self.reset()

    def reset(self) -> None:
        """Forget what was sealed but not committed (the batch failed)."""
        self.position, self.head = self.seals.last()
        self._sealed: dict[int, bytes] | None = None
        self._pending: list[tuple[int, bytes]] = []

    def seal(self, notification) -> bytes:
        if notification.id <= self.position and not any(p == notification.id for p, _ in self._pending):
            # Sealed before a crash, not yet published: the stored seal stands.
            if self._sealed is None:
                self._sealed = dict(self.seals.all())
            return self._sealed[notification.id]
        self.head = link(self.head, notification)
        self.position = notification.id
        self._pending.append((notification.id, self.head))
        return self.head

    def commit(self, through: int | None = None) -> None:
        """Store the seals made so far, or only those up to position `through` (the relay
        published a prefix of its batch): the rest are forgotten and made again later."""
        if through is None:
            self.seals.append(self._pending)
            self._pending = []
            return
        self.seals.append([(p, h) for p, h in self._pending if p <= through])
        self.reset()


@dataclass(frozen=True)
class Finding:
    position: int
    problem: str

    def __str__(self) -> str:
        return f"record {self.position}: {self.problem}"


def verify(notifications: Iterable, seals: Iterable[tuple[int, bytes]]) -> tuple[int, Finding | None]:
    """Walk the stored records (in log order) and the seals together; return (records
    verified, the first problem or None). Records after the last seal are not sealed yet."""
    sealed = dict(seals)
    positions = iter(sorted(sealed))
    last = max(sealed, default=0)
    head, checked = GENESIS, 0
    for n in notifications:
        if n.id > last:
            break
        if n.id not in sealed:
            return checked, Finding(n.id, "inserted: stored but never sealed")
        expected = next(positions)
        if expected < n.id:
            return checked, Finding(expected, "deleted: sealed but no longer stored")
        head = link(head, n)
        if head != sealed[n.id]:
            return checked, Finding(n.id, "altered or reordered: its content does not match its seal")
        checked += 1
    missing = next(positions, None)
    if missing is not None:
        return checked, Finding(missing, "deleted: sealed but no longer stored")
    return checked, None
