"""The host's reporting zones read with SQL from the library's own database (`SqlHostZones`,
the `HostZones` port of `application.host_zones`): Chatwoot's `accounts.settings` or any query.

The query runs in a read-only transaction through the database's error translator (its
`SqlSession`), with one change: an error of the query itself (a missing table or column, a
syntax error) is a `ConfigurationError` that names the zone source, not the library's schema.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any, Final

import attrs
import psycopg
from sqlalchemy import Row, TextClause, text
from sqlalchemy import exc as sa_exc

from reporting_rollups.adapters.sql.database import SqlDatabase
from reporting_rollups.adapters.sql.errors import Explainer, Explanation, driver_message
from reporting_rollups.adapters.sql.unit_of_work import SqlTransaction
from reporting_rollups.domain.errors import ConfigurationError, RollupError, shown

#: Chatwoot's zones (`store_accessor :settings, :reporting_timezone` on a jsonb column), per
#: SQLAlchemy dialect. A settings value that is not a JSON object gives NULL (no zone), on
#: SQLite also one that is not JSON at all.
CHATWOOT_QUERY: Final[Mapping[str, str]] = {
    "postgresql": (
        "SELECT id, settings->>'reporting_timezone' FROM accounts"
        " WHERE id > :after ORDER BY id LIMIT :limit"
    ),
    "sqlite": (
        "SELECT id, CASE WHEN json_valid(settings)"
        " THEN json_extract(settings, '$.reporting_timezone') END FROM accounts"
        " WHERE id > :after ORDER BY id LIMIT :limit"
    ),
}

_PARAMETERS: Final = frozenset({"after", "limit"})
_USAGE: Final = (
    "'chatwoot' (accounts.settings->>'reporting_timezone') or 'sql:<query>', a query returning "
    "(account_id, zone) rows with account_id > :after, ordered by account_id, LIMIT :limit"
)

#: Substrings of sqlite3 messages about the query itself (not the database or the file).
_SQLITE_QUERY_PROBLEMS: Final = (
    "no such table",
    "no such column",
    "no such function",
    "syntax error",
    "incomplete input",
    "unrecognized token",
    "malformed json",
    "json path",
    "wrong number of arguments",
    "ambiguous column",
    "one statement at a time",
)


def _query_problem(error: BaseException) -> bool:
    """Whether a driver error is about the query rather than the database."""
    if isinstance(error, sqlite3.Error | sqlite3.Warning):
        message = str(error).lower()
        return any(problem in message for problem in _SQLITE_QUERY_PROBLEMS)
    if isinstance(error, psycopg.Error):
        # Class 42: syntax error or access rule violation (undefined table, column or function,
        # permission denied); class 22: data exception (a failed cast); 25006: a statement that
        # writes, in the read-only transaction.
        state = error.sqlstate or ""
        return state[:2] in ("42", "22") or state == "25006"
    # SQLAlchemy's own: a statement that returns no rows.
    return isinstance(error, sa_exc.ResourceClosedError)


def _query_explainer(source: str, fallback: Explainer) -> Explainer:
    advice = (
        "the zone source 'chatwoot' reads Chatwoot's accounts.settings in this database: "
        "is it the host's database, with its accounts table?"
        if source == "chatwoot"
        else f"check the zone query: the source must be {_USAGE}"
    )

    def explain(error: BaseException) -> Explanation | None:
        if _query_problem(error):
            return ConfigurationError, f"{driver_message(error)}; {advice}"
        return fallback(error)

    return explain


class SqlHostZones:
    """`HostZones` by a SQL query run on the database: `query` takes `:after` and `:limit` and
    returns (account_id, zone) rows, account ids above `:after` in ascending order. `source`
    names it in errors ("chatwoot", or "sql")."""

    def __init__(self, database: SqlDatabase, query: str, *, source: str = "sql") -> None:
        self.source = source
        self._statement: TextClause = text(query)
        errors = database.errors
        if set(self._statement.compile().params) != _PARAMETERS:
            raise ConfigurationError(
                errors.scrub(
                    f"{errors.where}: zone source {source!r}: the query must use the parameters "
                    f":after and :limit, and no other; the source must be {_USAGE}"
                )
            )
        explain = _query_explainer(source, errors.explain)
        self._database = attrs.evolve(database, errors=attrs.evolve(errors, explain=explain))

    def zones(self, after: int, limit: int) -> list[tuple[int, str | None]]:
        """See `HostZones.zones`. A zone that is not text (a JSON number) is read as its text;
        rows that are not (integer, zone) pairs are a `ConfigurationError`."""
        params = {"after": after, "limit": limit}
        with SqlTransaction(self._database, read_only=True) as transaction:
            rows = transaction.session.rows(
                self._statement, params, doing=f"reading the host's zones (source {self.source!r})"
            )
        return [self._zone(row) for row in rows]

    def _zone(self, row: Row[Any]) -> tuple[int, str | None]:
        values = tuple(row)
        if len(values) != 2 or not isinstance(values[0], int) or isinstance(values[0], bool):
            raise self._error(f"the query returned the row {shown(values)}: not (account_id, zone)")
        account_id, zone = values
        return account_id, None if zone is None else zone if isinstance(zone, str) else str(zone)

    def _error(self, detail: str) -> RollupError:
        errors = self._database.errors
        return ConfigurationError(
            errors.scrub(f"{errors.where}: zone source {self.source!r}: {detail}; use {_USAGE}")
        )


def host_zones(target: object, source: str) -> SqlHostZones:
    """The `HostZones` that `source` names on a SQL unit-of-work factory (or its
    `SqlDatabase`): "chatwoot" (`CHATWOOT_QUERY`) or "sql:<query>". `ConfigurationError` for any
    other source, and for a database that is not SQL."""
    database = target if isinstance(target, SqlDatabase) else getattr(target, "database", None)
    if not isinstance(database, SqlDatabase):
        raise ConfigurationError(
            "zones from the host need a SQL database (sqlite:// or postgresql://), not "
            f"{type(target).__name__}"
        )
    if source == "chatwoot":
        dialect = database.engine.dialect.name
        if dialect not in CHATWOOT_QUERY:
            raise ConfigurationError(f"zone source 'chatwoot': no query for {dialect} databases")
        return SqlHostZones(database, CHATWOOT_QUERY[dialect], source="chatwoot")
    if source.startswith("sql:") and source[4:].strip():
        return SqlHostZones(database, source[4:].strip())
    raise ConfigurationError(f"unknown zone source {source!r}: use {_USAGE}")
