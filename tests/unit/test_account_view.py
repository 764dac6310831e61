"""The cached form of an account carries everything a read needs, and no credentials."""

import uuid
from datetime import UTC, date, datetime

from subgraphs.user.models import Account, AccountView


def test_an_account_view_round_trips_through_its_cached_form() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    row = Account(
        id=uuid.uuid4(),
        email="a@example.com",
        password_hash="argon2-secret",
        display_name="Ann",
        birthdate=date(1990, 5, 1),
        gender="WOMAN",
        bio=None,
        latitude=1.5,
        longitude=None,
        interests=["jazz"],
        languages=["en"],
        min_age=20,
        max_age=40,
        genders_sought=["MAN"],
        max_distance_km=25,
        version=3,
        created_at=now,
        updated_at=now,
    )
    view = AccountView.from_row(row)
    assert AccountView.from_json(view.to_json()) == view
    assert b"argon2-secret" not in view.to_json()
    assert view.version == 3 and view.birthdate == date(1990, 5, 1)
