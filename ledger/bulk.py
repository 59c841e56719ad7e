"""Multi-row writes as ONE statement over column arrays: `INSERT ... SELECT * FROM unnest(...)`.

Why not `insert(table)` with a list of dicts: SQLAlchemy then processes every parameter of every
row in Python (about a third of the ledger's CPU at 1,000-row batches). Here each column is
one array parameter that asyncpg encodes in C, and Postgres unpacks it server-side.
The SQL is generated from the SQLAlchemy table, so the models stay the single definition.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Column, Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _array_type(column: Column[Any]) -> str:
    return column.type.compile(dialect=_DIALECT) + "[]"


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSONB)


def _arrays(columns: Sequence[Column[Any]], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i, col in enumerate(columns):
        values = [row[col.name] for row in rows]
        if _is_json(col):
            values = [None if v is None else json.dumps(v, sort_keys=True) for v in values]
        params[f"c{i}"] = values
    return params


@cache
def _insert_sql(table: Table, names: tuple[str, ...], tail: str) -> str:
    columns = [table.c[n] for n in names]
    arrays = ", ".join(f"CAST(:c{i} AS {_array_type(c)})" for i, c in enumerate(columns))
    return (
        f"INSERT INTO {_q(table.name)} ({', '.join(_q(n) for n in names)}) "
        f"SELECT * FROM unnest({arrays}) {tail}"
    )


async def insert_rows(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], tail: str = ""
) -> list[Any]:
    """Insert `rows` (dicts with the same keys); `tail` = ON CONFLICT / RETURNING clauses.

    Returns the first RETURNING column of each returned row (empty without RETURNING).
    """
    if not rows:
        return []
    names = tuple(rows[0])
    sql = _insert_sql(table, names, tail)
    result = await conn.execute(text(sql), _arrays([table.c[n] for n in names], rows))
    return list(result.scalars().all()) if result.returns_rows else []


@cache
def _update_sql(table: Table, names: tuple[str, ...], key: str) -> str:
    columns = [table.c[n] for n in names]
    arrays = ", ".join(f"CAST(:c{i} AS {_array_type(c)})" for i, c in enumerate(columns))
    sets = ", ".join(f"{_q(n)} = u.{_q(n)}" for n in names if n != key)
    return (
        f"UPDATE {_q(table.name)} SET {sets} "
        f"FROM unnest({arrays}) AS u({', '.join(_q(n) for n in names)}) "
        f"WHERE {_q(table.name)}.{_q(key)} = u.{_q(key)}"
    )


async def update_rows(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], key: str
) -> None:
    """Update every row found by `key` to the given values (one statement)."""
    if not rows:
        return
    names = tuple(rows[0])
    sql = _update_sql(table, names, key)
    await conn.execute(text(sql), _arrays([table.c[n] for n in names], rows))


def upsert_earliest_tail(table: Table, key: Sequence[str], order: Sequence[str]) -> str:
    """ON CONFLICT clause keeping, per key, the row that is smallest by `order`."""
    t = _q(table.name)
    sets = ", ".join(f"{_q(c.name)} = EXCLUDED.{_q(c.name)}" for c in table.c if c.name not in key)
    new = ", ".join(f"EXCLUDED.{_q(c)}" for c in order)
    old = ", ".join(f"{t}.{_q(c)}" for c in order)
    return (
        f"ON CONFLICT ({', '.join(_q(k) for k in key)}) DO UPDATE SET {sets} "
        f"WHERE ({new}) < ({old})"
    )
