"""Fresh reads of another subgraph's entities (`_entities`), for checks that cannot use a copy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from opentelemetry import trace

from kindred.errors import ErrorCode, KindredError, Unavailable
from kindred.telemetry import inject_http_headers, tracer


class _RemoteError(KindredError):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = (
            ErrorCode(code) if code in ErrorCode.__members__.values() else ErrorCode.INTERNAL
        )


async def fetch_entities(
    http: httpx.AsyncClient,
    url: str,
    *,
    typename: str,
    ids: Sequence[str],
    selection: str,
    authorization: str | None,
) -> list[dict[str, Any] | None]:
    """The entities `typename` with these ids from the subgraph at `url`, in order.

    The caller's `Authorization` and trace context travel along; the owner's
    errors keep their codes, and an unreachable owner is `SERVICE_UNAVAILABLE`.
    """
    query = (
        "query($r: [_Any!]!) { _entities(representations: $r) "
        f"{{ ... on {typename} {{ {selection} }} }} }}"
    )
    body = {"query": query, "variables": {"r": [{"__typename": typename, "id": i} for i in ids]}}
    with tracer.start_as_current_span(f"_entities {typename}", kind=trace.SpanKind.CLIENT) as span:
        span.set_attribute("server.address", url)
        headers = inject_http_headers({"content-type": "application/json"})
        if authorization:
            headers["authorization"] = authorization
        try:
            response = await http.post(url, json=body, headers=headers)
            payload = response.json()
        except (httpx.HTTPError, ValueError) as error:
            span.record_exception(error)
            raise Unavailable(
                f"The {typename} owner cannot be reached; try again shortly."
            ) from error
    if payload.get("errors"):
        first = payload["errors"][0]
        raise _RemoteError(
            first.get("message", "error"), first.get("extensions", {}).get("code", "")
        )
    return list(payload["data"]["_entities"])
