"""The push provider interface, the dev provider that only logs, and picking one by setting."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import httpx

from kindred.settings import Settings

log = logging.getLogger(__name__)


class PushOutcome(StrEnum):
    SENT = "SENT"
    RETRY = "RETRY"  # the provider could not take it now: try again later
    FAILED = "FAILED"  # refused for good
    DEAD_TOKEN = "DEAD_TOKEN"  # the token will never work again


@dataclass(frozen=True)
class PushResult:
    """What a provider answered to one send."""

    outcome: PushOutcome
    http_status: int | None = None
    error_code: str | None = None
    error: str | None = None
    # Seconds the provider asked us to wait before trying again (`Retry-After`).
    retry_after: float | None = None


class PushProvider(Protocol):
    async def send(self, token: str, title: str, body: str, data: dict[str, str]) -> PushResult: ...


class LogProvider:
    """The dev default: writes each push to the log and reports it sent."""

    async def send(self, token: str, title: str, body: str, data: dict[str, str]) -> PushResult:
        log.info("push to %s…: %s: %s %s", token[:12], title, body, data)
        return PushResult(PushOutcome.SENT)


def push_provider(settings: Settings, http: httpx.AsyncClient) -> PushProvider:
    """The provider `settings.push_provider` names (`log` or `fcm`)."""
    if settings.push_provider == "log":
        return LogProvider()
    if settings.push_provider == "fcm":
        from subgraphs.notification.fcm import FcmProvider

        return FcmProvider.from_settings(settings, http)
    raise ValueError(f"KINDRED_PUSH_PROVIDER={settings.push_provider!r}: use `log` or `fcm`")
