"""Firebase Cloud Messaging over its HTTP v1 API, signed in with a service account.

The OAuth2 token comes from the JWT-bearer flow: an RS256 assertion signed with the
service account's key is traded at its `token_uri` (the credentials file names it; the
`KINDRED_FCM_TOKEN_URL` setting is used only when it does not), then cached until shortly
before it expires.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import jwt

from kindred.settings import Settings
from subgraphs.notification.push import PushOutcome, PushResult

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
# A token this close to its expiry is renewed first: a send must not race the clock.
EXPIRY_MARGIN_SECONDS = 60
_RETRY_STATUSES = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class ServiceAccount:
    """The parts of a Google service-account JSON key the OAuth flow needs."""

    client_email: str
    private_key: str
    token_uri: str
    project_id: str

    @classmethod
    def load(cls, path: Path, *, default_token_uri: str) -> ServiceAccount:
        """Reads the key file; `default_token_uri` is used only if the file names none."""
        raw = json.loads(path.read_text())
        return cls(
            client_email=raw["client_email"],
            private_key=raw["private_key"],
            token_uri=raw.get("token_uri") or default_token_uri,
            project_id=raw.get("project_id", ""),
        )


class OAuthError(Exception):
    """The token endpoint refused or could not be reached."""


class FcmProvider:
    """Sends pushes through `POST {endpoint}/v1/projects/{project}/messages:send`."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        account: ServiceAccount,
        project_id: str,
        endpoint: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._account = account
        self._url = f"{endpoint.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._clock = clock
        self._access_token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.token_requests = 0  # how often a token was fetched (seen by tests and logs)

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.AsyncClient) -> FcmProvider:
        if settings.fcm_credentials_path is None:
            raise ValueError("the fcm push provider needs KINDRED_FCM_CREDENTIALS (a key file)")
        account = ServiceAccount.load(
            settings.fcm_credentials_path, default_token_uri=settings.fcm_token_url
        )
        project_id = settings.fcm_project_id or account.project_id
        if not project_id:
            raise ValueError("the fcm push provider needs KINDRED_FCM_PROJECT_ID")
        return cls(
            http=http, account=account, project_id=project_id, endpoint=settings.fcm_endpoint
        )

    async def send(self, token: str, title: str, body: str, data: dict[str, str]) -> PushResult:
        """One push; never raises for what the provider or the network answered."""
        message = {
            "message": {
                "token": token,
                "notification": {"title": title, "body": body},
                "data": {str(key): str(value) for key, value in data.items()},
            }
        }
        try:
            response = await self._post(message, renew=False)
            if response.status_code == 401:
                # The cached token may have been revoked early: one fresh token, one retry.
                response = await self._post(message, renew=True)
        except OAuthError as error:
            return PushResult(PushOutcome.RETRY, error_code="OAUTH", error=str(error)[:500])
        except httpx.HTTPError as error:
            return PushResult(PushOutcome.RETRY, error_code="NETWORK", error=repr(error)[:500])
        return classify(response)

    async def _post(self, message: dict[str, Any], *, renew: bool) -> httpx.Response:
        access_token = await self.access_token(renew=renew)
        return await self._http.post(
            self._url, json=message, headers={"authorization": f"Bearer {access_token}"}
        )

    async def access_token(self, *, renew: bool = False) -> str:
        """A valid OAuth2 access token, fetched only when none is cached or `renew`."""
        async with self._lock:
            now = self._clock()
            if renew or self._access_token is None or now >= self._expires_at:
                self._access_token, lifetime = await self._fetch_token(now)
                self._expires_at = now + lifetime - EXPIRY_MARGIN_SECONDS
            return self._access_token

    async def _fetch_token(self, now: float) -> tuple[str, float]:
        account = self._account
        assertion = jwt.encode(
            {
                "iss": account.client_email,
                "scope": SCOPE,
                "aud": account.token_uri,
                "iat": int(now),
                "exp": int(now) + 3600,
            },
            account.private_key,
            algorithm="RS256",
        )
        self.token_requests += 1
        try:
            response = await self._http.post(
                account.token_uri, data={"grant_type": GRANT_TYPE, "assertion": assertion}
            )
        except httpx.HTTPError as error:
            raise OAuthError(f"token endpoint unreachable: {error!r}") from error
        if response.status_code != 200:
            raise OAuthError(f"token endpoint answered {response.status_code}: {response.text}")
        body = response.json()
        return str(body["access_token"]), float(body.get("expires_in", 3600))


def classify(response: httpx.Response) -> PushResult:
    """The outcome of a `messages:send` answer, by the v1 API's status and `FcmError` code."""
    status = response.status_code
    if 200 <= status < 300:
        return PushResult(PushOutcome.SENT, http_status=status)
    error = _error_body(response)
    message = str(error.get("message", ""))[:500]
    code = _fcm_error_code(error) or str(error.get("status") or status)
    if status == 404 or code == "UNREGISTERED":
        outcome = PushOutcome.DEAD_TOKEN
    elif status == 400 and _about_the_token(error):
        outcome = PushOutcome.DEAD_TOKEN
    elif status in _RETRY_STATUSES or status == 401 or status >= 500:
        outcome = PushOutcome.RETRY
    else:
        outcome = PushOutcome.FAILED
    return PushResult(
        outcome,
        http_status=status,
        error_code=code,
        error=message or None,
        retry_after=retry_after(response.headers.get("retry-after")),
    )


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"message": response.text}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _fcm_error_code(error: dict[str, Any]) -> str | None:
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("@type") == FCM_ERROR_TYPE:
            return str(detail.get("errorCode") or "") or None
    return None


def _about_the_token(error: dict[str, Any]) -> bool:
    """An INVALID_ARGUMENT that blames the registration token (not the payload)."""
    if "registration token" in str(error.get("message", "")).lower():
        return True
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("@type") == BAD_REQUEST_TYPE:
            violations = detail.get("fieldViolations") or []
            if any(v.get("field") == "message.token" for v in violations if isinstance(v, dict)):
                return True
    return False


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
