"""Column shapes the subgraphs' SQLModel tables share."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field


def timestamp(*, nullable: bool = False) -> Any:
    """A timezone-aware timestamp field (`None` by default when nullable)."""
    column = Column(DateTime(timezone=True), nullable=nullable)
    return Field(default=None, sa_column=column) if nullable else Field(sa_column=column)


def text_list() -> Any:
    """A non-null PostgreSQL `text[]` field, empty by default."""
    return Field(default_factory=list, sa_column=Column(ARRAY(String), nullable=False))
