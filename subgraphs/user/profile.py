"""Profile rules: what a valid profile is, and a member's age. Pure domain logic."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from kindred.calendar import age_on
from kindred.errors import BadUserInput

MIN_AGE = 18
MAX_AGE = 120
MAX_DISPLAY_NAME = 50
MAX_BIO = 500
MAX_INTERESTS = 20
MAX_INTEREST_LENGTH = 40
MAX_LANGUAGES = 10
MAX_DISTANCE_KM = 1000
MIN_PASSWORD = 8
MAX_PASSWORD = 128
MAX_EMAIL = 254
MAX_DEVICE_TOKEN = 512
GENDERS = frozenset({"WOMAN", "MAN", "NON_BINARY", "OTHER"})

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")


def _invalid(field: str, message: str) -> BadUserInput:
    return BadUserInput(message, field=field)


def email(value: str) -> str:
    normalized = value.strip().lower()
    if len(normalized) > MAX_EMAIL or not _EMAIL.match(normalized):
        raise _invalid("email", "Enter a valid email address.")
    return normalized


def password(value: str) -> str:
    if not MIN_PASSWORD <= len(value) <= MAX_PASSWORD:
        raise _invalid(
            "password", f"The password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters."
        )
    return value


def display_name(value: str) -> str:
    normalized = unicodedata.normalize("NFC", value).strip()
    if not 1 <= len(normalized) <= MAX_DISPLAY_NAME:
        raise _invalid(
            "displayName", f"The display name must have 1 to {MAX_DISPLAY_NAME} characters."
        )
    return normalized


def birthdate(value: date, today: date) -> date:
    age = age_on(value, today)
    if age < MIN_AGE:
        raise _invalid("birthdate", f"Members must be at least {MIN_AGE} years old.")
    if age > MAX_AGE:
        raise _invalid("birthdate", "Enter a real birthdate.")
    return value


def gender(value: str) -> str:
    if value not in GENDERS:
        raise _invalid("gender", f"Gender must be one of {sorted(GENDERS)}.")
    return value


def bio(value: str | None) -> str | None:
    if value is None:
        return None
    normalized = value.strip()
    if len(normalized) > MAX_BIO:
        raise _invalid("bio", f"The bio must have at most {MAX_BIO} characters.")
    return normalized or None


def _distinct(values: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        if value.casefold() not in seen:
            seen.add(value.casefold())
            out.append(value)
    return out


def interests(values: Sequence[str]) -> list[str]:
    cleaned = _distinct([value.strip() for value in values if value.strip()])
    if len(cleaned) > MAX_INTERESTS:
        raise _invalid("interests", f"At most {MAX_INTERESTS} interests.")
    if any(len(value) > MAX_INTEREST_LENGTH for value in cleaned):
        raise _invalid("interests", f"Each interest has at most {MAX_INTEREST_LENGTH} characters.")
    return cleaned


def languages(values: Sequence[str]) -> list[str]:
    cleaned = _distinct([value.strip().lower() for value in values])
    if len(cleaned) > MAX_LANGUAGES:
        raise _invalid("languages", f"At most {MAX_LANGUAGES} languages.")
    for value in cleaned:
        if not _LANGUAGE.match(value):
            raise _invalid(
                "languages", f"'{value[:20]}' is not a language code such as 'en' or 'pt-br'."
            )
    return cleaned


def location(latitude: float, longitude: float) -> tuple[float, float]:
    if not -90 <= latitude <= 90:
        raise _invalid("location.latitude", "Latitude must be between -90 and 90.")
    if not -180 <= longitude <= 180:
        raise _invalid("location.longitude", "Longitude must be between -180 and 180.")
    return latitude, longitude


def age_range(min_age: int, max_age: int) -> tuple[int, int]:
    if not MIN_AGE <= min_age <= max_age <= MAX_AGE:
        raise _invalid(
            "preferences",
            f"The age range must satisfy {MIN_AGE} <= minAge <= maxAge <= {MAX_AGE}.",
        )
    return min_age, max_age


def max_distance_km(value: int) -> int:
    if not 1 <= value <= MAX_DISTANCE_KM:
        raise _invalid(
            "preferences.maxDistanceKm", f"The distance must be 1 to {MAX_DISTANCE_KM} km."
        )
    return value


def device_token(value: str) -> str:
    normalized = value.strip()
    if not 1 <= len(normalized) <= MAX_DEVICE_TOKEN:
        raise _invalid("token", f"A device token has 1 to {MAX_DEVICE_TOKEN} characters.")
    return normalized


def profile_changes(
    changes: Mapping[str, Any], *, current_age_range: tuple[int, int], today: date
) -> dict[str, Any]:
    """Validates a partial profile update into the column values to write.

    `changes` holds only the fields the client sent (None clears bio or location).
    """
    out: dict[str, Any] = {}
    if "display_name" in changes:
        out["display_name"] = display_name(changes["display_name"])
    if "birthdate" in changes:
        out["birthdate"] = birthdate(changes["birthdate"], today)
    if "gender" in changes:
        out["gender"] = gender(changes["gender"])
    if "bio" in changes:
        out["bio"] = bio(changes["bio"])
    if "location" in changes:
        point = changes["location"]
        out["latitude"], out["longitude"] = location(*point) if point is not None else (None, None)
    if "interests" in changes:
        out["interests"] = interests(changes["interests"])
    if "languages" in changes:
        out["languages"] = languages(changes["languages"])
    if "min_age" in changes or "max_age" in changes:
        out["min_age"], out["max_age"] = age_range(
            changes.get("min_age", current_age_range[0]),
            changes.get("max_age", current_age_range[1]),
        )
    if "genders_sought" in changes:
        out["genders_sought"] = sorted({gender(value) for value in changes["genders_sought"]})
    if "max_distance_km" in changes:
        out["max_distance_km"] = max_distance_km(changes["max_distance_km"])
    return out
