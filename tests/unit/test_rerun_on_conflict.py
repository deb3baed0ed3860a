"""shared.store.rerun_on_conflict: a command refused by optimistic concurrency runs again on
the new version; in a consumer, the Kafka position is stored with the attempt that succeeds."""
from __future__ import annotations

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from shared.consumer import tracking_for
from shared.store import RERUN_ATTEMPTS, ServiceApplication, command_context, rerun_on_conflict


class Tally(Aggregate):
    @event("Started")
    def __init__(self) -> None:
        self.count = 0

    @event("Counted")
    def count_one(self) -> None:
        self.count += 1


class Tallies(ServiceApplication):
    name = "tallies"

    def __init__(self, conflicts: int):
        self.conflicts = conflicts  # how many saves another writer wins first
        super().__init__(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})

    def commit(self, processing):
        if self.conflicts:
            self.conflicts -= 1
            raise IntegrityError("another command saved the tally first")
        return super().commit(processing)

    @rerun_on_conflict
    def start(self) -> Tally:
        tally = Tally()
        self.save(tally)
        return tally


def test_a_command_that_lost_a_race_runs_again_and_stores_its_position_with_that_attempt():
    app = Tallies(conflicts=1)
    position = tracking_for("jingkang.intake.v1", 3, 41)
    with command_context(tracking=position):
        tally = app.start()
    assert app.repository.get(tally.id).count == 0
    # The position went with the save that succeeded (not lost with the refused one).
    assert app.has_processed(position)


def test_a_command_that_lost_all_but_its_last_race_succeeds():
    app = Tallies(conflicts=RERUN_ATTEMPTS - 1)
    tally = app.start()
    assert app.repository.get(tally.id).count == 0


def test_after_every_attempt_lost_the_conflict_is_answered():
    app = Tallies(conflicts=RERUN_ATTEMPTS)
    try:
        app.start()
    except IntegrityError:
        pass
    else:
        raise AssertionError(f"expected the conflict to be answered after {RERUN_ATTEMPTS} attempts")
    assert list(app.notifications()) == []
