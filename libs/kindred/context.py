"""What a resolver can reach: the caller's identity, the platform and per-request loaders."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from strawberry.dataloader import DataLoader

from kindred.auth import Identity
from kindred.errors import Forbidden, KindredError, Unauthenticated
from kindred.ids import parse_id

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection
    from starlette.requests import HTTPConnection

    from kindred.platform import Platform
    from kindred.realtime import Realtime
    from kindred.settings import IPNetwork

K = TypeVar("K")
V = TypeVar("V")

# Why an appeal token is refused wherever it was not opted in (kindred.auth, `appeal_only`).
APPEAL_ONLY = "This token only lets a banned member appeal; sign in for an access token."


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
    def client_address(self) -> str | None:
        """The caller's IP address: the TCP peer, or, when the peer is a trusted proxy
        (`KINDRED_TRUSTED_PROXIES`, the gateway), the right-most `X-Forwarded-For` entry
        that is not a trusted proxy itself. None without a request."""
        if self.request is None:
            return None
        peer = self.request.client.host if self.request.client is not None else None
        return client_address(
            peer,
            self.request.headers.getlist("x-forwarded-for"),
            self.platform.settings.trusted_proxies,
        )

    @property
    def is_websocket(self) -> bool:
        return self.request is not None and self.request.scope["type"] == "websocket"

    def require_realtime(self) -> Realtime:
        """The process's live-delivery hub (every subgraph app has one)."""
        if self.realtime is None:
            raise RuntimeError("this context was made without a realtime hub")
        return self.realtime

    def require_identity(self, *, appeal: bool = False) -> Identity:
        """The caller, or `UNAUTHENTICATED` if the request carried no valid token.

        A banned member's appeal token (`Identity.appeal_only`) is `UNAUTHENTICATED` too
        (`extensions.reason` APPEAL_ONLY), unless `appeal`: the opt-in of the few fields a
        banned member needs to see their actions and standing and to appeal."""
        if self.auth_error is not None:
            raise self.auth_error
        if self.identity is None:
            raise Unauthenticated("Sign in first: send `Authorization: Bearer <access token>`.")
        if self.identity.appeal_only and not appeal:
            raise Unauthenticated(APPEAL_ONLY, reason="APPEAL_ONLY")
        return self.identity

    def caller_id(self, *, appeal: bool = False) -> uuid.UUID:
        """The signed-in caller's id, or `UNAUTHENTICATED` (for an appeal token too, unless
        `appeal`: see `require_identity`)."""
        return uuid.UUID(self.require_identity(appeal=appeal).user_id)

    def require_scope(self, scope: str, *, what: str) -> Identity:
        """The caller if they are staff holding `scope`; `UNAUTHENTICATED` without a token,
        `FORBIDDEN` (naming `what`) for a member or for staff without the scope."""
        identity = self.require_identity()
        if not identity.staff:
            raise Forbidden(f"Only staff can {what}.")
        if scope not in identity.scopes:
            raise Forbidden(f"Only staff with the {scope} scope can {what}.")
        return identity

    def require_self(self, user_id: str, *, what: str, appeal: bool = False) -> uuid.UUID:
        """`user_id` parsed, if it is the caller's own; `FORBIDDEN` (naming `what`) if not
        (an appeal token only with `appeal`: see `require_identity`)."""
        member = parse_id(user_id)
        if self.require_identity(appeal=appeal).user_id != str(member):
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

    async def read_batched(
        self, name: str, read: Callable[[AsyncConnection, list[K]], Awaitable[Sequence[V]]], key: K
    ) -> V:
        """`key` through the request's DataLoader `name`, whose batch reads every key at once
        with `read(connection, keys)` on one read connection."""
        db = self.platform.db

        async def batch(keys: list[K]) -> Sequence[V]:
            async with db.read() as connection:
                return await read(connection, keys)

        return await self.loader(name, batch).load(key)


def _parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as proxies write it (`203.0.113.7`, `203.0.113.7:443`, `2001:db8::1`,
    `[2001:db8::1]:443`), IPv4-mapped IPv6 as IPv4; None if it is not an address."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port (IPv6 has two colons or more)
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted_proxies: Sequence[IPNetwork]
) -> str | None:
    """Who is calling, given the TCP `peer`, the `X-Forwarded-For` header values in order,
    and the networks of the proxies whose word is believed.

    An untrusted peer is the client (whatever it claims in the header). A trusted peer
    relayed the request: walk `X-Forwarded-For` from the right (each proxy appends the
    address it saw) past trusted proxies; the first address that is not one is the client.
    Entries that are not addresses are skipped. If every entry is a trusted proxy, the
    left-most is the client; with no usable entry, the peer is."""
    if peer is None:
        return None
    peer_address = _parse_address(peer)
    if peer_address is None or not _trusted(peer_address, trusted_proxies):
        return str(peer_address) if peer_address is not None else peer
    entries = [entry for value in forwarded_for for entry in value.split(",")]
    client = peer_address
    for entry in reversed(entries):
        address = _parse_address(entry)
        if address is None:
            continue
        client = address
        if not _trusted(address, trusted_proxies):
            break
    return str(client)


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Sequence[IPNetwork]
) -> bool:
    return any(address.version == network.version and address in network for network in networks)
