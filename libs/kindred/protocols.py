"""uvicorn's HTTP and WebSocket protocols, refusing as the app refuses.

uvicorn answers some requests itself, before the app sees them: bytes that are not
HTTP/1.1 (an unknown method, a control character in a header, a broken chunk size), an
upgrade it cannot serve, a WebSocket handshake that is not one. Its answer is a line of
plain text. These subclasses send the same status in the GraphQL-over-HTTP JSON shape
every other refusal of a subgraph has (an `errors` list with `extensions.code`), so a
client reads one shape whatever it got wrong. Every launcher of a subgraph passes them:

    uvicorn subgraphs.user.app:app --http kindred.protocols:HttpProtocol \\
        --ws kindred.protocols:WebSocketProtocol

(`kindred.devstack.host`, which serves every subgraph in one process, too.)
"""

from __future__ import annotations

import dataclasses
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.http11 import Response
from websockets.server import ServerProtocol

from kindred.errors import ErrorCode
from kindred.graphql_http import encode_payload, error_payload

HTTP = "kindred.protocols:HttpProtocol"
WEBSOCKET = "kindred.protocols:WebSocketProtocol"


def refusal_body(status: int, text: str) -> bytes:
    """The JSON body of a refusal with this status, its message the server's own text."""
    if status >= 500:
        code = ErrorCode.INTERNAL
    elif status == HTTPStatus.FORBIDDEN:  # the app closed the socket before accepting it
        code = ErrorCode.FORBIDDEN
    else:
        code = ErrorCode.BAD_REQUEST
    message = text.strip() or HTTPStatus(status).phrase
    return encode_payload(error_payload(code, message)).encode()


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol; a request it cannot parse is a JSON 400."""

    def send_400_response(self, msg: str) -> None:
        body = refusal_body(400, f"{msg} Send a well-formed HTTP/1.1 request.")
        head = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.append(
            b"content-type: application/json; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()


class _JsonRejections(ServerProtocol):
    """websockets' server side of a connection, whose handshake refusals are JSON."""

    def reject(self, status: Any, text: str) -> Response:
        plain = super().reject(status, text)
        body = refusal_body(plain.status_code, text)
        headers = Headers(
            (name, value)
            for name, value in plain.headers.raw_items()
            if name.lower() not in ("content-type", "content-length")
        )
        headers["Content-Type"] = "application/json; charset=utf-8"
        headers["Content-Length"] = str(len(body))
        return dataclasses.replace(plain, headers=headers, body=body)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol; a handshake it refuses is answered in JSON."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The connection uvicorn built, with its extensions and limits, refusing in JSON.
        self.conn.__class__ = _JsonRejections
