"""API users: not a projection of the log, so `ledger rebuild` never truncates this table.

It lives on the ledger's declarative Base (one database, one Alembic history); ledger.models
imports this module so that Base.metadata always holds it and `alembic autogenerate` agrees.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from ledger.models import Base


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)  # bcrypt, salt and cost inside
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
