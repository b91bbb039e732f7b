"""One SQL database as a backend's unit-of-work factory holds it (`SqlDatabase`): its engine and
pool, its error translator, its schema (migrations) and the sessions of its units of work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from sqlalchemy import Engine

from reporting_rollups.adapters.sql import migrate as migrations
from reporting_rollups.adapters.sql.errors import ErrorTranslator
from reporting_rollups.adapters.sql.session import SqlSession

#: How a backend readies a DB-API connection that is not its own engine's (the host's engine,
#: `open_rollups(engine=)`, or the host's connection, `Rollups.using`) for one unit of work,
#: given whether it only reads: what its own engine's event hooks do (PostgreSQL: the array
#: dumpers; SQLite: the transaction begun in the database).
Prepare = Callable[[Any, bool], None]


@attrs.frozen
class SqlDatabase:
    """An engine (with its pool) and the translator that names it in errors.

    `read_only_begin`: the statement that makes a read-only transaction one read-only snapshot
    (the backend's; None when beginning it is enough). `ready`: run on each unit of work's
    connection once its transaction has begun, for an engine the library did not configure
    (the host's); `owned`: whether `close` disposes of the engine (not the host's).
    """

    engine: Engine
    errors: ErrorTranslator
    read_only_begin: str | None = None
    ready: Prepare | None = None
    owned: bool = True

    def session(self, *, read_only: bool = False) -> SqlSession:
        """A session for one unit of work (opened by the unit of work's `with`)."""
        return SqlSession(
            self.engine,
            self.errors,
            read_only=read_only,
            read_only_begin=self.read_only_begin,
            ready=self.ready,
        )

    def migrate(self, *, local_tables: bool = False) -> None:
        """Create or upgrade the library's schema (idempotent); `local_tables`: never distribute
        a fresh schema (Citus)."""
        with self.errors("migrating the schema"):
            migrations.upgrade(self.engine, local_tables=local_tables)

    def check_schema(self) -> None:
        """`StorageError` unless the schema is current ("run `rollups migrate`")."""
        with self.errors("checking the schema"):
            migrations.require_current(self.engine)

    def prepare(
        self, *, migrate: bool, reference_indexes: bool = False, local_tables: bool = False
    ) -> None:
        """Migrate, or check the schema; with `reference_indexes`, create (`migrate`) or
        require the reference application's `reporting_events` indexes. On failure release
        the engine and raise."""
        try:
            if migrate:
                self.migrate(local_tables=local_tables)
            else:
                self.check_schema()
            if reference_indexes and migrate:
                with self.errors("creating the reference indexes"):
                    migrations.add_reference_indexes(self.engine)
            elif reference_indexes:
                with self.errors("checking the reference indexes"):
                    migrations.require_reference_indexes(self.engine)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the pool's connections (of the library's own engine only)."""
        if self.owned:
            self.engine.dispose()
