"""Staff for end-to-end tests: signed in through the gateway with `staffLogin`, as staff are
in production. The dev stack seeds an admin (kindred.devstack.stack.DEV_ADMIN_*), who makes
the others with `createStaff`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from kindred.devstack.stack import DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD
from kindred.staff import Role

STAFF_PASSWORD = "a long staff password"
STAFF_LOGIN = """
mutation($e: String!, $p: String!) {
  staffLogin(email: $e, password: $p) { accessToken refreshToken staff { id role scopes } }
}"""
CREATE_STAFF = """
mutation($i: CreateStaffInput!) { createStaff(input: $i) { id email role } }"""


@dataclass(frozen=True)
class Staff:
    id: str
    email: str
    role: Role
    access_token: str


def _post(gateway_url: str, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        f"{gateway_url}/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=30.0,
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def staff_login(gateway_url: str, email: str, password: str) -> Staff:
    """Signs a staff member in through the gateway."""
    login = _post(gateway_url, STAFF_LOGIN, {"e": email, "p": password})["staffLogin"]
    staff = login["staff"]
    return Staff(staff["id"], email, Role(staff["role"].lower()), login["accessToken"])


def dev_admin(gateway_url: str) -> Staff:
    """The admin the dev stack seeds."""
    return staff_login(gateway_url, DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD)


def new_staff(gateway_url: str, role: Role, admin: Staff | None = None) -> Staff:
    """A new staff member of `role`, made by an admin with `createStaff`, signed in."""
    admin = admin or dev_admin(gateway_url)
    email = f"{role.value}-{uuid.uuid4().hex[:10]}@kindred.test"
    new = {"email": email, "password": STAFF_PASSWORD, "displayName": role.value, "role": role.name}
    _post(gateway_url, CREATE_STAFF, {"i": new}, token=admin.access_token)
    return staff_login(gateway_url, email, STAFF_PASSWORD)
