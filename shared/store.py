"""Event-store wiring shared by every service.

`ServiceApplication` is an `eventsourcing` Application whose every command is
get -> call -> save. Its save() does two things the library leaves to us:

* stamps each new event with its metadata (actor, role, correlation, causation,
  W3C traceparent) so the relay can put them on the wire and an auditor can see who
  did what; the metadata rides in the stored event's state under `_meta`;
* when the command runs inside a consumer (see shared.consumer), records the Kafka
  position being processed as a tracking record *in the same transaction* as the
  new events, so a redelivered message has no second effect.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import json
import random
import select
import time
from datetime import date, datetime
from decimal import Decimal
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent, Repository
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    IntegrityError, JSONTranscoder, Mapper, Notification, ProcessRecorder, StoredEvent, Tracking, Transcoding,
)
from eventsourcing.utils import get_topic, resolve_topic
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.clock import Clock, SystemClock
from shared.errors import EventTooLarge, NotFound
from shared.metrics import EVENTS_APPENDED

# Aggregates read from the per-process cache are deep-copied for each command (the library's
# guard against a failed command corrupting the cache). Ids, dates and amounts are immutable:
# copied as themselves, as ints and strings are, a district's placement of 1,500 waiting
# clients copies in 2.4 ms instead of 15 (bench/README.md, "Where the time goes").
for _immutable in (UUID, date, datetime, Decimal):
    copy._deepcopy_dispatch[_immutable] = copy._deepcopy_atomic  # type: ignore[attr-defined]

META = "_meta"
RERUN_ATTEMPTS = 8  # rerun_on_conflict's attempts before the conflict is answered (409)
# What a public event adds to the stored event it comes from (CloudEvent attributes, trace
# and chain extensions: under 1 KiB measured); the store keeps this much of the budget free.
ENVELOPE_RESERVE_BYTES = 8 * 1024


@dataclass
class CommandContext:
    """Who is acting, and why: carried into every event the command records."""

    actor: str = "system"
    role: str = "system"
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    tracking: Tracking | None = None
    tracking_used: bool = field(default=False, repr=False)
    # A request with an Idempotency-Key holds its saves here (shared.idempotency: collect_events()
    # and the aggregates saved, by id) and commits them with the record of its answer, in one
    # transaction; the repository reads held aggregates from it meanwhile.
    held: Any = field(default=None, repr=False)
    # Aggregates this request or message has already brought up to date from the store: a
    # second read (a route's district check, then the command) takes the cached copy without
    # asking again; saving one takes it out (the cache holds the version before the save).
    # A write from a read this old is still checked by the store's optimistic concurrency.
    read: set = field(default_factory=set, repr=False)


_current: ContextVar[CommandContext | None] = ContextVar("jingkang_command_context", default=None)


@contextlib.contextmanager
def command_context(**kwargs: Any) -> Iterator[CommandContext]:
    ctx = CommandContext(**kwargs)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def current_context() -> CommandContext | None:
    """The command context of the request or message being handled, if any."""
    return _current.get()


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def event_meta(domain_event: Any) -> Mapping[str, Any]:
    return vars(domain_event).get(META) or {}


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


_plain_json = json.JSONDecoder().decode  # no object hook: transcodings are applied per field by replay()


def _as_id(oid: Any) -> Any:
    """An originator id read as text, as the recorder would return it."""
    if isinstance(oid, str):
        try:
            return UUID(oid)
        except ValueError:
            return oid
    return oid


@contextlib.contextmanager
def pooled_transaction(pool: Any) -> Iterator[Any]:
    """One transaction on a connection borrowed from a psycopg pool, with a tuple-row cursor;
    commits when the block ends normally, rolls back on an exception."""
    from psycopg.rows import tuple_row

    with pool.connection() as conn, conn.transaction(), conn.cursor(row_factory=tuple_row) as cursor:
        yield cursor


def discard_dead(conn: Any) -> None:
    """The pool's check of a connection it is about to hand out, without a round trip (the
    library's pre-ping sends an empty query each time: 14-28% of every process's samples,
    bench/README.md). A healthy idle connection has nothing to read; one whose server went
    away has its termination notice or end-of-file waiting on the socket. Only then is the
    connection asked for real (which raises, so the pool discards it and tries another);
    anything else readable (a notice) passes that check. A connection dead without a word
    (the host gone) fails at its first statement; the recorder retries on another."""
    from psycopg.pq import ConnStatus

    if conn.closed or conn.broken or conn.pgconn.status != ConnStatus.OK:
        raise ConnectionError("connection closed")
    poll = select.poll()
    poll.register(conn.pgconn.socket, select.POLLIN)
    if poll.poll(0):
        from psycopg_pool import ConnectionPool

        ConnectionPool.check_connection(conn)


def install_pool_check(pool: Any) -> None:
    """Make `pool` check connections with discard_dead. psycopg_pool takes `check` only when
    the pool is made, and eventsourcing makes it (offering only the round-trip pre-ping)."""
    pool._check = discard_dead


class ServiceRepository(Repository):
    """The library's repository, with an existence test that reads one stored event instead
    of rebuilding the aggregate: `id in repository` is followed by a get() nearly everywhere
    (the day's agenda, the person index, a district's placement), which loaded it twice, and
    those are the aggregates that grow (bench/README.md, "Where the time goes")."""

    def __contains__(self, item: Any) -> bool:
        # A cached aggregate exists (stored events are never deleted): no query at all.
        if _held(item) is not None or self._cached(item):
            return True
        return bool(self.event_store.recorder.select_events(item, limit=1))

    def _cached(self, item: Any) -> bool:
        if not self.cache:
            return False
        try:
            self.cache.get(item)
        except KeyError:
            return False
        return True

    def get(self, aggregate_id: Any, *, version: int | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Also what the request has saved but not yet committed (its events held for the
        Idempotency-Key's record, or a consumer's batch): a route that saves and then reads back
        what it made finds it. An aggregate this request or message already brought up to date
        comes from the cache without asking the store again (CommandContext.read)."""
        if version is not None:
            return super().get(aggregate_id, version=version, **kwargs)
        held = _held(aggregate_id)
        if held is not None:
            return held
        ctx = _current.get()
        if ctx is not None and aggregate_id in ctx.read and self.cache:
            try:
                return copy.deepcopy(self.cache.get(aggregate_id))
            except KeyError:  # evicted meanwhile
                pass
        aggregate = super().get(aggregate_id, **kwargs)
        if ctx is not None and self.cache:
            ctx.read.add(aggregate_id)
        _remember(aggregate)
        return aggregate


def _held(aggregate_id: Any) -> Any:
    """The aggregate of that id the current request saved and holds, if any."""
    ctx = _current.get()
    return ctx.held.aggregates.get(aggregate_id) if ctx is not None and ctx.held is not None else None


def _remember(aggregate: Any) -> None:
    """A consumer's batch also keeps what its messages read, for the next ones (shared.consumer)."""
    ctx = _current.get()
    remember = getattr(ctx.held, "remember", None) if ctx is not None else None
    if remember is not None:
        remember(aggregate)


def rerun_on_conflict(command):
    """For a command that also writes an aggregate many commands share (the day's agenda):
    when another command saved it first (the store's optimistic concurrency refused this
    one; nothing was saved), the command runs again on the new version instead of answering
    409. A conflict on the command's own subject then meets the domain's rule (already
    registered, a duplicate), which answers with its meaning. Each rerun waits a random
    moment first (growing, at most 50 ms), so commands that collided do not collide again
    in step: with three attempts and no wait, twelve registrations at once on one day's
    agendas could still lose three times in a row (a flaky CI run)."""
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(RERUN_ATTEMPTS):
            try:
                return command(*args, **kwargs)
            except IntegrityError:
                if attempt == RERUN_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0, min(0.05, 0.002 * 2 ** attempt)))
    return run


def sets_state(command):
    """For a command that sets a state (consent, accept, complete, approve): repeated, it
    records nothing. When an identical request won a race (the store's optimistic
    concurrency refused this one), the command runs again, finds the state set and answers
    with it instead of a conflict."""
    return rerun_on_conflict(command)


class BudgetedMapper(Mapper):
    """The library's mapper, refusing an event whose JSON state is over the size budget, so
    that no command can store an event its relay could not publish or consumers would refuse
    (README "Size budget"). Snapshots are internal and never published: not limited."""

    max_state_bytes = 0  # set per application (0: no limit)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        # The library's to_stored_event with the size check between encoding and compression
        # (one encoding, as before).
        event_state = dict(vars(domain_event))
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        stored_state = self.transcoder.encode(event_state)
        if self.max_state_bytes and len(stored_state) > self.max_state_bytes and not isinstance(domain_event, Snapshot):
            self._refuse(event_state, len(stored_state))
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(originator_id=originator_id, originator_version=originator_version,
                           topic=get_topic(type(domain_event)), state=stored_state)

    def _refuse(self, event_state: dict[str, Any], size: int) -> None:
        sizes = {k: len(self.transcoder.encode({k: v})) for k, v in event_state.items() if k != META}
        field = max(sizes, key=sizes.__getitem__) if sizes else "body"
        raise EventTooLarge(field, f"too large: the event would be {size} bytes, over the budget of "
                                   f"{self.max_state_bytes} bytes; send fewer or shorter values")


class ServiceApplication(Application):
    """Base of each service's Application (Intake, Assessments, Referrals, ...)."""

    def __init__(self, env: Mapping[str, str] | None = None, clock: Clock | None = None):
        self.clock: Clock = clock or SystemClock()
        super().__init__(env=dict(env or {}))

    def construct_repository(self) -> Repository:
        repository = super().construct_repository()
        repository.__class__ = ServiceRepository  # same state and settings; reads differ (see the class)
        return repository

    def construct_recorder(self) -> ProcessRecorder:
        # A process recorder stores tracking records with events, atomically.
        recorder = self.factory.process_recorder()
        pool = getattr(getattr(recorder, "datastore", None), "pool", None)
        if pool is not None:  # PostgreSQL: dead connections discarded without a round trip each
            install_pool_check(pool)
        return recorder

    def construct_mapper(self) -> Mapper:
        mapper = self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=BudgetedMapper)
        budget = int(self.env.get("MAX_EVENT_BYTES") or 0)
        mapper.max_state_bytes = max(budget - ENVELOPE_RESERVE_BYTES, 0) if budget else 0
        return mapper

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def save(self, *objs: Any, **kwargs: Any):  # type: ignore[override]
        ctx = _current.get()
        tracking = None
        if ctx is not None and ctx.tracking is not None and not ctx.tracking_used:
            tracking = ctx.tracking
            if getattr(getattr(self.recorder, "datastore", None), "enable_db_functions", False):
                # That insert path ignores tracking records: never lose one silently.
                raise RuntimeError("consumers must not use POSTGRES_ENABLE_DB_FUNCTIONS (tracking would be dropped)")
        elif ctx is not None and ctx.held is not None:
            ctx.held.collect_events(*objs, **kwargs)
            return []
        processing = ProcessingEvent(tracking=tracking)
        processing.collect_events(*objs, **kwargs)
        recordings = self.commit(processing)
        if tracking is not None:
            # Only once it is stored: a command run again after a conflict saves it then.
            ctx.tracking_used = True  # type: ignore[union-attr]
        return recordings

    def commit(self, processing: ProcessingEvent) -> Any:
        """Record what a command collected, in one transaction: stamped with the command's
        metadata, snapshots taken, followers notified."""
        meta = self._meta(_current.get())
        for domain_event in processing.events:
            # A consumer's batch (shared.consumer) stamps each message's events as they are
            # collected, with that message's context: those keep theirs.
            vars(domain_event).setdefault(META, meta)
        ctx = _current.get()
        if ctx is not None:
            # Saved or refused (a conflict: the command may run again), they are read afresh next:
            # the cache holds their version from before this save.
            ctx.read.difference_update(processing.aggregates)
        recordings = self._record(processing)
        EVENTS_APPENDED.labels(self.name).inc(len(processing.events))
        self._take_snapshots(processing)
        self._notify(recordings)
        return recordings

    def get_aggregate(self, aggregate_id: Any, cls: type, what: str, shown_id: Any = None) -> Any:
        """The aggregate of that type, or NotFound (also for another aggregate's id in the same store)."""
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(what, shown_id or aggregate_id) from None
        if not isinstance(aggregate, cls):
            raise NotFound(what, shown_id or aggregate_id)
        return aggregate

    def record_position(self, tracking: Tracking) -> None:
        """Mark a consumed message as done when it caused no events."""
        self._record(ProcessingEvent(tracking=tracking))

    def has_processed(self, tracking: Tracking) -> bool:
        return self.recorder.has_tracking_id(tracking.application_name, tracking.notification_id)

    def notifications(self, after: int = 0, page: int = 1000) -> Iterator[Any]:
        """The whole log after a position, in order (replays, audits), as the library's
        notifications. A server-side cursor and bigger pages were measured and were no faster
        (bench/README.md); a projection that reads a few fields is faster through replay()."""
        while True:
            batch = self.recorder.select_notifications(start=after, limit=page, inclusive_of_start=False)
            if not batch:
                return
            yield from batch
            after = batch[-1].id

    def replay(self, fields: Sequence[str], after: int = 0, page: int = 10_000,
               topics: Sequence[str] = ()) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """The log after a position as (notification id, topic, {field: value}), decoding only
        the named fields of each event's state: for projection rebuilds, which read a few
        fields of many events. The values are those of `mapper.to_domain_event` (same
        transcodings, applied bottom-up as the transcoder's object hook does), but no domain
        object is built, the rest of the state stays plain JSON, and rows are read as tuples
        with the originator id left as text. Events of a class with upcasts (class_version > 1)
        go through the full mapper, so upcasting is exactly the library's. A field an event
        does not have is left out of its dict. Measured in bench/README.md (replay)."""
        mapper = self.mapper
        hook = mapper.transcoder._decode_obj  # type: ignore[attr-defined]  # the transcoder's own object hook
        full: dict[str, bool] = {}  # topic -> needs the full mapper (upcasts)

        def transcode(value: Any) -> Any:  # what json.loads(object_hook=hook) does, for one value
            kind = type(value)
            if kind is dict:
                if any(type(v) is dict or type(v) is list for v in value.values()):
                    value = {k: transcode(v) for k, v in value.items()}
                return hook(value)
            if kind is list:
                return [transcode(v) for v in value]
            return value

        for page in self._state_pages(after, page, topics):
            for topic in {row[1] for row in page} - full.keys():
                full[topic] = getattr(resolve_topic(topic), "class_version", 1) > 1
            origins = self._origins([row[0] for row in page if full[row[1]] and row[3] is None])
            for nid, topic, state, origin in page:
                if full[topic]:
                    oid, version = origin or origins[nid]
                    domain_event = mapper.to_domain_event(Notification(
                        id=nid, originator_id=_as_id(oid), originator_version=version, topic=topic, state=state))
                    event_state = vars(domain_event)
                    yield nid, topic, {f: event_state[f] for f in fields if f in event_state}
                    continue
                if mapper.cipher:
                    state = mapper.cipher.decrypt(state)
                if mapper.compressor:
                    state = mapper.compressor.decompress(state)
                raw = _plain_json(state.decode("utf8"))
                yield nid, topic, {f: transcode(raw[f]) for f in fields if f in raw}

    def _store_kind(self) -> str:
        from eventsourcing.postgres import PostgresRecorder
        from eventsourcing.sqlite import SQLiteRecorder

        recorder = self.recorder
        if not getattr(recorder, "events_table_name", None):
            return ""
        # by class, not by module: PostgreSQL stores use a subclass of ours (shared.pgstore)
        return "postgres" if isinstance(recorder, PostgresRecorder) else "sqlite" if isinstance(recorder, SQLiteRecorder) else ""

    def _state_pages(self, after: int, page: int, topics: Sequence[str]) -> Iterator[list[tuple[int, str, bytes, Any]]]:
        """Pages of (notification id, topic, state, (originator id, version) or None) after a
        position: lean SQL on PostgreSQL (binary rows, three columns) and SQLite, the
        recorder's own select elsewhere."""
        recorder = self.recorder
        datastore = getattr(recorder, "datastore", None)
        table = getattr(recorder, "events_table_name", None)
        kind = self._store_kind()
        while True:
            if kind == "postgres":
                from psycopg import sql
                from psycopg.rows import tuple_row
                statement = sql.SQL("SELECT notification_id, topic, state, NULL FROM {}.{} WHERE notification_id > %s").format(
                    sql.Identifier(datastore.schema), sql.Identifier(table))
                params: list[Any] = [after]
                if topics:
                    statement += sql.SQL(" AND topic = ANY(%s)")
                    params.append(list(topics))
                statement += sql.SQL(" ORDER BY notification_id LIMIT %s")
                params.append(page)
                # Binary rows: bytea comes as bytes, not hex text to decode (half the read time).
                with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row, binary=True) as curs:
                    curs.execute(statement, params, prepare=True)
                    rows = curs.fetchall()
            elif kind == "sqlite":
                statement = (f"SELECT rowid, topic, state, NULL FROM {table} WHERE rowid > ?"
                             + (f" AND topic IN ({','.join('?' * len(topics))})" if topics else "") + " ORDER BY rowid LIMIT ?")
                with datastore.transaction(commit=False) as curs:
                    curs.execute(statement, [after, *topics, page])
                    rows = [tuple(row) for row in curs.fetchall()]
            else:
                rows = [(n.id, n.topic, n.state, (n.originator_id, n.originator_version))
                        for n in recorder.select_notifications(start=after, limit=page, topics=topics,
                                                               inclusive_of_start=False)]
            if not rows:
                return
            yield rows
            after = rows[-1][0]

    def notifications_containing(self, needle: bytes, page: int = 10_000) -> list[Notification]:
        """The stored events whose state holds these bytes (once decrypted and decompressed), in
        log order, not decoded: the cheap first pass of a search for the events that name an id
        (every id an event holds is in its JSON as the id's hex). A superset: the caller decodes
        these few and checks. Every event's state is still read, but only a match is decoded."""
        mapper, found = self.mapper, []
        for rows in self._state_pages(0, page, ()):
            hits = []
            for row in rows:
                state = row[2]
                if mapper.cipher:
                    state = mapper.cipher.decrypt(state)
                if mapper.compressor:
                    state = mapper.compressor.decompress(state)
                if needle in state:
                    hits.append(row)
            origins = self._origins([row[0] for row in hits if row[3] is None])
            for nid, topic, state, origin in hits:
                oid, version = origin or origins[nid]
                found.append(Notification(id=nid, originator_id=_as_id(oid), originator_version=version,
                                          topic=topic, state=state))
        return found

    def notifications_of(self, aggregate_ids: Sequence[Any]) -> list[Notification]:
        """Every stored event of these aggregates with its log position, in log order (by the
        store's primary key, not by reading the whole log)."""
        ids = list(aggregate_ids)
        if not ids:
            return []
        kind = self._store_kind()
        if not kind:
            wanted = set(ids)
            return [n for n in self.notifications() if n.originator_id in wanted]
        recorder = self.recorder
        datastore = recorder.datastore  # type: ignore[attr-defined]
        table = recorder.events_table_name  # type: ignore[attr-defined]
        columns = "originator_id, originator_version, topic, state"
        if kind == "postgres":
            from psycopg import sql
            from psycopg.rows import tuple_row
            statement = sql.SQL("SELECT notification_id, " + columns + " FROM {}.{} WHERE originator_id = ANY(%s) "
                                "ORDER BY notification_id").format(sql.Identifier(datastore.schema), sql.Identifier(table))
            with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row, binary=True) as curs:
                curs.execute(statement, [ids])
                rows = curs.fetchall()
        else:
            rows = []
            with datastore.transaction(commit=False) as curs:
                for start in range(0, len(ids), 500):  # SQLite's limit on bound parameters
                    chunk = [i.hex if isinstance(i, UUID) else i for i in ids[start:start + 500]]
                    curs.execute(f"SELECT rowid, {columns} FROM {table} "
                                 f"WHERE originator_id IN ({','.join('?' * len(chunk))})", chunk)
                    rows += [tuple(row) for row in curs.fetchall()]
            rows.sort(key=lambda row: row[0])
        return [Notification(id=nid, originator_id=_as_id(oid), originator_version=version, topic=topic, state=bytes(state))
                for nid, oid, version, topic, state in rows]

    def _origins(self, ids: list[int]) -> dict[int, tuple[Any, int]]:
        """Originator id and version of those notifications (for the events replay() hands to the mapper)."""
        if not ids:
            return {}
        recorder = self.recorder
        datastore = recorder.datastore  # type: ignore[attr-defined]
        table = recorder.events_table_name  # type: ignore[attr-defined]
        if self._store_kind() == "postgres":
            from psycopg import sql
            from psycopg.rows import tuple_row
            statement = sql.SQL("SELECT notification_id, originator_id, originator_version FROM {}.{} "
                                "WHERE notification_id = ANY(%s)").format(sql.Identifier(datastore.schema), sql.Identifier(table))
            with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
                curs.execute(statement, [ids])
                return {nid: (oid, version) for nid, oid, version in curs.fetchall()}
        out: dict[int, tuple[Any, int]] = {}
        with datastore.transaction(commit=False) as curs:
            for start in range(0, len(ids), 500):  # SQLite's limit on bound parameters
                chunk = ids[start:start + 500]
                curs.execute(f"SELECT rowid, originator_id, originator_version FROM {table} "
                             f"WHERE rowid IN ({','.join('?' * len(chunk))})", chunk)
                out.update({row[0]: (row[1], row[2]) for row in curs.fetchall()})
        return out

    def store_pool(self) -> Any:
        """The process's one PostgreSQL connection pool (the recorder's), for the other parts of
        the process that use the same database (identity keys, seals): None on other stores.
        Its connections are in autocommit and hand out dict rows; borrowers open their own
        transaction and cursor (shared.store.pooled_transaction)."""
        if self._store_kind() != "postgres":
            return None
        return self.recorder.datastore.pool  # type: ignore[attr-defined]

    def ping(self) -> None:
        """Raise if the event store cannot be reached (used by /ready)."""
        self.recorder.max_notification_id()

    @staticmethod
    def _meta(ctx: CommandContext | None) -> dict[str, Any]:
        ctx = ctx or CommandContext()
        meta = {"actor": ctx.actor, "role": ctx.role}
        traceparent = current_traceparent() or ctx.traceparent
        for key, value in (
            ("correlationid", ctx.correlation_id),
            ("causationid", ctx.causation_id),
            ("traceparent", traceparent),
        ):
            if value:
                meta[key] = value
        return meta
