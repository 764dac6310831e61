"""Staff: their roles, the scopes each role grants, and fields only staff may use.

Staff sign in through the admin subgraph, whose tokens carry the staff member's `roles` and
the `scope` those grant (space-separated). A staff-only field says so in the schema
(`@authenticated @requiresScopes`, for the router and for readers) and is checked by the
subgraph itself before its resolver runs, so calling a subgraph's port directly is refused
the same way as going through the gateway."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection, Iterable
from enum import StrEnum
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.federation.schema_directives import Authenticated, RequiresScopes
from strawberry.types import Info


class Role(StrEnum):
    SUPPORT = "support"
    MODERATOR = "moderator"
    ADMIN = "admin"


class Scope(StrEnum):
    MEMBERS_READ = "members:read"
    CASES_READ = "cases:read"
    CASES_ACT = "cases:act"
    MEMBERS_SUSPEND = "members:suspend"
    BILLING_REFUND = "billing:refund"
    ANALYTICS_READ = "analytics:read"
    AUDIT_READ = "audit:read"
    STAFF_MANAGE = "staff:manage"


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.SUPPORT: frozenset({Scope.MEMBERS_READ, Scope.CASES_READ, Scope.BILLING_REFUND}),
    Role.MODERATOR: frozenset(
        {Scope.MEMBERS_READ, Scope.CASES_READ, Scope.CASES_ACT, Scope.MEMBERS_SUSPEND}
    ),
    Role.ADMIN: frozenset(Scope),
}


def scopes_for(roles: Iterable[Role | str]) -> frozenset[Scope]:
    """Every scope the roles grant together."""
    return frozenset(scope for role in roles for scope in ROLE_SCOPES[Role(role)])


class _RequireScopes(FieldExtension):
    """Refuses the field unless the caller is staff holding every one of `scopes`."""

    def __init__(self, scopes: Collection[Scope]) -> None:
        self.scopes = tuple(scopes)

    def _check(self, info: Info) -> None:
        what = f"use `{info.field_name}`"
        for scope in self.scopes:
            info.context.require_scope(scope, what=what)

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        self._check(info)
        return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        self._check(info)
        result = next_(source, info, **kwargs)
        return await result if inspect.isawaitable(result) else result


def _staff_only(scopes: Collection[Scope], kwargs: dict[str, Any]) -> dict[str, Any]:
    if not scopes:
        raise ValueError("a staff-only field names the scopes it needs")
    directives = [
        *kwargs.pop("directives", ()),
        Authenticated(),
        RequiresScopes(scopes=[sorted(scope.value for scope in scopes)]),
    ]
    extensions = [*kwargs.pop("extensions", ()), _RequireScopes(scopes)]
    return {**kwargs, "directives": directives, "extensions": extensions}


def staff_field(resolver: Any = None, *, scopes: Collection[Scope], **kwargs: Any) -> Any:
    """A query field only staff holding all of `scopes` may use (`strawberry.field`'s
    other arguments pass through)."""
    options = _staff_only(scopes, kwargs)
    return strawberry.field(resolver, **options) if resolver else strawberry.field(**options)


def staff_mutation(resolver: Any = None, *, scopes: Collection[Scope], **kwargs: Any) -> Any:
    """A mutation only staff holding all of `scopes` may use."""
    options = _staff_only(scopes, kwargs)
    return strawberry.mutation(resolver, **options) if resolver else strawberry.mutation(**options)
