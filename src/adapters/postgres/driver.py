"""Hot-path statements run on the DB-API connection under a unit of work's session (same
transaction), without SQLAlchemy's per-statement work (compiling, result metadata); psycopg
prepares a statement once it has run a few times on a connection. Only DB-API calls are used
(`cursor`, `execute`, `fetchall`, `description`), so the same code runs on SQLAlchemy's
adapted asyncio connection under its greenlet bridge. Errors are translated by the session
(`SqlSession.driver`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.domain.errors import StorageError


def fetch(
    session: SqlSession, statement: str, params: Mapping[str, Any], *, doing: str
) -> list[tuple[Any, ...]]:
    """Every row of a statement, as tuples (none for a statement that returns no rows)."""

    def work(connection: Any) -> list[tuple[Any, ...]]:
        cursor = connection.cursor()
        try:
            cursor.execute(statement, params)
            if cursor.description is None:
                return []
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    return session.driver(work, doing=doing)


def fetch_dicts(
    session: SqlSession, statement: str, params: Mapping[str, Any], *, doing: str
) -> list[dict[str, Any]]:
    """Every row of a statement, as {column: value} (none for a statement that returns no
    rows)."""

    def work(connection: Any) -> list[dict[str, Any]]:
        cursor = connection.cursor()
        try:
            cursor.execute(statement, params)
            if cursor.description is None:
                return []
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            cursor.close()

    return session.driver(work, doing=doing)


def fetch_one(session: SqlSession, statement: str, params: Mapping[str, Any], *, doing: str) -> Any:
    """The one row a statement returns."""
    rows = fetch(session, statement, params, doing=doing)
    if not rows:
        raise StorageError(f"{doing}: a statement that returns one row returned none")
    return rows[0]


def execute(session: SqlSession, statement: str, params: Mapping[str, Any], *, doing: str) -> None:
    """Run a statement that returns no rows."""

    def work(connection: Any) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute(statement, params)
        finally:
            cursor.close()

    session.driver(work, doing=doing)
