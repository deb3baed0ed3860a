"""The hash chain itself: deterministic, every kind of tampering found, and a relay that
re-seals a batch after a crash computes the same seals."""
from __future__ import annotations

from collections import namedtuple
from uuid import uuid4

from shared.chain import MemorySeals, Sealer, verify

Record = namedtuple("Record", "id originator_id originator_version topic state")


def log(n: int, start: int = 1) -> list[Record]:
    return [Record(i, uuid4(), 1, "svc.domain:Thing.Happened", f"state-{i}".encode()) for i in range(start, start + n)]


def sealed(records) -> MemorySeals:
    seals = MemorySeals()
    sealer = Sealer(seals)
    for r in records:
        sealer.seal(r)
    sealer.commit()
    return seals


def test_an_untouched_log_verifies_and_unsealed_tail_is_not_judged():
    records = log(10)
    seals = sealed(records[:8])
    assert verify(records, seals.all()) == (8, None)


def test_each_kind_of_tampering_is_named_at_the_first_bad_record():
    records = log(10)
    seals = sealed(records)
    altered = records[:4] + [records[4]._replace(state=b"changed")] + records[5:]
    assert str(verify(altered, seals.all())[1]).startswith("record 5: altered")
    deleted = records[:6] + records[7:]
    assert str(verify(deleted, seals.all())[1]).startswith("record 7: deleted")
    truncated = records[:9]
    assert str(verify(truncated, seals.all())[1]).startswith("record 10: deleted")
    swapped = records[:2] + [records[3]._replace(id=3), records[2]._replace(id=4)] + records[4:]
    assert str(verify(swapped, seals.all())[1]).startswith("record 3: altered or reordered")
    gappy = [r for r in log(6) if r.id != 3]
    gappy_seals = sealed(gappy)
    inserted = gappy[:2] + [Record(3, uuid4(), 1, "x", b"forged")] + gappy[2:]
    assert str(verify(inserted, gappy_seals.all())[1]).startswith("record 3: inserted")


def test_a_batch_sealed_again_after_a_crash_gives_the_same_seals():
    records = log(6)
    seals = MemorySeals()
    first = Sealer(seals)
    hashes = [first.seal(r) for r in records[:4]]
    first.commit()  # ...and the relay dies before recording its Kafka position
    again = Sealer(seals)
    assert [again.seal(r) for r in records[:4]] == hashes
    for r in records[4:]:
        again.seal(r)
    again.commit()
    assert verify(records, seals.all()) == (6, None)


def test_a_failed_batch_is_forgotten():
    records = log(3)
    seals = MemorySeals()
    sealer = Sealer(seals)
    sealer.seal(records[0])
    sealer.reset()  # Kafka refused the batch: nothing of it was kept
    assert list(seals.all()) == []
    for r in records:
        sealer.seal(r)
    sealer.commit()
    assert verify(records, seals.all()) == (3, None)
