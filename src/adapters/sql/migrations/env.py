"""Alembic environment of the library's migrations.

`adapters.sql.migrate` runs it with a connection already inside a transaction (passed as
``config.attributes["connection"]``). From the alembic command line it connects to
``ROLLUPS_DATABASE_URL`` (or ``sqlalchemy.url``). The version table is
``reporting_rollup_alembic_version``, so a host's own ``alembic_version`` is never touched.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from reporting_rollups.adapters.sql.backends import engine_for_url
from reporting_rollups.adapters.sql.migrate import VERSION_TABLE, lock_migrations
from reporting_rollups.adapters.sql.tables import metadata
from reporting_rollups.domain.errors import ConfigurationError


def _include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Autogenerate compares only the tables the library defines (not the host's others)."""
    return type_ != "table" or name in metadata.tables


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        transactional_ddl=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    """Run the migrations online (offline `--sql` mode is not supported)."""
    if context.is_offline_mode():
        raise ConfigurationError("offline (--sql) migrations are not supported")
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    url = os.environ.get("ROLLUPS_DATABASE_URL") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise ConfigurationError("set ROLLUPS_DATABASE_URL to the database to migrate")
    engine = engine_for_url(url)
    try:
        with engine.connect() as connection, connection.begin():
            lock_migrations(connection)
            _run(connection)
    finally:
        engine.dispose()


run()
