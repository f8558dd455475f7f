"""Persistent records."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class Decision(Base):
    """One check decision, as answered. Sensitive fact values are not kept, only their names."""

    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    received_at: Mapped[dt.datetime]
    as_of: Mapped[dt.date]
    employee_id: Mapped[str] = mapped_column(String(128))
    action_type: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[str | None] = mapped_column(String(128))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    case_id: Mapped[str | None] = mapped_column(String(128))
    verdict: Mapped[str] = mapped_column(String(8))
    findings: Mapped[list]
    ruleset_version: Mapped[str] = mapped_column(String(80))

    __table_args__ = (Index("ix_decisions_employee_received", "employee_id", "received_at"),)
