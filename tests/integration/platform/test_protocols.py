"""kindred.protocols under a real uvicorn: what uvicorn refuses before any app sees it is
a JSON 400 with `extensions.code` BAD_REQUEST, and the server goes on serving."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from kindred import protocols
from kindred.devstack.process import free_port
from tests.http_cases import MALFORMED_HTTP, assert_malformed_http_refused, send_raw
from tests.support import uvicorn_in_thread


async def _ok(_request: object) -> JSONResponse:
    return JSONResponse({"data": {"ok": True}})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """A uvicorn server with the platform's protocols, in a thread of the test process."""
    chosen = free_port()
    app = Starlette(routes=[Route("/graphql", _ok, methods=["GET", "POST"])])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=chosen,
        http=protocols.HTTP,
        ws=protocols.WEBSOCKET,
        log_level="warning",
    )
    with uvicorn_in_thread(config):
        yield chosen


@pytest.mark.parametrize("request_bytes", MALFORMED_HTTP.values(), ids=list(MALFORMED_HTTP))
def test_what_uvicorn_refuses_is_a_json_400(port: int, request_bytes: bytes) -> None:
    assert_malformed_http_refused(send_raw(port, request_bytes))
    served = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ ok }"})
    assert served.status_code == 200, served.text


def test_the_refusal_says_what_the_parser_found(port: int) -> None:
    answer = send_raw(port, MALFORMED_HTTP["websocket-without-key"])
    assert b"Sec-WebSocket-Key" in answer.body, answer


def test_a_refusal_body_carries_a_code_for_its_status() -> None:
    codes = {
        status: json.loads(protocols.refusal_body(status, ""))["errors"][0]
        for status in (400, 403, 500)
    }
    assert codes[400]["extensions"]["code"] == "BAD_REQUEST"
    assert codes[403]["extensions"]["code"] == "FORBIDDEN"
    assert codes[500]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert codes[500]["message"] == "Internal Server Error"  # no text: the status phrase
