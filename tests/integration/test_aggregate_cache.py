"""The per-process aggregate cache (JINGKANG_AGGREGATE_CACHE_SIZE) on real PostgreSQL: two
processes of one service (two API processes, or an API and its worker) write the same
aggregate; each reads the other's writes at once, and a stale write is still refused."""
from __future__ import annotations

import dataclasses

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from shared.settings import load_settings, store_env
from shared.store import ServiceApplication

pytestmark = pytest.mark.integration


class Counter(Aggregate):
    @event("Started")
    def __init__(self) -> None:
        self.count = 0

    @event("Counted")
    def add(self) -> None:
        self.count += 1


class Counters(ServiceApplication):
    name = "counters"


def process(pg_store_url: str, kind: str) -> Counters:
    settings = dataclasses.replace(load_settings("counters", {"JINGKANG_COUNTERS_STORE": pg_store_url}), process=kind)
    return Counters(env=store_env(settings))


def test_a_cached_aggregate_is_brought_up_to_date_and_a_stale_write_is_refused(pg_store_url):
    first, second = process(pg_store_url, "api"), process(pg_store_url, "worker")  # the API makes the tables
    assert first.repository.cache is not None  # the setting is on by default
    counter = Counter()
    first.save(counter)
    assert second.repository.get(counter.id).count == 0  # now cached in both

    mine = first.repository.get(counter.id)
    theirs = second.repository.get(counter.id)
    theirs.add()
    second.save(theirs)
    # The first process reads the second's write at once: its cached copy is fast-forwarded.
    assert first.repository.get(counter.id).count == 1
    # A command that read before that write cannot save over it.
    mine.add()
    with pytest.raises(IntegrityError):
        first.save(mine)
    # ...and the refused command left the cache as it was: the next read is the stored state.
    assert first.repository.get(counter.id).count == 1
    assert counter.id in second.repository and Counter().id not in second.repository
    first.close(), second.close()


def test_within_one_request_an_aggregate_is_asked_for_once_and_a_lost_race_runs_again(pg_store_url):
    from shared.store import command_context, rerun_on_conflict

    first, second = process(pg_store_url, "api"), process(pg_store_url, "worker")
    counter = Counter()
    first.save(counter)
    asked: list = []
    select_events = first.recorder.select_events
    first.recorder.select_events = lambda *a, **k: asked.append(a) or select_events(*a, **k)  # counts the real reads

    @rerun_on_conflict
    def count_twice_checked() -> int:
        """A route's check, then the command (get -> call -> save), as the APIs do."""
        assert first.repository.get(counter.id).count >= 0
        if not asked[1:]:  # between the two reads of the first attempt, another process writes
            theirs = second.repository.get(counter.id)
            theirs.add()
            second.save(theirs)
        mine = first.repository.get(counter.id)
        mine.add()
        first.save(mine)
        return mine.count

    with command_context(actor="worker-1"):
        assert count_twice_checked() == 2  # the first attempt lost the race; the second read afresh
    # attempt 1: one read for both gets (the second from this request's copy); attempt 2: one again
    assert len(asked) == 2
    assert first.repository.get(counter.id).count == 2
    first.close(), second.close()
