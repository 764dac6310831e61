"""A local stand-in for Firebase Cloud Messaging's HTTP v1 API, for the push tests.

A real HTTP server on a loopback port: `/token` verifies the RS256 JWT assertion of a
service account it made up (the test key) and hands out access tokens; `messages:send`
checks the bearer token and answers each device token as the test scripted it (success by
default), in the shapes the real API uses.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kindred.devstack.process import free_port
from subgraphs.notification.fcm import FCM_ERROR_TYPE, GRANT_TYPE, SCOPE

PROJECT_ID = "kindred-test"
CLIENT_EMAIL = "push@kindred-test.iam.gserviceaccount.com"


def _fcm_error(status: int, state: str, message: str, code: str | None) -> dict[str, Any]:
    details = [{"@type": FCM_ERROR_TYPE, "errorCode": code}] if code else []
    return {"error": {"code": status, "message": message, "status": state, "details": details}}


# What `messages:send` answers for a scripted device token: (status, body, headers).
ANSWERS: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {
    "UNREGISTERED": (
        404,
        _fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"),
        {},
    ),
    "INVALID_TOKEN": (
        400,
        _fcm_error(
            400,
            "INVALID_ARGUMENT",
            "The registration token is not a valid FCM registration token",
            "INVALID_ARGUMENT",
        ),
        {},
    ),
    "UNAVAILABLE": (
        503,
        _fcm_error(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"),
        {"retry-after": "1"},
    ),
    "QUOTA_EXCEEDED": (
        429,
        _fcm_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED"),
        {"retry-after": "2"},
    ),
    "SENDER_ID_MISMATCH": (
        403,
        _fcm_error(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"),
        {},
    ),
}


@dataclass
class FcmStub:
    """The stub's state: its key, what it was sent, and what it will answer."""

    private_key_pem: str
    public_key: Any
    port: int = field(default_factory=free_port)
    token_lifetime: int = 3600
    token_requests: int = 0
    access_tokens: set[str] = field(default_factory=set)
    received: list[dict[str, Any]] = field(default_factory=list)
    # Device token -> the answers it gets next, in order (then success).
    script: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def credentials(self, folder: Path, *, token_uri: str | None = None) -> Path:
        """A service-account key file for this stub (its `token_uri` unless told otherwise)."""
        path = folder / f"service-account-{uuid.uuid4().hex[:8]}.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": PROJECT_ID,
                    "client_email": CLIENT_EMAIL,
                    "private_key": self.private_key_pem,
                    "token_uri": token_uri if token_uri is not None else self.token_uri,
                }
            )
        )
        return path

    def revoke_access_tokens(self) -> None:
        """Every access token handed out so far stops working (answers 401)."""
        self.access_tokens.clear()

    def sent_to(self, token: str) -> list[dict[str, Any]]:
        return [message for message in self.received if message["token"] == token]

    async def _token(self, request: Request) -> JSONResponse:
        form = await request.form()
        if form.get("grant_type") != GRANT_TYPE:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        try:
            claims = jwt.decode(
                str(form.get("assertion")),
                self.public_key,
                algorithms=["RS256"],
                audience=self.token_uri,
                issuer=CLIENT_EMAIL,
            )
        except jwt.PyJWTError as error:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": str(error)}, status_code=400
            )
        if claims.get("scope") != SCOPE or claims["exp"] - claims["iat"] > 3600:
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        self.token_requests += 1
        access_token = f"ya29.{uuid.uuid4().hex}"
        self.access_tokens.add(access_token)
        return JSONResponse(
            {
                "access_token": access_token,
                "expires_in": self.token_lifetime,
                "token_type": "Bearer",
            }
        )

    async def _send(self, request: Request) -> JSONResponse:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.access_tokens:
            body = _fcm_error(401, "UNAUTHENTICATED", "Request had invalid credentials.", None)
            return JSONResponse(body, status_code=401)
        if request.path_params["project"] != PROJECT_ID:
            return JSONResponse(_fcm_error(404, "NOT_FOUND", "No such project.", None), 404)
        message = (await request.json())["message"]
        data = message.get("data", {})
        if not all(isinstance(v, str) for v in data.values()):
            body = _fcm_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.data'", None)
            return JSONResponse(body, status_code=400)
        self.received.append(message)
        pending = self.script.get(message["token"])
        if pending:
            status, body, headers = ANSWERS[pending.pop(0)]
            return JSONResponse(body, status_code=status, headers=headers)
        name = f"projects/{PROJECT_ID}/messages/{uuid.uuid4().hex}"
        return JSONResponse({"name": name})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", self._send, methods=["POST"]),
            ]
        )


class RunningStub:
    """The stub served by uvicorn in a thread of the test process."""

    def __init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self.stub = FcmStub(private_key_pem=pem, public_key=key.public_key())
        config = uvicorn.Config(
            self.stub.app(), host="127.0.0.1", port=self.stub.port, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fcm-stub", daemon=True)

    def start(self) -> FcmStub:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the FCM stub did not start")
            time.sleep(0.01)
        return self.stub

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
