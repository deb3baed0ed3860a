"""Validation of the 18-digit PRC resident identity number (GB 11643-1999).

Registration requires a real-name check: before a resident is enrolled we
confirm that the identity number they give is well formed (province code,
real birth date, ISO 7064 MOD 11-2 check digit). This module is pure: it does
no I/O, and the number is never printed or logged, because it is a personal
identifier. Error reasons and ``repr`` never echo the number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_PROVINCES = frozenset(
    [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37,
     41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65,
     71, 81, 82]
)
_EARLIEST_BIRTH = date(1900, 1, 1)
_DIGITS = frozenset("0123456789")


class InvalidResidentId(ValueError):
    """The text is not a valid resident identity number; see ``.reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid resident id: {reason}")
        self.reason = reason


@dataclass(frozen=True, repr=False)
class ResidentId:
    number: str
    region_code: str
    birth_date: date
    sequence: str
    sex: Literal["male", "female"]

    def __repr__(self) -> str:  # never expose the identifier in logs/tracebacks
        return "ResidentId(<redacted>)"

    def age_on(self, day: date) -> int:
        """Completed years of age on ``day`` (a Feb 29 birthday turns over on Mar 1)."""
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday


def check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not set(first17) <= _DIGITS:
        raise InvalidResidentId("check digit needs exactly 17 digits")
    return _CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def parse_resident_id(text: str, *, today: date) -> ResidentId:
    """Validate ``text`` and return its parts, or raise :class:`InvalidResidentId`."""
    number = text.upper()
    if len(number) != 18:
        raise InvalidResidentId("must be 18 characters")
    if not set(number[:17]) <= _DIGITS or number[17] not in _DIGITS | {"X"}:
        raise InvalidResidentId("must be 17 digits followed by a digit or X")
    if int(number[:2]) not in _PROVINCES:
        raise InvalidResidentId("region code must start with a valid province code")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidResidentId("birth date is not a real date") from None
    if birth > today:
        raise InvalidResidentId("birth date is in the future")
    if birth < _EARLIEST_BIRTH:
        raise InvalidResidentId("birth date is before 1900")
    expected = check_digit(number[:17])
    if number[17] != expected:
        # Never say which digit would do: that would complete any number an attacker made up.
        raise InvalidResidentId("check digit does not match: check the number")
    return ResidentId(
        number=number,
        region_code=number[:6],
        birth_date=birth,
        sequence=number[14:17],
        sex="male" if int(number[16]) % 2 else "female",
    )
