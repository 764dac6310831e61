"""Staff: their roles, the scopes each role grants, and fields only staff may use.

Staff sign in through the admin subgraph, whose tokens carry the staff member's `roles` and
the `scope` those grant (space-separated). A staff-only field says so in the schema
(`@authenticated @requiresScopes`, for the router and for readers) and is checked by the
subgraph itself before its resolver runs, so calling a subgraph's port directly is refused
the same way as going through the gateway.

A staff action on what a subgraph owns must land in the admin subgraph's audit log, so the
owner's mutation is *audited* (`staff_mutation(..., audited_via="actOnCase")`): it takes only
the action token the admin subgraph mints for the audit entry it writes and for this very
mutation (kindred.auth, `Identity.audit_id` and `Identity.action`); a staff member's own
token is FORBIDDEN there, naming the admin subgraph's mutation to use instead, and so is an
action token minted for another mutation."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection, Iterable
from enum import StrEnum
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.federation.schema_directives import Authenticated, RequiresScopes
from strawberry.types import Info

from kindred.errors import Forbidden


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
    """Refuses the field unless the caller is staff holding every one of `scopes` (and, for
    an audited mutation, with an action token of the admin subgraph's `audited_via`)."""

    def __init__(self, scopes: Collection[Scope], audited_via: str | None = None) -> None:
        self.scopes = tuple(scopes)
        self.audited_via = audited_via

    def _check(self, info: Info) -> None:
        what = f"use `{info.field_name}`"
        for scope in self.scopes:
            info.context.require_scope(scope, what=what)
        if self.audited_via is None:
            return
        identity = info.context.require_identity()
        if identity.audit_id is None:
            raise Forbidden(
                f"Staff actions go through the admin subgraph's `{self.audited_via}`, which "
                f"writes them to the audit log; `{info.field_name}` takes only the action "
                "token it sends.",
                reason="NOT_AUDITED",
                via=self.audited_via,
            )
        if identity.action != info.field_name:
            raise Forbidden(
                f"This action token is for `{identity.action}`, not `{info.field_name}`: "
                f"the admin subgraph's `{self.audited_via}` mints one for each action.",
                reason="WRONG_ACTION",
                via=self.audited_via,
            )

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        self._check(info)
        return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        self._check(info)
        result = next_(source, info, **kwargs)
        return await result if inspect.isawaitable(result) else result


def _staff_only(
    scopes: Collection[Scope], kwargs: dict[str, Any], audited_via: str | None = None
) -> dict[str, Any]:
    if not scopes:
        raise ValueError("a staff-only field names the scopes it needs")
    directives = [
        *kwargs.pop("directives", ()),
        Authenticated(),
        RequiresScopes(scopes=[sorted(scope.value for scope in scopes)]),
    ]
    extensions = [*kwargs.pop("extensions", ()), _RequireScopes(scopes, audited_via)]
    if audited_via is not None:
        kwargs["description"] = (
            f"{kwargs.get('description') or ''} Audited: staff use the admin subgraph's "
            f"`{audited_via}`, which writes the audit log and calls this with an action "
            "token; a staff member's own token is FORBIDDEN here."
        ).strip()
    return {**kwargs, "directives": directives, "extensions": extensions}


def staff_field(resolver: Any = None, *, scopes: Collection[Scope], **kwargs: Any) -> Any:
    """A query field only staff holding all of `scopes` may use (`strawberry.field`'s
    other arguments pass through)."""
    options = _staff_only(scopes, kwargs)
    return strawberry.field(resolver, **options) if resolver else strawberry.field(**options)


def staff_mutation(
    resolver: Any = None,
    *,
    scopes: Collection[Scope],
    audited_via: str | None = None,
    **kwargs: Any,
) -> Any:
    """A mutation only staff holding all of `scopes` may use; with `audited_via` (the admin
    subgraph's mutation that audits it), only with that mutation's action token (the
    description says so)."""
    options = _staff_only(scopes, kwargs, audited_via)
    return strawberry.mutation(resolver, **options) if resolver else strawberry.mutation(**options)
