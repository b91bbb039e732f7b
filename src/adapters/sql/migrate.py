"""Schema migrations (Alembic, shipped in `adapters/sql/migrations`), run programmatically.

The version table is `reporting_rollup_alembic_version`, so a host's own `alembic_version` is
never read or written. On PostgreSQL a transaction-level advisory lock serialises concurrent
migrators (two processes opening a fresh database at once); on SQLite `BEGIN IMMEDIATE` does.
Each upgrade runs in one transaction: a failure leaves the schema as it was.

A new database gets the `reporting_events` indexes the library's queries use; the reference
application's full set is an option (`add_reference_indexes`, ``rollups migrate
--reference-indexes``) for a database a reference-schema host will share. Messages name the
database with its passwords redacted (`adapters.urls.redact`).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, text

from reporting_rollups.adapters.sql.tables import REFERENCE_EVENT_INDEXES
from reporting_rollups.adapters.urls import redact
from reporting_rollups.domain.errors import StorageError

if TYPE_CHECKING:
    pass

VERSION_TABLE: Final = "reporting_rollup_alembic_version"
MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
#: Key of the PostgreSQL advisory lock held while migrating (a stable 32-bit hash of a name).
MIGRATION_LOCK_KEY: Final = zlib.crc32(b"reporting_rollup_migrations")

_ADVICE: Final = "run `rollups migrate` (or open with migrate=True)"


def alembic_config(connection: Connection | None = None, *, local_tables: bool = False) -> Config:
    """An Alembic configuration for the shipped migrations, optionally bound to a connection;
    `local_tables`: migration 0007 leaves a fresh schema local on Citus."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    config.attributes["local_tables"] = local_tables
    return config


def head_revision() -> str:
    """The newest revision this version of the library knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise StorageError(f"no migrations found in {MIGRATIONS_DIR}; reinstall reporting-rollups")
    return head


def known_revisions() -> set[str]:
    """Every revision this version of the library ships."""
    return {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }


def current_revision(connection: Connection) -> str | None:
    """The database's revision (None when the library's schema was never created)."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def lock_migrations(connection: Connection) -> None:
    """Serialise migrators until the connection's transaction ends (PostgreSQL only; SQLite's
    `BEGIN IMMEDIATE` already does)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


def _where(engine: Engine) -> str:
    return redact(engine.url.render_as_string(hide_password=False))


def _newer_schema(engine: Engine, revision: str) -> StorageError:
    return StorageError(
        f"{_where(engine)}: the schema is at revision {revision!r}, which this version of "
        "reporting-rollups does not know (a newer version migrated it); upgrade the library"
    )


def upgrade(engine: Engine, revision: str = "head", *, local_tables: bool = False) -> None:
    """Create or upgrade the library's schema, in one transaction (`local_tables`: on Citus,
    a fresh schema's tables stay local)."""
    with engine.connect() as connection, connection.begin():
        lock_migrations(connection)
        current = current_revision(connection)
        if current is not None and current not in known_revisions():
            raise _newer_schema(engine, current)
        try:
            command.upgrade(alembic_config(connection, local_tables=local_tables), revision)
        except CommandError as error:
            raise StorageError(f"{_where(engine)}: migration failed: {error}") from error


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the library's schema to `revision` ("base" drops the library's own tables; the
    shared `reporting_events*` tables are kept)."""
    with engine.connect() as connection, connection.begin():
        lock_migrations(connection)
        try:
            command.downgrade(alembic_config(connection), revision)
        except CommandError as error:
            raise StorageError(f"{_where(engine)}: downgrade failed: {error}") from error


def require_current(engine: Engine) -> None:
    """`StorageError` unless the schema is at this library's head revision."""
    with engine.connect() as connection:
        current = current_revision(connection)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise StorageError(f"{_where(engine)} has no reporting-rollups schema; {_ADVICE}")
    if current not in known_revisions():
        raise _newer_schema(engine, current)
    raise StorageError(
        f"{_where(engine)}: the schema is at revision {current!r}, this version of "
        f"reporting-rollups needs {head!r}; {_ADVICE}"
    )


def missing_reference_indexes(connection: Connection) -> list[str]:
    """The reference application's `reporting_events` indexes the database lacks (an index on
    the same columns under another name counts as present)."""
    indexes = inspect(connection).get_indexes("reporting_events")
    names = {index["name"] for index in indexes}
    columns = {tuple(index["column_names"]) for index in indexes}
    return [
        name
        for name, indexed in REFERENCE_EVENT_INDEXES.items()
        if name not in names and indexed not in columns
    ]


def add_reference_indexes(engine: Engine) -> list[str]:
    """Create the reference application's `reporting_events` indexes that are missing (for a
    database a reference-schema host shares; also on an existing table, since it is asked
    for), in one transaction. Returns the names created."""
    with engine.connect() as connection, connection.begin():
        lock_migrations(connection)
        missing = missing_reference_indexes(connection)
        for name in missing:
            columns = ", ".join(REFERENCE_EVENT_INDEXES[name])
            connection.execute(text(f"CREATE INDEX {name} ON reporting_events ({columns})"))
    return missing


def require_reference_indexes(engine: Engine) -> None:
    """`StorageError` unless `reporting_events` has the reference application's indexes."""
    with engine.connect() as connection:
        missing = missing_reference_indexes(connection)
    if missing:
        raise StorageError(
            f"{_where(engine)}: reporting_events lacks the reference index(es) "
            f"{', '.join(missing)}; run `rollups migrate --reference-indexes` (or open with "
            "migrate=True)"
        )
