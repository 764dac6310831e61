"""Domain errors, each with the GraphQL `extensions.code` a client sees."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL = "INTERNAL_SERVER_ERROR"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    RATE_LIMITED = "RATE_LIMITED"
    # GraphQL over HTTP: requests refused before execution (see kindred.graphql_http).
    BAD_REQUEST = "BAD_REQUEST"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    BATCHING_NOT_SUPPORTED = "BATCHING_NOT_SUPPORTED"
    PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
    # The document holds no operation to run: several and no `operationName`, or an
    # `operationName` it does not define.
    OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"


class KindredError(Exception):
    """An error the client caused or should know about; never masked."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code.value, **self.details}


class BadUserInput(KindredError):
    code = ErrorCode.BAD_USER_INPUT


class Unauthenticated(KindredError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(KindredError):
    code = ErrorCode.FORBIDDEN


class NotFound(KindredError):
    code = ErrorCode.NOT_FOUND


class Conflict(KindredError):
    code = ErrorCode.CONFLICT


class Unavailable(KindredError):
    code = ErrorCode.UNAVAILABLE


class RateLimited(KindredError):
    """Too many attempts: `extensions.retryAfter` says how many seconds to wait."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: int, **details: Any) -> None:
        super().__init__(message, retryAfter=retry_after, **details)
        self.retry_after = retry_after
