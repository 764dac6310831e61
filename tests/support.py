"""Helpers the contract and end-to-end tests share: GraphQL calls, members, waiting."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import secrets
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import uvicorn

from kindred.credentials import TokenIssuer
from kindred.settings import Settings, load_settings
from kindred.staff import Role, Scope, scopes_for

T = TypeVar("T")

REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { accessToken refreshToken user { id version displayName } }
}"""


@dataclasses.dataclass
class Member:
    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.access_token}"}


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    path: str = "/graphql",
    address: str | None = None,
) -> dict[str, Any]:
    """POSTs a GraphQL request; asserts the transport answered (never a 5xx). `address`
    is the client's (`X-Forwarded-For`), for the sign-in limits that count per address."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if address is not None:
        headers["x-forwarded-for"] = address
    response = await client.post(
        path, json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code < 500, response.text
    body: dict[str, Any] = response.json()
    return body


def fresh_address() -> str:
    """A client address no other test uses (10/8: not a trusted proxy), so a test's
    sign-ins never add up against another's per-address limit."""
    a, b, c = secrets.token_bytes(3)
    return f"10.{a}.{b}.{c}"


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


async def register(client: httpx.AsyncClient, **overrides: Any) -> Member:
    """A new member with a unique email, signed in."""
    email = f"m-{uuid.uuid4().hex[:12]}@example.com"
    password = "correct horse battery"
    variables = {
        "input": {
            "email": email,
            "password": password,
            "displayName": "Robin",
            "birthdate": "1994-03-02",
            "gender": "NON_BINARY",
            **overrides,
        }
    }
    body = await gql(client, REGISTER, variables)
    assert "errors" not in body, body
    payload = body["data"]["register"]
    return Member(
        id=payload["user"]["id"],
        email=email,
        password=password,
        access_token=payload["accessToken"],
        refresh_token=payload["refreshToken"],
    )


async def eventually(
    probe: Callable[[], Any],
    accept: Callable[[Any], bool] = bool,
    *,
    within: float = 15.0,
    what: str = "condition",
) -> Any:
    """Polls `probe` (sync or async) until `accept` holds for its answer, for `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        answer = probe()
        value = await answer if inspect.isawaitable(answer) else answer
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {within} s (last: {value!r})")
        await asyncio.sleep(0.02)


def settings_for(
    subgraph: str,
    *,
    postgres_url: str,
    redis_url: str,
    kafka_bootstrap: str,
    data_dir: Path,
    database_prefix: str = "",
    **changes: Any,
) -> Settings:
    """The subgraph's settings pointed at the test session's servers (its database named
    with `database_prefix`, for tests that must not share the running stack's)."""
    return dataclasses.replace(
        load_settings(subgraph),
        database_url=f"{postgres_url.rstrip('/')}/{database_prefix}{subgraph}_db",
        redis_url=redis_url,
        kafka_bootstrap=kafka_bootstrap,
        data_dir=data_dir,
        jwt_private_key_path=data_dir / "keys" / "jwt-signing.pem",
        migrate_on_start=True,
        # The test process starts app after app: freezing each one's heap would keep
        # every test's leftovers for good.
        settle_heap_on_start=False,
        **changes,
    )


def staff_token(staff_issuer: TokenIssuer, *roles: Role | str) -> str:
    """A staff access token for a new staff id holding `roles` and the scopes they grant."""
    return staff_issuer.access_token(
        uuid.uuid4(), roles=sorted(roles), scopes=sorted(scopes_for(roles))
    )


def action_token(
    staff_issuer: TokenIssuer,
    mutation: str,
    *scopes: Scope | str,
    staff_id: uuid.UUID | None = None,
    audit_id: uuid.UUID | None = None,
) -> str:
    """An action token as the admin subgraph mints for one audited staff action (a minute
    long, naming an audit entry): what the owner's audited `mutation` takes."""
    return staff_issuer.action_token(
        staff_id or uuid.uuid4(),
        scopes=sorted(scopes),
        audit_id=audit_id or uuid.uuid4(),
        mutation=mutation,
    )


# The contract tests' in-process subgraphs keep their data apart from the end-to-end stack's
# (whose relay would otherwise race theirs for the same outbox rows): `contract_user_db`, ….
CONTRACT_DATABASE_PREFIX = "contract_"


def contract_database(infra: Any, subgraph: str) -> psycopg.Connection[Any]:
    """An autocommit connection to the database the contract tests' `subgraph` uses."""
    url = infra.database_url(f"{CONTRACT_DATABASE_PREFIX}{subgraph}_db")
    return psycopg.connect(url, autocommit=True)


AUDIT_SCRIPT = Path(__file__).resolve().parents[1] / "router" / "http_audit.mjs"


def assert_http_audit_passes(graphql_url: str) -> dict[str, Any]:
    """Runs graphql-http's GraphQL-over-HTTP audit (router/http_audit.mjs) against
    `graphql_url` and asserts that nothing failed: no MUST (error), SHOULD (warn) or MAY
    (notice). Returns the report."""
    audit = subprocess.run(
        ["node", str(AUDIT_SCRIPT), graphql_url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=AUDIT_SCRIPT.parent,
    )
    assert audit.returncode in (0, 1), audit.stderr
    report: dict[str, Any] = json.loads(audit.stdout)
    failed = [result for result in report["results"] if result["status"] != "ok"]
    assert failed == [], json.dumps(failed, indent=2)
    assert report["counts"]["ok"] == len(report["results"]) > 50
    assert audit.returncode == 0
    return report


@contextmanager
def uvicorn_in_thread(config: uvicorn.Config) -> Iterator[None]:
    """A uvicorn server of `config`, in a thread of the test process, while the block runs."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-in-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)
