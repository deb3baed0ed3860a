"""Crypto-erasure of personal identifiers (the right to erasure without breaking the audit).

Stored events are hash-chained (shared/chain.py) and must never be altered or deleted, so
an identity cannot be erased by editing events. Instead each person's identifiers are
sealed (AES-256-GCM) under their own random data key, and only the sealed token goes into
events. The data keys live OUTSIDE the chained records, in a deletable table
`identity_keys` in the same database (and schema) as intake's event store. Erasing the
key makes every token sealed under it unreadable, while the events (and so the chain and
the replay of the case) stay exactly as they were.

With a master key (`JINGKANG_INTAKE_CIPHER_KEY`, always set in production) each data key is
stored wrapped (AES-GCM under a key derived from the master key, bound to its key id), so a
dump of the database alone reveals no identity.

Token: "v1." + base64url(nonce 12 bytes | ciphertext | tag 16 bytes), authenticated data =
the key id's 16 bytes, so a token only opens under the person it was sealed for. The
plaintext is the identity as JSON padded to a multiple of 64 bytes (hides a name's length).
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Protocol
from urllib.parse import parse_qs, urlparse
from uuid import UUID

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from Crypto.Random import get_random_bytes
from eventsourcing.persistence import OperationalError

from shared.errors import DomainError
from shared.settings import ServiceSettings, SettingsError
from shared.store import pooled_transaction

KEY_TABLE = "identity_keys"
TOKEN_PREFIX = "v1."
NONCE, TAG, DATA_KEY = 12, 16, 32
PAD = 64
WRAP_CONTEXT = b"jingkang/intake/identity-key-wrap/v1"  # a key for this purpose only, not the store's own


class IdentityErased(DomainError):
    """The person's key was erased: their identity is gone for good (HTTP 410 Gone)."""

    def __init__(self, key_id: UUID):
        super().__init__(f"the identity sealed under {key_id} was erased")
        self.key_id = key_id


class IdentityUnreadable(Exception):
    """A token that cannot be opened although its key exists (altered, sealed for another
    person, or the wrong master key), or a key that never existed. Not a user error: an
    integrity or configuration fault to alarm on. The message never contains the token."""


@dataclass(frozen=True)
class KeyRow:
    data_key: bytes | None  # None: erased (a tombstone: no key material left)
    wrapped: bool


class KeyTable(Protocol):
    def insert_if_absent(self, key_id: UUID, data_key: bytes, wrapped: bool) -> None: ...
    def get(self, key_id: UUID) -> KeyRow | None: ...
    def erase(self, key_id: UUID) -> bool: ...
    def close(self) -> None: ...


class MemoryKeys:
    """memory:// stores: an in-process dict (gone with the process, as the events are)."""

    def __init__(self) -> None:
        self.rows: dict[UUID, KeyRow] = {}
        self._lock = threading.Lock()

    def insert_if_absent(self, key_id: UUID, data_key: bytes, wrapped: bool) -> None:
        with self._lock:
            self.rows.setdefault(key_id, KeyRow(data_key, wrapped))

    def get(self, key_id: UUID) -> KeyRow | None:
        with self._lock:
            return self.rows.get(key_id)

    def erase(self, key_id: UUID) -> bool:
        with self._lock:
            row = self.rows.get(key_id)
            self.rows[key_id] = KeyRow(None, False)
            return row is not None and row.data_key is not None

    def close(self) -> None:
        pass


class SqliteKeys:
    """The key table in intake's SQLite file. A connection per call (cheap in SQLite, and
    thread safe); `secure_delete` makes SQLite overwrite a deleted key's bytes with zeros
    instead of leaving them on the page (a copy can linger in the WAL until checkpoint)."""

    def __init__(self, path: str):
        self.path = path
        self._ready = False
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10)
        conn.execute("PRAGMA secure_delete = ON")
        return conn

    def _run(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        try:
            if not self._ready:
                with self._lock:
                    if not self._ready:
                        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
                        with _closing(self._connect()) as conn, conn:
                            conn.execute(f"CREATE TABLE IF NOT EXISTS {KEY_TABLE} (key_id TEXT PRIMARY KEY, data_key BLOB, "
                                         "wrapped INTEGER NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, "
                                         "erased_at TEXT)")
                        self._ready = True
            with _closing(self._connect()) as conn, conn:  # commits, or rolls back on error
                return work(conn)
        except sqlite3.OperationalError as e:
            raise OperationalError(f"identity key table unavailable: {type(e).__name__}") from e

    def insert_if_absent(self, key_id: UUID, data_key: bytes, wrapped: bool) -> None:
        self._run(lambda c: c.execute(f"INSERT INTO {KEY_TABLE} (key_id, data_key, wrapped) VALUES (?, ?, ?) "
                                      "ON CONFLICT (key_id) DO NOTHING", (str(key_id), data_key, int(wrapped))))

    def get(self, key_id: UUID) -> KeyRow | None:
        row = self._run(lambda c: c.execute(f"SELECT data_key, wrapped FROM {KEY_TABLE} WHERE key_id = ?",
                                            (str(key_id),)).fetchone())
        return KeyRow(None if row[0] is None else bytes(row[0]), bool(row[1])) if row else None

    def erase(self, key_id: UUID) -> bool:
        def work(c: sqlite3.Connection) -> bool:
            erased = c.execute(f"DELETE FROM {KEY_TABLE} WHERE key_id = ? AND data_key IS NOT NULL",
                               (str(key_id),)).rowcount
            c.execute(f"INSERT INTO {KEY_TABLE} (key_id, data_key, wrapped, erased_at) VALUES (?, NULL, 0, CURRENT_TIMESTAMP) "
                      "ON CONFLICT (key_id) DO NOTHING", (str(key_id),))
            return erased == 1
        return self._run(work)

    def close(self) -> None:
        pass


class PostgresKeys:
    """The key table in intake's PostgreSQL database and schema, through the process's pool
    (or a small one of its own, opened on first use: never at import or construction).

    Erasure deletes the key's row (and adds a tombstone row without key material);
    PostgreSQL keeps the deleted row version (with the wrapped key) in the table's heap until VACUUM reclaims it, and in the WAL and any base
    backup until those are recycled. We deliberately do not run VACUUM per erasure: it
    cannot run in a transaction, it only makes the space reusable (it does not promise to
    overwrite the bytes) and autovacuum reclaims the page anyway. What makes erasure hold
    is that the leftover is only the *wrapped* key: useless without the master key, and
    gone for good once the page is reused and backups holding it expire."""

    def __init__(self, store_url: str, pool: Any = None):
        url = urlparse(store_url)
        self.conninfo = store_url.split("?")[0]
        self.schema = parse_qs(url.query).get("schema", ["public"])[0]
        # The process's one pool when given (Intake's recorder's: README "Connection budget");
        # a small one of its own otherwise (tools, tests), opened on first use.
        self._pool = pool
        self._own_pool = pool is None
        self._created = False
        self._lock = threading.Lock()

    def _table(self):
        from psycopg import sql
        return sql.Identifier(self.schema, KEY_TABLE)

    def share_pool(self, pool: Any) -> None:
        """Borrow connections from the process's pool instead of opening a pool of its own."""
        with self._lock:
            if self._own_pool and self._pool is not None:
                self._pool.close()
            self._pool, self._own_pool = pool, False

    def _connection_pool(self):
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self._pool = ConnectionPool(self.conninfo, min_size=1, max_size=2, timeout=5, open=True,
                                            kwargs={"connect_timeout": 5}, check=ConnectionPool.check_connection,
                                            name="jingkang-identity-keys")
            pool = self._pool
            if not self._created:
                from psycopg import sql

                with pooled_transaction(pool) as cur:
                    # IF NOT EXISTS is not safe against a concurrent CREATE (two
                    # processes starting at once): serialise it on a lock of this table.
                    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.schema}.{KEY_TABLE}",))
                    cur.execute(sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} (key_id uuid PRIMARY KEY, data_key bytea, "
                        "wrapped boolean NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), "
                        "erased_at timestamptz)").format(self._table()))
                self._created = True
            return pool

    def _run(self, work: Callable[[Any], Any]) -> Any:
        import psycopg

        try:
            with pooled_transaction(self._connection_pool()) as cur:  # one transaction: commits on success
                return work(cur)
        except psycopg.OperationalError as e:  # includes the pool's timeout: the database is down
            raise OperationalError(f"identity key table unavailable: {type(e).__name__}") from e

    def insert_if_absent(self, key_id: UUID, data_key: bytes, wrapped: bool) -> None:
        from psycopg import sql
        self._run(lambda c: c.execute(sql.SQL("INSERT INTO {} (key_id, data_key, wrapped) VALUES (%s, %s, %s) "
                                              "ON CONFLICT (key_id) DO NOTHING").format(self._table()),
                                      (key_id, data_key, wrapped)))

    def get(self, key_id: UUID) -> KeyRow | None:
        from psycopg import sql
        row = self._run(lambda c: c.execute(sql.SQL("SELECT data_key, wrapped FROM {} WHERE key_id = %s")
                                            .format(self._table()), (key_id,)).fetchone())
        return KeyRow(None if row[0] is None else bytes(row[0]), bool(row[1])) if row else None

    def erase(self, key_id: UUID) -> bool:
        from psycopg import sql

        def work(c) -> bool:
            erased = c.execute(sql.SQL("DELETE FROM {} WHERE key_id = %s AND data_key IS NOT NULL").format(self._table()),
                               (key_id,)).rowcount
            c.execute(sql.SQL("INSERT INTO {} (key_id, data_key, wrapped, erased_at) VALUES (%s, NULL, false, now()) "
                              "ON CONFLICT (key_id) DO NOTHING").format(self._table()), (key_id,))
            return erased == 1
        return self._run(work)

    def close(self) -> None:
        with self._lock:
            if self._own_pool and self._pool is not None:  # a shared pool is closed by its owner
                self._pool.close()
                self._pool = None


class IdentityVault:
    """Seals, opens and erases personal identifiers, one data key per key id (a person).

    Erasure deletes the key's row and leaves a tombstone (the key id and when, no key
    material), so that
    `is_erased` can tell an erased person from one never sealed, and a later `seal` under
    that id is refused instead of silently re-identifying the case. Thread safe."""

    def __init__(self, keys: KeyTable, master_key: bytes | None = None):
        if master_key is not None and len(master_key) not in (16, 24, 32):
            raise SettingsError("the master key must be 16, 24 or 32 bytes")
        self.keys = keys
        self._wrap_key = HKDF(master_key, 32, b"", SHA256, context=WRAP_CONTEXT) if master_key else None

    def seal(self, key_id: UUID, identity: dict[str, Any]) -> str:
        """The identity encrypted under key_id's data key (created on first use), as text
        safe to store in an event. Dates and UUIDs become ISO text / strings in the JSON."""
        data_key = self._data_key(key_id, create=True)
        plain = json.dumps(identity, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=_jsonable).encode()
        plain += b" " * (-len(plain) % PAD)  # JSON ignores trailing spaces
        return TOKEN_PREFIX + base64.urlsafe_b64encode(_encrypt(data_key, plain, key_id.bytes)).rstrip(b"=").decode()

    def open(self, key_id: UUID, token: str) -> dict[str, Any]:
        """The identity sealed in token; IdentityErased if key_id's key was erased."""
        data_key = self._data_key(key_id, create=False)
        if not token.startswith(TOKEN_PREFIX):
            raise IdentityUnreadable("not an identity token of a known version")
        body = token[len(TOKEN_PREFIX):]
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise IdentityUnreadable("the identity token is not valid base64") from None
        plain = _decrypt(data_key, blob, key_id.bytes, "the identity token was altered or sealed for someone else")
        return json.loads(plain)

    def erase(self, key_id: UUID) -> bool:
        """Destroy key_id's data key (idempotent); True if a key existed until now."""
        return self.keys.erase(key_id)

    def is_erased(self, key_id: UUID) -> bool:
        row = self.keys.get(key_id)
        return row is not None and row.data_key is None

    def close(self) -> None:
        self.keys.close()

    def share_pool(self, pool: Any) -> None:
        """Use the process's one PostgreSQL pool for the key table (when it is in PostgreSQL)."""
        if pool is not None and hasattr(self.keys, "share_pool"):
            self.keys.share_pool(pool)

    def _data_key(self, key_id: UUID, *, create: bool) -> bytes:
        row = self.keys.get(key_id)
        if row is None and create:
            fresh = get_random_bytes(DATA_KEY)
            stored = _encrypt(self._wrap_key, fresh, b"identity-key|" + key_id.bytes) if self._wrap_key else fresh
            self.keys.insert_if_absent(key_id, stored, wrapped=self._wrap_key is not None)
            row = self.keys.get(key_id)  # a concurrent first seal may have won: use its key
        if row is None:
            raise IdentityUnreadable(f"no identity key for {key_id} (never sealed, or the key table was lost)")
        if row.data_key is None:
            raise IdentityErased(key_id)
        if not row.wrapped:
            return row.data_key
        if self._wrap_key is None:
            raise IdentityUnreadable("the identity key is wrapped but no master key is configured")
        return _decrypt(self._wrap_key, row.data_key, b"identity-key|" + key_id.bytes,
                        "the identity key cannot be unwrapped (wrong master key or altered row)")


def _encrypt(key: bytes, plain: bytes, bound_to: bytes) -> bytes:
    nonce = get_random_bytes(NONCE)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=TAG)
    cipher.update(bound_to)
    ciphertext, tag = cipher.encrypt_and_digest(plain)
    return nonce + ciphertext + tag


def _decrypt(key: bytes, blob: bytes, bound_to: bytes, failure: str) -> bytes:
    if len(blob) < NONCE + TAG:
        raise IdentityUnreadable(failure)
    cipher = AES.new(key, AES.MODE_GCM, nonce=blob[:NONCE], mac_len=TAG)
    cipher.update(bound_to)
    try:
        return cipher.decrypt_and_verify(blob[NONCE:-TAG], blob[-TAG:])
    except ValueError:
        raise IdentityUnreadable(failure) from None


def _jsonable(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot seal a {type(value).__name__}")


class _closing:
    """sqlite3's `with conn` only ends the transaction; this also closes the connection."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: Any) -> None:
        self.conn.close()


def master_key_of(settings: ServiceSettings) -> bytes | None:
    if not settings.cipher_key:
        return None
    try:
        key = base64.b64decode(settings.cipher_key, validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError("JINGKANG_INTAKE_CIPHER_KEY must be base64") from None
    if len(key) not in (16, 24, 32):
        raise SettingsError("JINGKANG_INTAKE_CIPHER_KEY must decode to 16, 24 or 32 bytes")
    return key


def key_table_for(store_url: str) -> KeyTable:
    """The key table beside the event store that store_url names."""
    url = urlparse(store_url)
    if url.scheme in ("postgresql", "postgres"):
        return PostgresKeys(store_url)
    if url.scheme == "sqlite":
        if not url.path or url.path == "/":
            raise SettingsError("sqlite store URL needs a path: sqlite:///path/to/file.sqlite")
        return SqliteKeys(url.path)
    if url.scheme == "memory":
        return MemoryKeys()
    raise SettingsError(f"unsupported event store URL scheme {url.scheme!r}")


def create_vault(settings: ServiceSettings) -> IdentityVault:
    """intake's vault: keys beside its event store, wrapped under its cipher key. Opens
    nothing until first used."""
    if settings.production and not settings.cipher_key:
        raise SettingsError("JINGKANG_INTAKE_CIPHER_KEY is required in production")
    return IdentityVault(key_table_for(settings.store_url), master_key_of(settings))
