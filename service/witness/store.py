"""The witness's own storage: per log origin, the latest checkpoint it cosigned.

Its own database (WITNESS_DATABASE_URL, a SQLite file by default), never the service's: whoever
runs the service's database cannot move the witness's memory of the log. Checking the old size
and recording the new checkpoint are one compare-and-set statement (an UPDATE that matches the
old size and root, or an INSERT that the primary key refuses a second time), so two submissions
racing can never roll the record back (the race c2sp.org/tlog-witness describes).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (BigInteger, Column, DateTime, LargeBinary, MetaData, String, Table, Text, create_engine,
                        insert, select, update)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from service.clock import utcnow

metadata = MetaData()
cosigned = Table(
    "witness_cosigned", metadata,
    Column("origin", String(255), primary_key=True),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),        # the checkpoint with the log's and our signatures
    Column("cosigned_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Latest:
    size: int
    root: bytes
    note: str


class Store:
    def __init__(self, url: str):
        self.engine: Engine = create_engine(url)
        metadata.create_all(self.engine)

    def latest(self, origin: str) -> Latest | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(cosigned.c.tree_size, cosigned.c.root_hash, cosigned.c.note)
                                     .where(cosigned.c.origin == origin)).first()
        return Latest(row.tree_size, row.root_hash, row.note) if row else None

    def origins(self) -> list[str]:
        """Every log cosigned here (a tenant's log is known once its first checkpoint is)."""
        with self.engine.connect() as connection:
            return list(connection.execute(select(cosigned.c.origin)).scalars())

    def advance(self, origin: str, old: Latest | None, size: int, root: bytes, note: str) -> bool:
        """Record (size, root, note) if the latest is still `old`; False when another moved it first."""
        values = {"tree_size": size, "root_hash": root, "note": note, "cosigned_at": utcnow()}
        if old is None:
            try:
                with self.engine.begin() as connection:
                    connection.execute(insert(cosigned).values(origin=origin, **values))
                return True
            except IntegrityError:
                return False
        with self.engine.begin() as connection:
            return connection.execute(update(cosigned).where(
                cosigned.c.origin == origin, cosigned.c.tree_size == old.size, cosigned.c.root_hash == old.root)
                .values(**values)).rowcount == 1
