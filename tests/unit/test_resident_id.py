"""Tests for services.intake.resident_id (GB 11643-1999 resident identity numbers)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.resident_id import (
    InvalidResidentId,
    ResidentId,
    check_digit,
    parse_resident_id,
)

TODAY = date(2026, 11, 22)
PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37,
             41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65,
             71, 81, 82]
TEXTBOOK = "11010519491231002X"  # standard GB 11643 example, check character X


@st.composite
def valid_ids(draw) -> tuple[str, date, int]:
    province = draw(st.sampled_from(PROVINCES))
    rest = draw(st.integers(0, 9999))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    sequence = draw(st.integers(0, 999))
    first17 = f"{province:02d}{rest:04d}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_digit(first17), born, sequence


def refusal(text: str) -> str:
    with pytest.raises(InvalidResidentId) as excinfo:
        parse_resident_id(text, today=TODAY)
    return excinfo.value.reason


@given(valid_ids())
def test_valid_ids_are_accepted(case: tuple[str, date, int]) -> None:
    number, born, sequence = case
    rid = parse_resident_id(number, today=TODAY)
    assert rid.number == number
    assert rid.region_code == number[:6]
    assert rid.birth_date == born
    assert rid.sequence == f"{sequence:03d}"
    assert rid.sex == ("male" if sequence % 2 else "female")


@given(valid_ids())
def test_lowercase_x_is_normalised(case: tuple[str, date, int]) -> None:
    number = case[0]
    assert parse_resident_id(number.lower(), today=TODAY).number == number


@settings(max_examples=50)
@given(valid_ids())
def test_every_single_character_change_is_refused(case: tuple[str, date, int]) -> None:
    # Exhaustive over positions and replacements: MOD 11-2 weights are all
    # non-zero mod 11 (a prime), so any single substitution changes the sum.
    number = case[0]
    for i, original in enumerate(number):
        allowed = "0123456789X" if i == 17 else "0123456789"
        for replacement in allowed.replace(original, ""):
            mutated = number[:i] + replacement + number[i + 1:]
            with pytest.raises(InvalidResidentId):
                parse_resident_id(mutated, today=TODAY)


def test_textbook_example() -> None:
    assert check_digit(TEXTBOOK[:17]) == "X"
    rid = parse_resident_id(TEXTBOOK.lower(), today=TODAY)
    assert rid == ResidentId(TEXTBOOK, "110105", date(1949, 12, 31), "002", "female")


def test_repr_does_not_leak_the_number() -> None:
    rid = parse_resident_id(TEXTBOOK, today=TODAY)
    assert TEXTBOOK not in repr(rid) and "110105" not in repr(rid)


@pytest.mark.parametrize("text", ["", "1101051949123100", "11010519491231002X0"])
def test_wrong_length(text: str) -> None:
    assert "18 characters" in refusal(text)


@pytest.mark.parametrize("text", ["1101051949123100AX", "X10105194912310021", "11010519491231002Y",
                                  "1101051949 231002X", "１１０１０５１９４９１２３１００２X"])
def test_letters_and_other_characters(text: str) -> None:
    reason = refusal(text)
    assert "digit" in reason or "18 characters" in reason


def test_bad_province() -> None:
    first17 = "99010519491231002"
    assert "province" in refusal(first17 + check_digit(first17))


def test_future_birth_date() -> None:
    first17 = "11010520261123002"  # the day after TODAY
    assert "future" in refusal(first17 + check_digit(first17))
    born_today = first17[:6] + "20261122002"
    assert parse_resident_id(born_today + check_digit(born_today), today=TODAY).age_on(TODAY) == 0


def test_february_30_and_other_impossible_dates() -> None:
    for ymd in ("20230230", "20230229", "19491301", "19491200"):
        first17 = "110105" + ymd + "002"
        assert "not a real date" in refusal(first17 + check_digit(first17))


def test_before_1900() -> None:
    first17 = "11010518991231002"
    assert "1900" in refusal(first17 + check_digit(first17))


def test_check_digit_mismatch_does_not_tell_the_right_digit() -> None:
    # Telling it would complete any number someone made up (issue 10).
    for wrong in "0123456789":
        message = refusal(TEXTBOOK[:17] + wrong)
        assert message == "check digit does not match: check the number"
        assert "X" not in message


def test_age_on_around_birthday() -> None:
    rid = parse_resident_id(TEXTBOOK, today=TODAY)  # born 1949-12-31
    assert rid.age_on(date(2025, 12, 30)) == 75
    assert rid.age_on(date(2025, 12, 31)) == 76
    assert rid.age_on(date(2026, 1, 1)) == 76


def test_age_on_leap_day_birthday() -> None:
    first17 = "11010520000229001"
    rid = parse_resident_id(first17 + check_digit(first17), today=TODAY)
    assert rid.sex == "male"
    assert rid.age_on(date(2001, 2, 28)) == 0
    assert rid.age_on(date(2001, 3, 1)) == 1
    assert rid.age_on(date(2004, 2, 29)) == 4
