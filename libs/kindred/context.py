"""What a resolver can reach: the caller's identity, the platform and per-request loaders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from strawberry.dataloader import DataLoader

from kindred.auth import Identity
from kindred.errors import KindredError, Unauthenticated

if TYPE_CHECKING:
    from starlette.requests import Request

    from kindred.platform import Platform

K = TypeVar("K")
V = TypeVar("V")


@dataclass
class RequestContext:
    request: Request | None
    platform: Platform
    identity: Identity | None
    authorization: str | None = None
    auth_error: KindredError | None = None
    _loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)

    def require_identity(self) -> Identity:
        """The caller, or `UNAUTHENTICATED` if the request carried no valid token."""
        if self.auth_error is not None:
            raise self.auth_error
        if self.identity is None:
            raise Unauthenticated("Sign in first: send `Authorization: Bearer <access token>`.")
        return self.identity

    def loader(
        self, name: str, load: Callable[[list[K]], Awaitable[Sequence[V]]]
    ) -> DataLoader[K, V]:
        """The request's one DataLoader called `name`: N loads in a tick become one batch."""
        if name not in self._loaders:
            self._loaders[name] = DataLoader(load_fn=load)
        return self._loaders[name]
