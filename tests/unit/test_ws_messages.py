"""graphql-transport-ws messages: which are of the protocol's shape, and why not."""

from typing import Any

import pytest

from kindred.ws_messages import problem

QUERY = "subscription { __typename }"


@pytest.mark.parametrize(
    "message",
    [
        {"type": "connection_init"},
        {"type": "connection_init", "payload": {"authorization": "Bearer x"}},
        {"type": "ping", "payload": None},
        {"type": "subscribe", "id": "1", "payload": {"query": QUERY}},
        {
            "type": "subscribe",
            "id": "1",
            "payload": {"query": QUERY, "variables": {}, "operationName": None, "extensions": {}},
        },
        {"type": "complete", "id": "1"},
        {"type": "an unknown type"},  # Strawberry refuses it with 4400 itself
    ],
)
def test_protocol_messages_pass(message: Any) -> None:
    assert problem(message) is None


@pytest.mark.parametrize(
    ("message", "said"),
    [
        ([], "JSON object"),
        (None, "JSON object"),
        ("subscribe", "JSON object"),
        ({"id": "1"}, "`type`"),
        ({"type": 5}, "`type`"),
        ({"type": "subscribe", "payload": {"query": QUERY}}, "`id`"),
        ({"type": "complete", "id": 5}, "`id`"),
        ({"type": "connection_init", "payload": "x"}, "`payload`"),
        ({"type": "subscribe", "id": "1"}, "`payload`"),
        ({"type": "subscribe", "id": "1", "payload": []}, "`payload`"),
        ({"type": "subscribe", "id": "1", "payload": {}}, "`query` must be a string"),
        ({"type": "subscribe", "id": "1", "payload": {"query": 5}}, "`query`"),
        (
            {"type": "subscribe", "id": "1", "payload": {"query": QUERY, "variables": "x"}},
            "`variables` must be an object or null",
        ),
        (
            {"type": "subscribe", "id": "1", "payload": {"query": QUERY, "operationName": 1}},
            "`operationName`",
        ),
    ],
)
def test_other_shapes_are_named(message: Any, said: str) -> None:
    found = problem(message)
    assert found is not None and said in found, found
