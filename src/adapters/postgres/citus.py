"""Citus, the distributed PostgreSQL: whether a database has it, how its tables are distributed,
and the layout the library gives its tables there.

On a database with the `citus` extension, a fresh schema is created distributed (migration
0007, unless `local_tables`): every table the library keeps per account is distributed by
`account_id` and colocated with `reporting_events`, its job tables are reference tables. The
layout follows `reporting_events`: when it is distributed (by the library, or by a host that
distributed its own table) the library runs in distributed mode (`is_distributed`); when a host's
`reporting_events` is a local table, everything stays local, as on plain PostgreSQL.
"""

from __future__ import annotations

from typing import Final

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from reporting_rollups.domain.errors import StorageError

#: The library's per-account tables, distributed by `account_id` and colocated with
#: `reporting_events` (after it and `reporting_events_rollups`).
COLOCATED_TABLES: Final = (
    "reporting_events_rollups",
    "reporting_rollup_accounts",
    "reporting_rollup_applied_events",
    "reporting_rollup_members",
    "reporting_rollup_changes",
    "reporting_rollup_sync_state",
    "reporting_rollup_retention",
)
#: The library's small shared tables: reference tables (a copy on every node). The retention
#: windows are one: a retraction reads its account's window and the default (account 0)
#: together, which on a distributed table would be two shards.
REFERENCE_TABLES: Final = (
    "reporting_rollup_retention_windows",
    "reporting_rollup_jobs",
    "reporting_rollup_job_accounts",
)
#: The distribution column.
DISTRIBUTION_COLUMN: Final = "account_id"


def citus_installed(connection: Connection) -> bool:
    """Whether the database has the `citus` extension (False on SQLite)."""
    if connection.dialect.name != "postgresql":
        return False
    found = connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'"))
    return found.first() is not None


def distribution(connection: Connection, table: str) -> str | None:
    """How Citus holds `table`: its distribution column, "reference" for a reference table, or
    None for a local table (or no Citus)."""
    if not citus_installed(connection):
        return None
    row = connection.execute(
        text(
            "SELECT partmethod, column_to_column_name(logicalrelid, partkey) "
            "FROM pg_dist_partition WHERE logicalrelid = to_regclass(:table)"
        ),
        {"table": table},
    ).first()
    if row is None:
        return None
    return "reference" if row[0] == "n" else str(row[1])


def created_host_tables(context: MigrationContext) -> set[str]:
    """The shared tables (`reporting_events`, `reporting_events_rollups`) the migrations of this
    run created (kept in the run's Alembic configuration; empty outside a run)."""
    config = context.config
    if config is None:
        return set()
    created: set[str] = config.attributes.setdefault("created_host_tables", set())
    return created


def check_distributed_host_events(connection: Connection, keys: set[frozenset[str]]) -> None:
    """`StorageError` unless a host's distributed `reporting_events` is laid out as the library
    needs: distributed by `account_id`, with a unique key on (account_id, id) (`keys`: its
    unique keys) on which events are stored idempotently."""
    column = distribution(connection, "reporting_events")
    if column != DISTRIBUTION_COLUMN:
        held = "a reference table" if column == "reference" else f"distributed by {column}"
        raise StorageError(
            f"the existing table reporting_events is {held}; reporting-rollups needs it "
            f"distributed by {DISTRIBUTION_COLUMN} (SELECT create_distributed_table("
            "'reporting_events', 'account_id')), or a local table"
        )
    if frozenset({"account_id", "id"}) not in keys:
        raise StorageError(
            "the existing distributed table reporting_events has no unique key on (account_id, "
            "id); reporting-rollups stores events idempotently on it (INSERT ... ON CONFLICT "
            "(account_id, id)). Add one: ALTER TABLE reporting_events ADD PRIMARY KEY "
            "(account_id, id)"
        )


def is_distributed(connection: Connection) -> bool:
    """Whether the library runs in distributed mode: `reporting_events` distributed by
    `account_id`."""
    return distribution(connection, "reporting_events") == DISTRIBUTION_COLUMN


__all__ = [
    "COLOCATED_TABLES",
    "DISTRIBUTION_COLUMN",
    "REFERENCE_TABLES",
    "check_distributed_host_events",
    "citus_installed",
    "created_host_tables",
    "distribution",
    "is_distributed",
]
