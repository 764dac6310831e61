"""Dates as the product counts them."""

from __future__ import annotations

from datetime import UTC, date, datetime


def today() -> date:
    """Today's date in UTC, the one calendar every subgraph agrees on."""
    return datetime.now(UTC).date()


def age_on(birthdate: date, on: date) -> int:
    """Completed years between `birthdate` and `on` (a 29 February birthday counts on 1 March)."""
    had_birthday = (on.month, on.day) >= (birthdate.month, birthdate.day)
    return on.year - birthdate.year - (0 if had_birthday else 1)
