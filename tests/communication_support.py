"""A small graphql-transport-ws client for the chat tests and the chat benchmark."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

PROTOCOL = "graphql-transport-ws"


class SubscriptionClosed(Exception):
    """The server closed the WebSocket (or completed the subscription)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed: {code} {reason}")
        self.code = code
        self.reason = reason


class LiveSubscription:
    """One subscription on its own connection: `next()` is its next result or error."""

    def __init__(self, socket: ClientConnection, operation_id: str) -> None:
        self.socket = socket
        self.id = operation_id

    async def next(self, within: float = 10.0) -> dict[str, Any]:
        """The next `next` payload (`{"data": …}` or `{"errors": …}`), or an `error` as errors."""
        while True:
            try:
                raw = await asyncio.wait_for(self.socket.recv(), within)
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                raise SubscriptionClosed(code, closed.rcvd.reason if closed.rcvd else "") from None
            message = json.loads(raw)
            if message["type"] == "ping":
                await self.socket.send(json.dumps({"type": "pong"}))
                continue
            if message.get("id") != self.id:
                continue
            if message["type"] == "next":
                payload: dict[str, Any] = message["payload"]
                return payload
            if message["type"] == "error":
                return {"errors": message["payload"]}
            if message["type"] == "complete":
                raise SubscriptionClosed(None, "complete")


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)


@asynccontextmanager
async def subscription(
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> AsyncIterator[LiveSubscription]:
    """Connects to `url` (a ws:// GraphQL endpoint), sends the token in connection_init,
    subscribes, and yields the subscription; raises `SubscriptionClosed` if refused."""
    async with connect(ws_url(url), subprotocols=[PROTOCOL], open_timeout=10) as socket:  # type: ignore[list-item]
        params = {"authorization": f"Bearer {token}"} if token else {}
        await socket.send(json.dumps({"type": "connection_init", "payload": params}))
        try:
            ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            raise SubscriptionClosed(code, closed.rcvd.reason if closed.rcvd else "") from None
        if ack["type"] != "connection_ack":
            raise SubscriptionClosed(None, f"expected connection_ack, got {ack}")
        operation_id = uuid.uuid4().hex
        payload = {"query": query, "variables": variables or {}}
        await socket.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": payload}))
        yield LiveSubscription(socket, operation_id)
        await socket.send(json.dumps({"id": operation_id, "type": "complete"}))
