"""Ids as clients send them."""

from __future__ import annotations

import uuid

from kindred.errors import BadUserInput


def parse_id(value: str, *, field: str = "id") -> uuid.UUID:
    """The UUID in `value`, or `BAD_USER_INPUT` naming `field`."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadUserInput(f"`{str(value)[:64]}` is not an id.", field=field) from None
