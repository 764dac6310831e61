"""The admin subgraph's tables: staff accounts, their sessions, and the audit log.

They live on their own SQLModel registry: other subgraphs' models are imported into one
process by the tests.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

import kindred.columns as columns


class AdminTable(SQLModel, registry=registry()):
    """Base of this subgraph's tables: a metadata of their own."""


class StaffAccount(AdminTable, table=True):
    """A staff member: credentials and one role (its scopes come from kindred.staff).

    `version` counts every change (role, disabling); a disabled account cannot sign in and
    its sessions are revoked, while an access token already out lives out its short TTL."""

    __tablename__ = "staff"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(unique=True)
    password_hash: str
    display_name: str
    role: str
    version: int = 1
    created_at: datetime = columns.timestamp()
    updated_at: datetime = columns.timestamp()
    disabled_at: datetime | None = columns.timestamp(nullable=True)


class StaffRefreshToken(AdminTable, table=True):
    """A staff refresh token, stored only as its SHA-256; rotated on every use."""

    __tablename__ = "staff_refresh_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    staff_id: uuid.UUID = Field(index=True)
    token_hash: str = Field(unique=True)
    created_at: datetime = columns.timestamp()
    expires_at: datetime = columns.timestamp()
    revoked_at: datetime | None = columns.timestamp(nullable=True)


class AuditEntry(AdminTable, table=True):
    """One staff action: who did what to which target, when, the target before and after,
    and the outcome (SUCCEEDED, REFUSED by the owner, or FAILED to reach it).

    Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE. A staff member's
    `idempotency_key` names one action: a retry with the same key answers what the first
    attempt recorded (a FAILED attempt, which changed nothing, may be tried again)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index(
            "ux_audit_log_idempotency",
            "staff_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL AND outcome <> 'FAILED'"),
        ),
        Index("ix_audit_log_created", "created_at", "id"),
        Index("ix_audit_log_staff", "staff_id", "created_at", "id"),
        Index("ix_audit_log_target", "target_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    staff_id: uuid.UUID
    staff_email: str
    action: str
    target_type: str
    target_id: str
    idempotency_key: str | None = None
    request: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    outcome: str
    error_code: str | None = None
    error_message: str | None = None
    trace_id: str | None = None
    created_at: datetime = columns.timestamp()
