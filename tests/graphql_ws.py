"""A small graphql-transport-ws client for tests: connect with a token, subscribe, read."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets


class Subscription:
    """One subscription on an open connection; `next()` waits for its next payload."""

    def __init__(self, connection: websockets.ClientConnection, id: str) -> None:
        self._connection = connection
        self.id = id

    async def next(self, within: float = 10.0) -> dict[str, Any]:
        """The next `next` payload ({"data": …} or {"errors": …}) of this subscription."""
        while True:
            message = json.loads(await asyncio.wait_for(self._connection.recv(), within))
            if message.get("type") == "ping":
                await self._connection.send(json.dumps({"type": "pong"}))
                continue
            if message.get("id") != self.id:
                continue
            if message["type"] == "next":
                payload: dict[str, Any] = message["payload"]
                return payload
            if message["type"] == "error":
                return {"errors": message["payload"]}
            if message["type"] == "complete":
                raise EOFError(f"subscription {self.id} completed")


@asynccontextmanager
async def graphql_ws(url: str, *, token: str | None) -> AsyncIterator[GraphQLWebSocket]:
    """An acknowledged graphql-transport-ws connection to `url` (http:// or ws://)."""
    ws_url = url.replace("http://", "ws://", 1)
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as connection:  # type: ignore[list-item]
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await connection.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(connection.recv(), 10.0))
        if ack.get("type") != "connection_ack":
            raise ConnectionRefusedError(f"not acknowledged: {ack}")
        yield GraphQLWebSocket(connection)


class GraphQLWebSocket:
    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> Subscription:
        id = uuid.uuid4().hex
        await self.connection.send(
            json.dumps(
                {
                    "id": id,
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables or {}},
                }
            )
        )
        return Subscription(self.connection, id)
