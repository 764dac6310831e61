"""The rules of a valid profile, and how age is counted."""

from datetime import date

import pytest

from kindred.calendar import age_on
from kindred.errors import BadUserInput
from subgraphs.user import profile

TODAY = date(2026, 6, 15)


def test_age_counts_completed_years_only() -> None:
    assert age_on(date(2000, 6, 15), TODAY) == 26
    assert age_on(date(2000, 6, 16), TODAY) == 25


def test_a_leap_day_birthday_is_reached_on_the_first_of_march() -> None:
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18


def test_members_must_be_adults() -> None:
    assert profile.birthdate(date(2008, 6, 15), TODAY) == date(2008, 6, 15)
    with pytest.raises(BadUserInput) as error:
        profile.birthdate(date(2008, 6, 16), TODAY)
    assert error.value.details == {"field": "birthdate"}


def test_email_is_normalized_and_checked() -> None:
    assert profile.email("  Ann@Example.COM ") == "ann@example.com"
    for bad in ("ann", "ann@", "a b@c.de", "x" * 250 + "@a.io"):
        with pytest.raises(BadUserInput):
            profile.email(bad)


def test_display_name_is_trimmed_and_bounded() -> None:
    assert profile.display_name("  Ann  ") == "Ann"
    with pytest.raises(BadUserInput):
        profile.display_name("   ")
    with pytest.raises(BadUserInput):
        profile.display_name("x" * 51)


def test_interests_drop_blanks_and_case_duplicates_keeping_order() -> None:
    assert profile.interests(["Hiking", " ", "hiking", "Jazz"]) == ["Hiking", "Jazz"]
    with pytest.raises(BadUserInput):
        profile.interests([f"i{n}" for n in range(21)])
    with pytest.raises(BadUserInput):
        profile.interests(["x" * 41])


def test_languages_are_codes() -> None:
    assert profile.languages(["EN", "pt-BR", "en"]) == ["en", "pt-br"]
    with pytest.raises(BadUserInput):
        profile.languages(["english!"])


def test_partial_changes_validate_only_what_was_sent() -> None:
    changes = profile.profile_changes(
        {"bio": "  hello ", "location": (48.85, 2.35), "max_age": 40},
        current_age_range=(25, 35),
        today=TODAY,
    )
    assert changes == {
        "bio": "hello",
        "latitude": 48.85,
        "longitude": 2.35,
        "min_age": 25,
        "max_age": 40,
    }


def test_null_location_clears_both_coordinates() -> None:
    assert profile.profile_changes({"location": None}, current_age_range=(18, 99), today=TODAY) == {
        "latitude": None,
        "longitude": None,
    }


def test_an_age_range_upside_down_is_refused() -> None:
    with pytest.raises(BadUserInput):
        profile.profile_changes({"min_age": 50}, current_age_range=(18, 40), today=TODAY)


@pytest.mark.parametrize(("latitude", "longitude"), [(91, 0), (-91, 0), (0, 181), (0, -180.5)])
def test_coordinates_must_be_on_earth(latitude: float, longitude: float) -> None:
    with pytest.raises(BadUserInput):
        profile.location(latitude, longitude)


def test_genders_sought_are_deduplicated_and_checked() -> None:
    assert profile.profile_changes(
        {"genders_sought": ["MAN", "WOMAN", "MAN"]}, current_age_range=(18, 99), today=TODAY
    ) == {"genders_sought": ["MAN", "WOMAN"]}
    with pytest.raises(BadUserInput):
        profile.profile_changes(
            {"genders_sought": ["ROBOT"]}, current_age_range=(18, 99), today=TODAY
        )
