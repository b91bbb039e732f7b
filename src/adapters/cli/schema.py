"""`rollups migrate`: create or upgrade the library's tables."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli.app import command, sqlite_file, state_of
from reporting_rollups.adapters.urls import DatabaseURL, redact

#: (the library's schema revision, the database's tables, reference indexes missing).
Schema = tuple[str | None, set[str], list[str]]


def _schema(url: str) -> Schema:
    """What `rollups migrate` reports of a SQL database; driver errors are translated as the
    adapters translate them (unreachable server, missing database: what to do)."""
    import sqlalchemy

    from reporting_rollups.adapters.sql.backends import engine_for_url, error_translator
    from reporting_rollups.adapters.sql.migrate import current_revision, missing_reference_indexes

    errors = error_translator(url)
    engine = engine_for_url(url)
    try:
        with errors("reading the schema"), engine.connect() as connection:
            tables = set(sqlalchemy.inspect(connection).get_table_names())
            missing = missing_reference_indexes(connection) if "reporting_events" in tables else []
            return current_revision(connection), tables, missing
    finally:
        engine.dispose()


@command()
def migrate(
    ctx: typer.Context,
    reference_indexes: Annotated[
        bool,
        typer.Option(
            "--reference-indexes",
            help=(
                "Also create the reference application's eight reporting_events indexes "
                "(for a database a reference-schema host will share; by default a new database "
                "gets only the index the library's queries use)."
            ),
        ),
    ] = False,
    local_tables: Annotated[
        bool,
        typer.Option(
            "--local-tables",
            help=(
                "On a database with Citus, create a fresh schema's tables local (by default "
                "they are distributed by account)."
            ),
        ),
    ] = False,
) -> None:
    """Create or upgrade the library's tables (a host's existing tables are never altered).

    On a database with the Citus extension a fresh schema is distributed by account."""
    state = state_of(ctx)
    where = escape(redact(state.url))
    if DatabaseURL.parse(state.url).backend == "memory":
        state.out.print(f"{where}: in-memory database, nothing to migrate")
        return
    path = sqlite_file(state.url)
    fresh = path is not None and not path.exists()
    before: Schema = (None, set(), []) if fresh else _schema(state.url)
    with open_rollups(
        state.url, migrate=True, reference_indexes=reference_indexes, local_tables=local_tables
    ) as rollups:
        distributed = bool(getattr(rollups.uow_factory, "distributed", False))
    (old, old_tables, old_missing), (new, new_tables, new_missing) = before, _schema(state.url)
    indexed = (
        sorted(set(old_missing) - set(new_missing)) if "reporting_events" in old_tables else []
    )
    created = sorted(new_tables - old_tables)
    if old == new and not created and not indexed:
        state.out.print(f"{where}: schema up to date (revision {new}, {len(new_tables)} tables)")
        return
    changes = [f"created {', '.join(created)}"] if created else []
    if indexed:
        changes.append(f"created the index(es) {', '.join(indexed)}")
    if reference_indexes and "reporting_events" in created:
        changes.append("reporting_events with the reference application's indexes")
    if distributed and created:
        changes.append("the tables distributed by account (Citus)")
    state.out.print(
        f"{where}: schema "
        + (f"migrated from {old or 'nothing'} to revision {new}" if old != new else "up to date")
        + (f"; {'; '.join(changes)}" if changes else "")
    )
