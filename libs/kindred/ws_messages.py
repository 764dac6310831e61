"""The shape of graphql-transport-ws messages, checked before Strawberry reads them.

Strawberry's handler reads `message["type"]`, `message["payload"]["query"]` and the like
as they come: a message that is valid JSON but not of the protocol's shape (an array, a
`payload` that is a string, an `id` that is a number) raised inside it, and the socket
closed as a server error. The protocol says such a message closes it with 4400; `problem`
says what is wrong with one, for that close reason.
"""

from __future__ import annotations

from typing import Any

# The messages about one operation, which name it by `id`.
_NEEDS_ID = frozenset({"subscribe", "complete"})
_SUBSCRIBE_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "query": ((str,), "a string"),
    "variables": ((dict, type(None)), "an object or null"),
    "operationName": ((str, type(None)), "a string or null"),
    "extensions": ((dict, type(None)), "an object or null"),
}


def problem(message: Any) -> str | None:
    """Why `message` is not a graphql-transport-ws message; None if it is one."""
    if not isinstance(message, dict):
        return "A message must be a JSON object."
    kind = message.get("type")
    if not isinstance(kind, str):
        return "A message needs a `type` string."
    if kind in _NEEDS_ID and not isinstance(message.get("id"), str):
        return f"A {kind} message needs an `id` string."
    payload = message.get("payload")
    if payload is not None and not isinstance(payload, dict):
        return "A message's `payload` must be an object."
    if kind == "subscribe":
        if payload is None:
            return "A subscribe message needs a `payload` with the `query`."
        for name, (types, wanted) in _SUBSCRIBE_FIELDS.items():
            if not isinstance(payload.get(name), types):
                return f"A subscribe payload's `{name}` must be {wanted}."
    return None
