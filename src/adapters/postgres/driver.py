"""Hot-path statements run on the psycopg connection under a unit of work's session (same
transaction), without SQLAlchemy's per-statement work (compiling, result metadata); psycopg
prepares a statement once it has run a few times on a connection. Errors are translated by the
session (`SqlSession.driver`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import RowFactory, tuple_row

from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.domain.errors import StorageError


def fetch(
    session: SqlSession,
    statement: str,
    params: Mapping[str, Any],
    *,
    doing: str,
    row_factory: RowFactory[Any] = tuple_row,
) -> list[Any]:
    """Every row of a statement."""

    def work(connection: psycopg.Connection[Any]) -> list[Any]:
        return connection.cursor(row_factory=row_factory).execute(statement, params).fetchall()

    return session.driver(work, doing=doing)


def fetch_one(session: SqlSession, statement: str, params: Mapping[str, Any], *, doing: str) -> Any:
    """The one row a statement returns."""
    rows = fetch(session, statement, params, doing=doing)
    if not rows:
        raise StorageError(f"{doing}: a statement that returns one row returned none")
    return rows[0]


def execute(session: SqlSession, statement: str, params: Mapping[str, Any], *, doing: str) -> None:
    """Run a statement that returns no rows."""

    def work(connection: psycopg.Connection[Any]) -> None:
        connection.execute(statement, params)

    session.driver(work, doing=doing)
