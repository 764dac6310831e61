"""A subscription's task that fails to answer a socket already closed is not logged as a
failure; any other error of the task still is."""

import asyncio
import logging

import pytest
from starlette.websockets import WebSocketDisconnected as ClosedWebSocket
from strawberry.http.exceptions import WebSocketDisconnected

from kindred.app import _TransportWS


def _handler() -> _TransportWS:
    return object.__new__(_TransportWS)  # the method reads nothing set by __init__


@pytest.mark.parametrize(
    "error", [ClosedWebSocket("closed"), WebSocketDisconnected()], ids=["closed", "gone"]
)
def test_answering_a_closed_socket_is_not_logged(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="strawberry.ws.task"):
        asyncio.run(_handler().handle_task_exception(error))
    assert caplog.records == []


def test_another_error_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="strawberry.ws.task"):
        asyncio.run(_handler().handle_task_exception(RuntimeError("boom")))
    assert [record.getMessage() for record in caplog.records] == ["Exception in worker task"]
