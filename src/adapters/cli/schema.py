"""`rollups migrate`: create or upgrade the library's tables."""

from __future__ import annotations

import typer
from rich.markup import escape

from adapters.cli.app import command, open_database, sqlite_file, state_of
from adapters.urls import DatabaseURL, redact


def _schema(url: str) -> tuple[str | None, set[str]] | None:
    """The library's schema revision and the tables of a SQL database (None for memory://)."""
    if DatabaseURL.parse(url).backend == "memory":
        return None
    import sqlalchemy

    from adapters.migrate import current_revision, engine_for_url

    engine = engine_for_url(url)
    try:
        with engine.connect() as connection:
            return current_revision(connection), set(
                sqlalchemy.inspect(connection).get_table_names()
            )
    finally:
        engine.dispose()


@command()
def migrate(ctx: typer.Context) -> None:
    """Create or upgrade the library's tables (a host's existing tables are never altered)."""
    state = state_of(ctx)
    where = escape(redact(state.url))
    path = sqlite_file(state.url)
    fresh = path is not None and not path.exists()
    before: tuple[str | None, set[str]] | None = (None, set()) if fresh else _schema(state.url)
    with open_database(state, migrate=True):
        pass
    after = _schema(state.url)
    if before is None or after is None:
        state.out.print(f"{where}: in-memory database, nothing to migrate")
        return
    (old, old_tables), (new, new_tables) = before, after
    if old == new:
        state.out.print(f"{where}: schema up to date (revision {new}, {len(new_tables)} tables)")
        return
    created = sorted(new_tables - old_tables)
    state.out.print(
        f"{where}: schema migrated from {old or 'nothing'} to revision {new}"
        + (f"; created {', '.join(created)}" if created else "")
    )
