"""The user subgraph's GraphQL schema: the `User` entity and the account operations."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from kindred import member_state, sessions
from kindred.calendar import age_on, today
from kindred.context import RequestContext
from kindred.errors import BadUserInput, Forbidden, NotFound
from kindred.graphql import build_schema, describe_values
from kindred.ids import parse_id
from kindred.pagination import After, Connection, First, connection, page_size
from kindred.shared_types import USER_DESCRIPTION, Gender, Location
from kindred.staff import Scope, staff_field
from subgraphs.user import service
from subgraphs.user.models import AccountView
from subgraphs.user.models import Device as DeviceRow

Ctx = Info[RequestContext, None]


@strawberry.type(description="What a member is looking for in a match.")
class Preferences:
    min_age: int = strawberry.field(description="Youngest age sought, 18 or more.")
    max_age: int = strawberry.field(description="Oldest age sought.")
    genders_sought: list[Gender] = strawberry.field(description="Genders sought; empty means any.")
    max_distance_km: int = strawberry.field(description="How far away a match may live, in km.")


@strawberry.federation.type(keys=["id"], description=USER_DESCRIPTION)
class User:
    id: strawberry.ID = strawberry.field(description="Stable id of the member.")
    display_name: str = strawberry.field(description="The name shown to other members.")
    gender: Gender = strawberry.field(description="The member's gender.")
    bio: str | None = strawberry.field(description="A few words about the member.")
    interests: list[str] = strawberry.field(description="Interests, most important first.")
    languages: list[str] = strawberry.field(
        description="Spoken languages as codes (`en`, `pt-br`)."
    )
    version: int = strawberry.field(
        description="Profile version; pass it as `expectedVersion` to `updateProfile`."
    )
    created_at: datetime = strawberry.field(description="When the account was created.")
    updated_at: datetime = strawberry.field(description="When the profile last changed.")
    _account: strawberry.Private[AccountView]
    # Set on the payload of register/login: the caller just proved who they are.
    _signed_in: strawberry.Private[bool] = False

    def _owner_only(self, info: Ctx, field: str) -> None:
        if not self._signed_in and info.context.require_identity().user_id != str(self.id):
            raise Forbidden(f"Only the member can read their {field}.", field=field)

    @strawberry.field(description="Age in completed years, today.")
    def age(self) -> int:
        return age_on(self._account.birthdate, today())

    @strawberry.field(description="Sign-in email (the member's own).")
    def email(self, info: Ctx) -> str | None:
        self._owner_only(info, "email")
        return self._account.email

    @strawberry.field(description="Date of birth (the member's own; others see `age`).")
    def birthdate(self, info: Ctx) -> date | None:
        self._owner_only(info, "birthdate")
        return self._account.birthdate

    @strawberry.field(description="Where the member is, if shared (the member's own).")
    def location(self, info: Ctx) -> Location | None:
        self._owner_only(info, "location")
        return Location.from_coordinates(self._account.latitude, self._account.longitude)

    @strawberry.field(description="What the member looks for (the member's own).")
    def preferences(self, info: Ctx) -> Preferences | None:
        self._owner_only(info, "preferences")
        account = self._account
        return Preferences(
            min_age=account.min_age,
            max_age=account.max_age,
            genders_sought=[Gender(value) for value in account.genders_sought],
            max_distance_km=account.max_distance_km,
        )

    @classmethod
    def from_account(cls, account: AccountView, *, signed_in: bool = False) -> User:
        return cls(
            id=strawberry.ID(str(account.id)),
            display_name=account.display_name,
            gender=Gender(account.gender),
            bio=account.bio,
            interests=list(account.interests),
            languages=list(account.languages),
            version=account.version,
            created_at=account.created_at,
            updated_at=account.updated_at,
            _account=account,
            _signed_in=signed_in,
        )

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> User | None:
        info.context.require_identity()
        return await load_user(info, parse_id(id))


async def load_user(info: Ctx, user_id: uuid.UUID) -> User | None:
    """One user through the request's DataLoader: N lookups in a request cost one query."""
    platform = info.context.platform

    async def load(ids: list[uuid.UUID]) -> list[AccountView | None]:
        return await service.get_many(platform.db, platform.cache, ids)

    account = await info.context.loader("accounts", load).load(user_id)
    return User.from_account(account) if account is not None else None


@strawberry.enum(description="The platform a push token belongs to.")
class DevicePlatform(Enum):
    IOS = "IOS"
    ANDROID = "ANDROID"
    WEB = "WEB"


describe_values(
    DevicePlatform,
    IOS="An Apple device (APNs).",
    ANDROID="An Android device (FCM).",
    WEB="A browser (Web Push).",
)


@strawberry.type(description="A device that receives push notifications.")
class Device:
    id: strawberry.ID = strawberry.field(description="Id of this registration.")
    token: str = strawberry.field(description="The push token.")
    platform: DevicePlatform = strawberry.field(description="Where the token comes from.")
    created_at: datetime = strawberry.field(description="First registration.")
    updated_at: datetime = strawberry.field(description="Latest registration.")

    @classmethod
    def from_row(cls, row: DeviceRow) -> Device:
        return cls(
            id=strawberry.ID(str(row.id)),
            token=row.token,
            platform=DevicePlatform(row.platform),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="Tokens for a signed-in session.")
class AuthPayload:
    access_token: str = strawberry.field(description="Short-lived JWT: `Authorization: Bearer …`.")
    refresh_token: str = strawberry.field(
        description="Long-lived, single-use token for `refreshToken`."
    )
    token_type: str = strawberry.field(description="Always `Bearer`.")
    expires_in: int = strawberry.field(description="Seconds until the access token expires.")
    user: User = strawberry.field(description="The signed-in member.")


@strawberry.input(description="A new member's account.")
class RegisterInput:
    email: str = strawberry.field(description="Sign-in email, unique.")
    password: str = strawberry.field(description="8 to 128 characters.")
    display_name: str = strawberry.field(description="1 to 50 characters.")
    birthdate: date = strawberry.field(description="Members are 18 or older.")
    gender: Gender = strawberry.field(description="The member's gender.")


def _optional(description: str) -> Any:
    return strawberry.field(default=strawberry.UNSET, description=description)


@strawberry.input(description="A point on Earth, in decimal degrees.")
class LocationInput:
    latitude: float = strawberry.field(description="Degrees north, from -90 to 90.")
    longitude: float = strawberry.field(description="Degrees east, from -180 to 180.")


@strawberry.input(description="Changes to preferences; omitted fields stay as they are.")
class PreferencesInput:
    min_age: int | None = _optional("Youngest age sought, 18 to 120.")
    max_age: int | None = _optional("Oldest age sought, at least `minAge`.")
    genders_sought: list[Gender] | None = _optional("Genders sought; empty means any.")
    max_distance_km: int | None = _optional("How far away a match may live, 1 to 1000 km.")


@strawberry.input(
    description="Changes to a profile; omitted fields stay, `null` clears `bio` or `location`."
)
class ProfileInput:
    display_name: str | None = _optional("1 to 50 characters.")
    birthdate: date | None = _optional("Members are 18 or older.")
    gender: Gender | None = _optional("The member's gender.")
    bio: str | None = _optional("Up to 500 characters; `null` clears it.")
    location: LocationInput | None = _optional("Where the member is; `null` stops sharing it.")
    interests: list[str] | None = _optional("Up to 20, each up to 40 characters.")
    languages: list[str] | None = _optional("Up to 10 language codes such as `en` or `pt-br`.")
    preferences: PreferencesInput | None = _optional("Changes to what the member looks for.")


_CLEARABLE = {"bio", "location"}


def _changes(profile_input: ProfileInput) -> dict[str, Any]:
    """The fields the client sent, as plain values for the domain rules."""
    changes: dict[str, Any] = {}
    sent: dict[str, Any] = {
        "display_name": profile_input.display_name,
        "birthdate": profile_input.birthdate,
        "gender": profile_input.gender.value
        if isinstance(profile_input.gender, Gender)
        else profile_input.gender,
        "bio": profile_input.bio,
        "location": (profile_input.location.latitude, profile_input.location.longitude)
        if isinstance(profile_input.location, LocationInput)
        else profile_input.location,
        "interests": profile_input.interests,
        "languages": profile_input.languages,
    }
    preferences = profile_input.preferences
    if isinstance(preferences, PreferencesInput):
        sent.update(
            {
                "min_age": preferences.min_age,
                "max_age": preferences.max_age,
                "genders_sought": [g.value for g in preferences.genders_sought]
                if isinstance(preferences.genders_sought, list)
                else preferences.genders_sought,
                "max_distance_km": preferences.max_distance_km,
            }
        )
    for name, value in sent.items():
        if value is strawberry.UNSET:
            continue
        if value is None and name not in _CLEARABLE:
            raise BadUserInput(
                f"`{name}` cannot be null; omit it to leave it unchanged.", field=name
            )
        changes[name] = value
    return changes


async def _sign_in(info: Ctx, account: AccountView, refresh_token: str) -> AuthPayload:
    issuer = sessions.state_of(info.context).issuer
    return AuthPayload(
        access_token=issuer.access_token(account.id),
        refresh_token=refresh_token,
        token_type="Bearer",
        expires_in=issuer.ttl_seconds,
        user=User.from_account(account, signed_in=True),
    )


def _with_appeal_token(info: Ctx, banned: service.Banned) -> Forbidden:
    """The ban refusing a sign-in with the right password, with the appeal token that lets
    the member read and appeal their ban (the one way a banned member may still act)."""
    token = sessions.state_of(info.context).issuer.appeal_token(banned.user_id)
    return Forbidden(
        "This account is banned; `extensions.appealToken` lets you read why and appeal.",
        **banned.details,
        appealToken=token,
    )


@strawberry.enum(description="Where a member's account stands, as staff see it.")
class AccountState(Enum):
    ACTIVE = "ACTIVE"
    DELETED = "DELETED"


describe_values(
    AccountState,
    ACTIVE="The account exists and may sign in (moderation may still restrict it).",
    DELETED="The member closed the account; the row stays for staff.",
)


@strawberry.type(
    description="A member's account as staff see it: sign-in email and account state. The "
    "member's profile, standing (`moderationStatus`) and subscription are on `user`."
)
class MemberAccount:
    id: strawberry.ID = strawberry.field(description="The member's user id.")
    email: str = strawberry.field(description="The member's sign-in email.")
    display_name: str = strawberry.field(description="The name shown to other members.")
    state: AccountState = strawberry.field(description="ACTIVE or DELETED.")
    version: int = strawberry.field(description="The profile's version.")
    created_at: datetime = strawberry.field(description="When the account was created.")
    updated_at: datetime = strawberry.field(description="When the profile last changed.")
    deleted_at: datetime | None = strawberry.field(
        description="When the member closed the account; null while ACTIVE."
    )

    @strawberry.field(
        description="The member as the rest of the graph knows them (null once DELETED): "
        "their standing, subscription and other staff-visible fields."
    )
    async def user(self, info: Ctx) -> User | None:
        if self.state == AccountState.DELETED:
            return None
        return await load_user(info, parse_id(self.id))

    @classmethod
    def from_row(cls, row: Any) -> MemberAccount:
        return cls(
            id=strawberry.ID(str(row.id)),
            email=row.email,
            display_name=row.display_name,
            state=AccountState.DELETED if row.deleted_at else AccountState.ACTIVE,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            deleted_at=row.deleted_at,
        )


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in member.")
    async def me(self, info: Ctx) -> User:
        identity = info.context.require_identity()
        user = await load_user(info, parse_id(identity.user_id))
        if user is None:
            raise NotFound("Your account no longer exists.")
        return user

    @strawberry.field(
        description="A member by id; `NOT_FOUND` if there is none, or if either of you "
        "blocks the other (a block hides both people from each other)."
    )
    async def user(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="The member's id.")],
    ) -> User:
        caller = info.context.caller_id()
        target = parse_id(id)
        if target != caller:
            async with info.context.platform.db.session() as session:
                hidden = await member_state.blocked_between(session, caller, [target])
            if hidden:
                raise NotFound("No such user.", id=str(id))
        user = await load_user(info, target)
        if user is None:
            raise NotFound("No such user.", id=str(id))
        return user

    @staff_field(
        scopes=[Scope.MEMBERS_READ],
        description="A member's account by id, deleted ones too; staff only. NOT_FOUND if "
        "there is none.",
    )
    async def staff_member(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="The member's id.")],
    ) -> MemberAccount:
        async with info.context.platform.db.read() as conn:
            row = await service.account_for_staff(conn, user_id=parse_id(id))
        if row is None:
            raise NotFound("No such member.", field="id")
        return MemberAccount.from_row(row)

    @staff_field(
        scopes=[Scope.MEMBERS_READ],
        description="Members whose sign-in email starts with `email` (case does not "
        "matter), newest first; staff only.",
    )
    async def staff_member_search(
        self,
        info: Ctx,
        email: Annotated[
            str, strawberry.argument(description="The email, or its beginning (1 to 254).")
        ],
        first: First = None,
        after: After = None,
    ) -> Connection[MemberAccount]:
        size = page_size(first)
        async with info.context.platform.db.read() as conn:
            rows = await service.search_accounts_by_email(
                conn, email=email, first=size, after=after
            )
        return connection(
            rows, first=size, node=MemberAccount.from_row, key=lambda row: (row.created_at, row.id)
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Creates an account and signs it in.")
    async def register(
        self,
        info: Ctx,
        input: Annotated[
            RegisterInput, strawberry.argument(description="The new member's sign-in and profile.")
        ],
    ) -> AuthPayload:
        platform = info.context.platform
        async with platform.db.unit_of_work() as uow:
            account = await service.register(
                uow,
                email=input.email,
                password=input.password,
                display_name=input.display_name,
                birthdate=input.birthdate,
                gender=input.gender.value,
                today=today(),
            )
            refresh = await service.SESSIONS.issue(
                uow.session,
                owner_id=account.id,
                ttl_seconds=platform.settings.refresh_token_ttl_seconds,
            )
            await uow.commit()
        return await _sign_in(info, AccountView.from_row(account), refresh)

    @strawberry.mutation(
        description="Signs in with email and password; a suspended member may sign in. A "
        "banned member with the right password is `FORBIDDEN` (`extensions.reason` BANNED) "
        "with `extensions.appealToken`: a bearer token, valid 15 minutes, that only reads "
        "their moderation standing and actions (`myModerationStatus`, "
        "`myModerationActions`) and appeals them (`appealAction`); anything else answers it "
        "`UNAUTHENTICATED`."
    )
    async def login(
        self,
        info: Ctx,
        email: Annotated[
            str, strawberry.argument(description="The address the member signed up with.")
        ],
        password: Annotated[str, strawberry.argument(description="The member's password.")],
    ) -> AuthPayload:
        platform, state = info.context.platform, sessions.state_of(info.context)
        try:
            account, refresh = await sessions.sign_in(
                platform.db,
                platform.limiter,
                state.limits,
                service.SESSIONS,
                email=email,
                password=password,
                address=info.context.client_address,
                refresh_ttl_seconds=platform.settings.refresh_token_ttl_seconds,
                authenticate=service.authenticate,
            )
        except service.Banned as banned:
            raise _with_appeal_token(info, banned) from None
        return await _sign_in(info, AccountView.from_row(account), refresh)

    @strawberry.mutation(
        description="Trades a refresh token for new tokens (it is single-use). A banned "
        "member is `FORBIDDEN` and the token stays unspent (`login` answers them an appeal "
        "token)."
    )
    async def refresh_token(
        self,
        info: Ctx,
        refresh_token: Annotated[
            str,
            strawberry.argument(description="The refresh token from the last sign-in or refresh."),
        ],
    ) -> AuthPayload:
        platform, state = info.context.platform, sessions.state_of(info.context)
        user_id, refresh = await sessions.refresh_session(
            platform.db,
            platform.limiter,
            state.limits,
            service.SESSIONS,
            token=refresh_token,
            address=info.context.client_address,
            refresh_ttl_seconds=platform.settings.refresh_token_ttl_seconds,
            check_owner=service.not_banned,
        )
        accounts = await service.get_many(platform.db, platform.cache, [user_id])
        if accounts[0] is None:
            raise NotFound("Your account no longer exists.")
        return await _sign_in(info, accounts[0], refresh)

    @strawberry.mutation(description="Revokes a refresh token; true even if it was already.")
    async def logout(
        self,
        info: Ctx,
        refresh_token: Annotated[
            str, strawberry.argument(description="The refresh token of the session to end.")
        ],
    ) -> bool:
        await service.SESSIONS.end(info.context.platform.db, token=refresh_token)
        return True

    @strawberry.mutation(
        description="Changes the signed-in member's profile if it is still at "
        "`expectedVersion`; otherwise `CONFLICT` and nothing changes."
    )
    async def update_profile(
        self,
        info: Ctx,
        input: Annotated[
            ProfileInput,
            strawberry.argument(
                description="The fields to change; those left out stay as they are."
            ),
        ],
        expected_version: Annotated[
            int, strawberry.argument(description="The profile's version you last read.")
        ],
    ) -> User:
        identity = info.context.require_identity()
        platform = info.context.platform
        async with platform.db.unit_of_work() as uow:
            account = await service.update_profile(
                uow,
                user_id=parse_id(identity.user_id),
                expected_version=expected_version,
                changes=_changes(input),
                today=today(),
            )
            await uow.commit()
        await service.refresh_cache(platform.cache, account)
        return User.from_account(account)

    @strawberry.mutation(description="Registers a push token (idempotent: again is the same).")
    async def register_device(
        self,
        info: Ctx,
        token: Annotated[str, strawberry.argument(description="The device's push token.")],
        platform: Annotated[
            DevicePlatform, strawberry.argument(description="Where the push token comes from.")
        ],
    ) -> Device:
        identity = info.context.require_identity()
        async with info.context.platform.db.unit_of_work() as uow:
            row = await service.register_device(
                uow,
                user_id=parse_id(identity.user_id),
                token=token,
                platform=platform.value,
            )
            await uow.commit()
        return Device.from_row(row)

    @strawberry.mutation(
        description="Removes one of the signed-in member's push tokens; false if it was not theirs."
    )
    async def remove_device(
        self,
        info: Ctx,
        token: Annotated[str, strawberry.argument(description="The push token to remove.")],
    ) -> bool:
        identity = info.context.require_identity()
        async with info.context.platform.db.unit_of_work() as uow:
            removed = await service.remove_device(
                uow, user_id=parse_id(identity.user_id), token=token
            )
            await uow.commit()
        return removed

    @strawberry.mutation(description="Closes the signed-in member's account.")
    async def delete_account(self, info: Ctx) -> bool:
        identity = info.context.require_identity()
        platform = info.context.platform
        async with platform.db.unit_of_work() as uow:
            account = await service.delete_account(uow, user_id=parse_id(identity.user_id))
            await uow.commit()
        await service.forget_cached(platform.cache, account.id, version=account.version)
        return True


schema = build_schema(query=Query, mutation=Mutation, types=[User])
