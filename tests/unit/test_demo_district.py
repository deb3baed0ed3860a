"""The demo district's cast and the clock it moves (console/demo.py), without I/O but files."""
from __future__ import annotations

from datetime import date, timedelta

from console.demo import MARK, STATIONS, Clock, cast
from services.intake.resident_id import parse_resident_id


def test_every_stage_of_the_journey_is_in_the_cast():
    people = cast()
    stages = {p.stage for p in people}
    assert stages == {"applied", "consented", "registered", "assessed", "planned"}
    assert 25 <= len(people) <= 40
    assert any(not p.willing for p in people), "a dynamic-care client (follow-up contacts)"
    assert any(p.events.get("completed") for p in people), "a relapse that went to hospital and came back"
    assert any("relapse" in p.events and "accepted" not in p.events for p in people), "an open green channel"
    assert {p.exit_reason for p in people if "exit" in p.events} >= {"moved_away", "recovered"}


def test_the_small_station_leaves_some_waiting_more_than_90_days():
    small = next(s for s in STATIONS if s.key == "S3")
    street = [p for p in cast() if p.station == "S3" and p.stage == "planned"]
    waiting = sorted(street, key=lambda p: p.arrives)[small.capacity:]
    assert [p.arrives < -90 for p in waiting].count(True) >= 2
    assert [p.arrives > -90 for p in waiting].count(True) >= 1


def test_applicants_are_obviously_fictional_and_valid():
    people = cast()
    bodies = [p.application() for p in people]
    assert all(b["applicant"]["name"].startswith(MARK) for b in bodies)
    assert len({b["applicant"]["id_number"] for b in bodies}) == len(bodies)
    assert len({b["applicant"]["name"] for b in bodies}) == len(bodies)
    for p, b in zip(people, bodies):
        parsed = parse_resident_id(b["applicant"]["id_number"], today=date(2026, 12, 5))  # raises if invalid
        assert parsed.birth_date == p.born
        assert b["street_code"] in next(s for s in STATIONS if s.key == p.station).streets


def test_the_clock_moves_back_and_is_put_back(tmp_path):
    path = tmp_path / "clock"
    path.write_text("172800")  # a test had moved the system two days ahead
    clock = Clock(path)
    today = clock.today
    clock.at(-150)
    assert float(path.read_text()) == 172800 - 150 * 86400
    assert clock.date(-150) == today - timedelta(days=150)
    clock.restore()
    assert path.read_text() == "172800"


def test_a_clock_without_a_file_leaves_none_behind(tmp_path):
    path = tmp_path / "clock"
    clock = Clock(path)
    clock.at(-10)
    assert path.exists()
    clock.restore()
    assert not path.exists()
