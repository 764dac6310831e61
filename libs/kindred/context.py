"""What a resolver can reach: the caller's identity, the platform and per-request loaders."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from strawberry.dataloader import DataLoader

from kindred.auth import Identity
from kindred.errors import Forbidden, KindredError, Unauthenticated
from kindred.ids import parse_id

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

    from kindred.platform import Platform
    from kindred.realtime import Realtime

K = TypeVar("K")
V = TypeVar("V")


@dataclass
class RequestContext:
    """One HTTP request's context, or one WebSocket connection's (shared by its operations)."""

    request: HTTPConnection | None
    platform: Platform
    identity: Identity | None
    authorization: str | None = None
    auth_error: KindredError | None = None
    realtime: Realtime | None = None
    # What a WebSocket client sent in `connection_init` (set by the protocol handler).
    connection_params: dict[str, Any] | None = None
    _loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)

    @property
    def is_websocket(self) -> bool:
        return self.request is not None and self.request.scope["type"] == "websocket"

    def require_realtime(self) -> Realtime:
        """The process's live-delivery hub (every subgraph app has one)."""
        if self.realtime is None:
            raise RuntimeError("this context was made without a realtime hub")
        return self.realtime

    def require_identity(self) -> Identity:
        """The caller, or `UNAUTHENTICATED` if the request carried no valid token."""
        if self.auth_error is not None:
            raise self.auth_error
        if self.identity is None:
            raise Unauthenticated("Sign in first: send `Authorization: Bearer <access token>`.")
        return self.identity

    def require_self(self, user_id: str, *, what: str) -> uuid.UUID:
        """`user_id` parsed, if it is the caller's own; `FORBIDDEN` (naming `what`) if not."""
        member = parse_id(user_id)
        if self.require_identity().user_id != str(member):
            raise Forbidden(f"Only the member can see their {what}.")
        return member

    def loader(
        self, name: str, load: Callable[[list[K]], Awaitable[Sequence[V]]]
    ) -> DataLoader[K, V]:
        """The request's one DataLoader called `name`: N loads in a tick become one batch."""
        if name not in self._loaders:
            # A WebSocket context lives as long as its connection: batch, but never
            # serve one event a value cached for an earlier one.
            self._loaders[name] = DataLoader(load_fn=load, cache=not self.is_websocket)
        return self._loaders[name]
