"""What the moderation subgraph does: take reports, gather them and screening hits into
cases, act on cases, keep each member's standing, and hear appeals."""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kindred.db import Database, UnitOfWork
from kindred.errors import BadUserInput, Conflict, NotFound
from kindred.pagination import older_than
from kindred.ratelimit import RateLimit, RateLimiter
from kindred.settings import Settings
from subgraphs.moderation import cases, events
from subgraphs.moderation.cases import ActionKind, AppealStatus, CaseStatus, StandingStatus
from subgraphs.moderation.models import Action, Appeal, Case, Flag, Member, Report, Standing
from subgraphs.moderation.screening import DEFAULT_TERMS, TermList

MAX_DETAILS_LENGTH = 1000
MAX_APPEAL_LENGTH = 2000
# Evidence keeps the screened text, up to this much.
MAX_EVIDENCE_LENGTH = 2000
# How many ended suspensions one sweep records.
SWEEP_BATCH = 100


class ReportReason(StrEnum):
    HARASSMENT = "HARASSMENT"
    HATE_SPEECH = "HATE_SPEECH"
    SPAM = "SPAM"
    SCAM = "SCAM"
    INAPPROPRIATE_CONTENT = "INAPPROPRIATE_CONTENT"
    FAKE_PROFILE = "FAKE_PROFILE"
    UNDERAGE = "UNDERAGE"
    OTHER = "OTHER"


class FlagSource(StrEnum):
    MESSAGE = "MESSAGE"
    PROFILE_BIO = "PROFILE_BIO"


def _now() -> datetime:
    return datetime.now(UTC)


def report_limit(settings: Settings) -> RateLimit:
    """Reports per reporter (`KINDRED_REPORT_LIMIT` per `KINDRED_REPORT_WINDOW_SECONDS`)."""
    return RateLimit(
        "report",
        settings.report_limit,
        settings.report_window_seconds,
        message="You have filed many reports recently; try again in {wait}.",
    )


def term_list(settings: Settings) -> TermList:
    """The screened terms: `KINDRED_SCREENING_TERMS`, or the defaults when unset."""
    if settings.screening_terms is None:
        return TermList.of(DEFAULT_TERMS)
    return TermList.parse(settings.screening_terms)


# -- input rules ----------------------------------------------------------------------


def _check_free_text(value: str, *, field: str, limit: int, what: str) -> None:
    if not value.strip():
        raise BadUserInput(f"{what} needs some text.", field=field)
    if len(value) > limit:
        raise BadUserInput(f"{what} is at most {limit} characters.", field=field)
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
        raise BadUserInput(f"{what} may not hold control characters.", field=field)


def check_report(
    *, reporter_id: uuid.UUID, reported_user_id: uuid.UUID, reason: str, details: str | None
) -> None:
    """`BAD_USER_INPUT` for a report of yourself, or a reason that is not explained enough:
    OTHER needs `details`; `details` are at most 1,000 characters."""
    if reporter_id == reported_user_id:
        raise BadUserInput("You cannot report yourself.", field="userId")
    if details is not None:
        _check_free_text(details, field="details", limit=MAX_DETAILS_LENGTH, what="`details`")
    elif reason == ReportReason.OTHER:
        raise BadUserInput(
            "Say what happened in `details` when the reason is OTHER.", field="details"
        )


def check_appeal_text(text: str) -> None:
    """`BAD_USER_INPUT` on `text` unless it is 1 to 2,000 characters."""
    _check_free_text(text, field="text", limit=MAX_APPEAL_LENGTH, what="An appeal")


# -- members (the user subgraph's events) -------------------------------------------------


async def _record_member(
    session: AsyncSession, *, user_id: uuid.UUID, version: int, deleted: bool
) -> bool:
    """Stores the member as of `version` unless the row is as new or newer; True if stored.
    A deletion is final: nothing revives a deleted member."""
    now = _now()
    statement = (
        insert(Member)
        .values(user_id=user_id, version=version, deleted=deleted, updated_at=now)
        .on_conflict_do_update(
            index_elements=["user_id"],
            set_={"version": version, "deleted": deleted, "updated_at": now},
            where=(col(Member.version) < version) & ~col(Member.deleted),
        )
        .returning(col(Member.user_id))
    )
    return (await session.exec(statement)).first() is not None


async def member_seen(session: AsyncSession, *, user_id: uuid.UUID, version: int) -> bool:
    """`user.profile.updated`: the member exists as of `version`."""
    return await _record_member(session, user_id=user_id, version=version, deleted=False)


async def member_deleted(session: AsyncSession, *, user_id: uuid.UUID, version: int) -> bool:
    """`user.deleted`: the member is gone as of `version` (the row stays, to order news)."""
    return await _record_member(session, user_id=user_id, version=version, deleted=True)


async def is_member(session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False) -> bool:
    """True for a known member whose account is not deleted; `lock` holds the row (shared)
    until the transaction ends, so the member cannot be deleted meanwhile."""
    statement = select(col(Member.user_id)).where(
        col(Member.user_id) == user_id, col(Member.deleted).is_(False)
    )
    if lock:
        statement = statement.with_for_update(read=True)
    return (await session.exec(statement)).first() is not None


# -- cases ------------------------------------------------------------------------------


async def open_case_for(session: AsyncSession, *, user_id: uuid.UUID, now: datetime) -> Case:
    """The member's case that is not closed yet, locked; opened if there is none."""
    for _ in range(3):
        await session.exec(
            insert(Case)
            .values(
                id=uuid.uuid4(),
                user_id=user_id,
                status=CaseStatus.OPEN.value,
                version=1,
                opened_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        statement = select(Case).where(
            col(Case.user_id) == user_id, col(Case.status).in_(list(cases.OPEN_STATUSES))
        )
        case = (await session.exec(statement.with_for_update())).first()
        if case is not None:  # else it closed in between: open another
            return case
    raise Conflict("The member's case is changing; try again.")


async def _locked_case(session: AsyncSession, case_id: uuid.UUID) -> Case:
    statement = select(Case).where(col(Case.id) == case_id).with_for_update()
    case = (await session.exec(statement)).first()
    if case is None:
        raise NotFound("No such case.", field="caseId")
    return case


def _gathered(case: Case, now: datetime) -> None:
    """New evidence joined the case."""
    case.version += 1
    case.updated_at = now


async def file_report(
    database: Database,
    limiter: RateLimiter,
    rule: RateLimit,
    *,
    reporter_id: uuid.UUID,
    reported_user_id: uuid.UUID,
    reason: ReportReason,
    details: str | None,
    conversation_id: uuid.UUID | None,
    message_id: uuid.UUID | None,
) -> tuple[Report, Case]:
    """Files the report into the reported member's open case (opened if need be), within
    the reporter's limit (`RATE_LIMITED`); bad input is refused before it counts. An id
    that is no member (unknown, or deleted) is `NOT_FOUND`, changes nothing and does not
    count either."""
    check_report(
        reporter_id=reporter_id,
        reported_user_id=reported_user_id,
        reason=reason,
        details=details,
    )
    hit = await limiter.hit(rule, str(reporter_id))
    try:
        async with database.unit_of_work() as uow:
            session = uow.session
            if not await is_member(session, reported_user_id, lock=True):
                raise NotFound("No such member.", field="userId")
            now = _now()
            case = await open_case_for(session, user_id=reported_user_id, now=now)
            report = Report(
                case_id=case.id,
                reporter_id=reporter_id,
                reported_user_id=reported_user_id,
                reason=reason.value,
                details=details,
                conversation_id=conversation_id,
                message_id=message_id,
                created_at=now,
            )
            session.add(report)
            _gathered(case, now)
            session.add(case)
            uow.publish(events.report_filed(report))
            await uow.commit()
    except Exception:
        await limiter.undo(hit)  # not filed: it does not count
        raise
    return report, case


async def raise_flag(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    source: FlagSource,
    source_key: str,
    terms: Sequence[str],
    text: str,
    conversation_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
) -> Flag | None:
    """Files screening evidence into the member's open case; None if this text was flagged
    before (same source and key)."""
    seen = select(col(Flag.id)).where(
        col(Flag.source) == source.value, col(Flag.source_key) == source_key
    )
    if (await session.exec(seen)).first() is not None:
        return None
    now = _now()
    case = await open_case_for(session, user_id=user_id, now=now)
    flag = Flag(
        case_id=case.id,
        user_id=user_id,
        source=source.value,
        source_key=source_key,
        terms=list(terms),
        text=text[:MAX_EVIDENCE_LENGTH],
        conversation_id=conversation_id,
        message_id=message_id,
        created_at=now,
    )
    inserted = await session.exec(
        insert(Flag).values(**flag.model_dump()).on_conflict_do_nothing().returning(col(Flag.id))
    )
    if inserted.first() is None:
        return None
    _gathered(case, now)
    session.add(case)
    return flag


async def screen_message(
    session: AsyncSession,
    terms: TermList,
    *,
    message_id: uuid.UUID,
    sender_id: uuid.UUID,
    conversation_id: uuid.UUID,
    text: str,
) -> Flag | None:
    """Raises a case with the evidence if the message holds screened terms, once."""
    found = terms.find(text)
    if not found:
        return None
    return await raise_flag(
        session,
        user_id=sender_id,
        source=FlagSource.MESSAGE,
        source_key=str(message_id),
        terms=found,
        text=text,
        conversation_id=conversation_id,
        message_id=message_id,
    )


async def screen_bio(
    session: AsyncSession, terms: TermList, *, user_id: uuid.UUID, bio: str | None
) -> Flag | None:
    """Raises a case with the evidence if the bio holds screened terms, once per bio text."""
    found = terms.find(bio or "")
    if not found or bio is None:
        return None
    digest = hashlib.sha256(bio.encode()).hexdigest()[:32]
    return await raise_flag(
        session,
        user_id=user_id,
        source=FlagSource.PROFILE_BIO,
        source_key=f"{user_id}:{digest}",
        terms=found,
        text=bio,
    )


async def start_review(session: AsyncSession, *, case_id: uuid.UUID) -> Case:
    """OPEN → IN_REVIEW (`CONFLICT` otherwise, `NOT_FOUND` for an unknown case)."""
    case = await _locked_case(session, case_id)
    cases.start_review(case, now=_now())
    session.add(case)
    return case


async def _standing(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> Standing:
    """The member's standing row, locked; created (ACTIVE, version 0) if there is none."""
    await session.exec(
        insert(Standing)
        .values(user_id=user_id, status=StandingStatus.ACTIVE.value, version=0, updated_at=now)
        .on_conflict_do_nothing()
    )
    statement = select(Standing).where(col(Standing.user_id) == user_id).with_for_update()
    return (await session.exec(statement)).one()


async def take_action(
    uow: UnitOfWork,
    *,
    case_id: uuid.UUID,
    kind: ActionKind,
    until: datetime | None,
    reason: str,
    moderator_id: uuid.UUID,
) -> Action:
    """Closes the case with the action and publishes `moderation.action.taken`; SUSPEND and
    BAN also change the member's standing and publish `user.suspended`, in `uow`."""
    now = _now()
    cases.check_action(kind, until=until, reason=reason, now=now)
    session = uow.session
    case = await _locked_case(session, case_id)
    cases.close(case, kind, now=now)
    action = Action(
        case_id=case.id,
        user_id=case.user_id,
        kind=kind.value,
        until=until,
        reason=reason,
        moderator_id=moderator_id,
        created_at=now,
    )
    session.add(case)
    session.add(action)
    if kind in cases.RESTRICTING:
        standing = await _standing(session, case.user_id, now)
        cases.restrict(
            standing,
            kind,
            until=until,
            reason=reason,
            action_id=action.id,
            case_id=case.id,
            now=now,
        )
        session.add(standing)
        uow.publish(events.user_suspended(standing))
    uow.publish(events.action_taken(action, case))
    return action


async def end_suspensions(database: Database) -> int:
    """Records the suspensions whose time has passed and publishes `user.reinstated` for
    each, once; how many. Readers never wait for this (they compare `until` with now)."""
    async with database.unit_of_work() as uow:
        now = _now()
        statement = (
            select(Standing)
            .where(
                col(Standing.status) == StandingStatus.SUSPENDED.value, col(Standing.until) <= now
            )
            .order_by(col(Standing.until))
            .limit(SWEEP_BATCH)
            .with_for_update(skip_locked=True)
        )
        ended = list((await uow.session.exec(statement)).all())
        for standing in ended:
            if cases.reinstate(standing, now=now):
                uow.session.add(standing)
                uow.publish(events.user_reinstated(standing))
        await uow.commit()
    return len(ended)


# -- appeals ----------------------------------------------------------------------------


async def appeal(
    session: AsyncSession, *, action_id: uuid.UUID, user_id: uuid.UUID, text: str
) -> Appeal:
    """The member's one appeal of an action taken on them. Someone else's action is
    `NOT_FOUND`; a DISMISS `BAD_USER_INPUT`; a second appeal `CONFLICT`."""
    check_appeal_text(text)
    action = await session.get(Action, action_id)
    if action is None or action.user_id != user_id:
        raise NotFound("No such action.", field="actionId")
    if action.kind not in cases.MEMBER_ACTIONS:
        raise BadUserInput("Only warnings, suspensions and bans can be appealed.", field="actionId")
    appeal = Appeal(action_id=action_id, user_id=user_id, text=text, created_at=_now())
    inserted = await session.exec(
        insert(Appeal)
        .values(**appeal.model_dump())
        .on_conflict_do_nothing()
        .returning(col(Appeal.id))
    )
    if inserted.first() is None:
        raise Conflict("You have already appealed this action; an action is appealed once.")
    return appeal


async def decide_appeal(
    uow: UnitOfWork, *, appeal_id: uuid.UUID, outcome: AppealStatus, moderator_id: uuid.UUID
) -> Appeal:
    """UPHELD or OVERTURNED (`CONFLICT` once decided), publishing `moderation.appeal.decided`.

    Overturning the suspension or ban in force reinstates the member (`user.reinstated`)."""
    session = uow.session
    statement = select(Appeal).where(col(Appeal.id) == appeal_id).with_for_update()
    appeal = (await session.exec(statement)).first()
    if appeal is None:
        raise NotFound("No such appeal.", field="appealId")
    now = _now()
    cases.decide_appeal(appeal, outcome, moderator_id=moderator_id, now=now)
    session.add(appeal)
    if outcome == AppealStatus.OVERTURNED:
        action = await session.get(Action, appeal.action_id, with_for_update=True)
        assert action is not None, "an appeal is of an action"
        action.overturned_at = now
        session.add(action)
        if action.kind in cases.RESTRICTING:
            standing = await _standing(session, action.user_id, now)
            if standing.action_id == action.id and cases.reinstate(standing, now=now):
                session.add(standing)
                uow.publish(events.user_reinstated(standing))
    uow.publish(events.appeal_decided(appeal))
    return appeal


# -- reads --------------------------------------------------------------------------------


def _in_order(rows: Any, ids: Sequence[Any], key: str) -> list[Any]:
    found = {getattr(row, key): row for row in rows}
    return [found.get(id_) for id_ in ids]


def _page(statement: Any, created_at: Any, id_: Any, *, first: int, after: str | None) -> Any:
    statement = statement.order_by(created_at.desc(), id_.desc()).limit(first + 1)
    cursor = older_than(created_at, id_, after, id_type=uuid.UUID)
    return statement.where(cursor) if cursor is not None else statement


_REPORT_WITH_STATUS: Any = select(Report, col(Case.status).label("case_status")).join(
    Case, col(Case.id) == col(Report.case_id)
)


async def reports_of(
    connection: AsyncConnection, *, reporter_id: uuid.UUID, first: int, after: str | None
) -> list[Row[Any]]:
    """Up to `first + 1` of the reports the member filed, newest first, with their case's status."""
    statement = _REPORT_WITH_STATUS.where(col(Report.reporter_id) == reporter_id)
    statement = _page(statement, col(Report.created_at), col(Report.id), first=first, after=after)
    return list((await connection.execute(statement)).all())


async def reports_in_case(
    connection: AsyncConnection, *, case_id: uuid.UUID, first: int, after: str | None
) -> list[Row[Any]]:
    """Up to `first + 1` of the case's reports, newest first."""
    statement = _REPORT_WITH_STATUS.where(col(Report.case_id) == case_id)
    statement = _page(statement, col(Report.created_at), col(Report.id), first=first, after=after)
    return list((await connection.execute(statement)).all())


async def flags_in_case(
    connection: AsyncConnection, *, case_id: uuid.UUID, first: int, after: str | None
) -> list[Row[Any]]:
    """Up to `first + 1` of the case's screening evidence, newest first."""
    statement = select(Flag).where(col(Flag.case_id) == case_id)
    statement = _page(statement, col(Flag.created_at), col(Flag.id), first=first, after=after)
    return list((await connection.execute(statement)).all())


async def cases_list(
    connection: AsyncConnection, *, status: CaseStatus | None, first: int, after: str | None
) -> list[Row[Any]]:
    """Up to `first + 1` cases (of one status, if given), most recently opened first."""
    statement = select(Case)
    if status is not None:
        statement = statement.where(col(Case.status) == status.value)
    statement = _page(statement, col(Case.opened_at), col(Case.id), first=first, after=after)
    return list((await connection.execute(statement)).all())


async def cases_by_id(
    connection: AsyncConnection, ids: Sequence[uuid.UUID]
) -> list[Row[Any] | None]:
    """These cases, in order (None for an unknown id), in one query."""
    rows = await connection.execute(select(Case).where(col(Case.id).in_(ids)))
    return _in_order(rows, ids, "id")


async def actions_in_cases(
    connection: AsyncConnection, case_ids: Sequence[uuid.UUID]
) -> list[list[Row[Any]]]:
    """Each case's actions, oldest first, in one query."""
    rows = await connection.execute(
        select(Action).where(col(Action.case_id).in_(case_ids)).order_by(col(Action.created_at))
    )
    grouped: dict[uuid.UUID, list[Row[Any]]] = {id_: [] for id_ in case_ids}
    for row in rows:
        grouped[row.case_id].append(row)
    return [grouped[id_] for id_ in case_ids]


async def actions_of(
    connection: AsyncConnection, *, user_id: uuid.UUID, first: int, after: str | None
) -> list[Row[Any]]:
    """Up to `first + 1` of the actions taken on the member (not dismissals), newest first."""
    statement = select(Action).where(
        col(Action.user_id) == user_id,
        col(Action.kind).in_([k.value for k in cases.MEMBER_ACTIONS]),
    )
    statement = _page(statement, col(Action.created_at), col(Action.id), first=first, after=after)
    return list((await connection.execute(statement)).all())


async def actions_by_id(
    connection: AsyncConnection, ids: Sequence[uuid.UUID]
) -> list[Row[Any] | None]:
    """These actions, in order, in one query."""
    rows = await connection.execute(select(Action).where(col(Action.id).in_(ids)))
    return _in_order(rows, ids, "id")


async def appeals_by_action(
    connection: AsyncConnection, action_ids: Sequence[uuid.UUID]
) -> list[Row[Any] | None]:
    """Each action's appeal (None where there is none), in one query."""
    rows = await connection.execute(select(Appeal).where(col(Appeal.action_id).in_(action_ids)))
    return _in_order(rows, action_ids, "action_id")


async def appeals_list(
    connection: AsyncConnection, *, status: AppealStatus | None, first: int, after: str | None
) -> list[Row[Any]]:
    """Up to `first + 1` appeals (of one status, if given), newest first."""
    statement = select(Appeal)
    if status is not None:
        statement = statement.where(col(Appeal.status) == status.value)
    statement = _page(statement, col(Appeal.created_at), col(Appeal.id), first=first, after=after)
    return list((await connection.execute(statement)).all())


async def standings_of(
    connection: AsyncConnection, user_ids: Sequence[uuid.UUID]
) -> list[Row[Any] | None]:
    """Each member's standing row (None for members never restricted), in one query."""
    rows = await connection.execute(select(Standing).where(col(Standing.user_id).in_(user_ids)))
    return _in_order(rows, user_ids, "user_id")


def standing_status(row: Any, now: datetime | None = None) -> StandingStatus:
    """Where the member stands now (a suspension past its end is over)."""
    return cases.status_at(row, now or _now())
