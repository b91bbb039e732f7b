"""Citus: the library's tables distributed by account, colocated with `reporting_events`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Only on a database with the `citus` extension, and only where `reporting_events` is or becomes
distributed (`adapters.postgres.citus`): when this run created it (a fresh schema; not with the
`local_tables` option), it is given the primary key (account_id, id), `account_id NOT NULL` and
no id sequence (the library always gives the id), then distributed; when a host distributed its
own, the library's tables join it. Per-account tables with an `id` primary key get
(account_id, id) first, as Citus requires the distribution column in every unique key; the job
tables become reference tables. Anywhere else (SQLite, plain PostgreSQL, a host's local
`reporting_events`) nothing changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection, text

from reporting_rollups.adapters.postgres.citus import (
    COLOCATED_TABLES,
    DISTRIBUTION_COLUMN,
    REFERENCE_TABLES,
    citus_installed,
    created_host_tables,
    distribution,
    is_distributed,
)
from reporting_rollups.domain.errors import StorageError

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Colocated tables whose primary key is (id) and becomes (account_id, id) before they are
#: distributed (`reporting_events` is keyed by `_distribute_events`).
_ID_KEYED: Sequence[str] = ("reporting_events_rollups", "reporting_rollup_changes")


def _key_by_account(bind: Connection, table: str) -> None:
    """Make (account_id, id) the primary key of `table` (created by the library, empty)."""
    name = bind.execute(
        text(
            "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(:table) "
            "AND contype = 'p'"
        ),
        {"table": table},
    ).scalar_one()
    op.execute(
        f'ALTER TABLE {table} DROP CONSTRAINT "{name}", '
        f"ADD CONSTRAINT {table}_pkey PRIMARY KEY (account_id, id)"
    )


def _distribute_events(bind: Connection) -> None:
    """The library's own `reporting_events`: keyed by account, no sequence, distributed."""
    op.execute("ALTER TABLE reporting_events ALTER COLUMN id DROP DEFAULT")
    op.execute("DROP SEQUENCE IF EXISTS reporting_events_id_seq")
    op.execute("ALTER TABLE reporting_events ALTER COLUMN account_id SET NOT NULL")
    _key_by_account(bind, "reporting_events")
    op.execute(f"SELECT create_distributed_table('reporting_events', '{DISTRIBUTION_COLUMN}')")


def _held_as(held: str | None) -> str:
    if held is None:
        return "a local table"
    return "a reference table" if held == "reference" else f"distributed by {held}"


def upgrade() -> None:
    """Distribute the library's tables where `reporting_events` is (or is created) distributed."""
    bind = op.get_bind()
    context = op.get_context()
    config = context.config
    local = bool(config is not None and config.attributes.get("local_tables"))
    if not citus_installed(bind):
        return
    created = created_host_tables(context)
    if "reporting_events" in created and not local:
        _distribute_events(bind)
    if not is_distributed(bind):
        return  # a local reporting_events (the host's, or local_tables): everything stays local
    for table in COLOCATED_TABLES:
        held = distribution(bind, table)
        if held == DISTRIBUTION_COLUMN:
            continue
        if held is not None or (table == "reporting_events_rollups" and table not in created):
            raise StorageError(
                f"the existing table {table} is {_held_as(held)}; with a distributed "
                f"reporting_events it must be distributed by {DISTRIBUTION_COLUMN}, colocated: "
                f"SELECT create_distributed_table('{table}', '{DISTRIBUTION_COLUMN}', "
                "colocate_with => 'reporting_events')"
            )
        if table in _ID_KEYED:
            _key_by_account(bind, table)
        op.execute(
            f"SELECT create_distributed_table('{table}', '{DISTRIBUTION_COLUMN}', "
            "colocate_with => 'reporting_events')"
        )
    for table in REFERENCE_TABLES:
        if distribution(bind, table) is None:
            op.execute(f"SELECT create_reference_table('{table}')")


def downgrade() -> None:
    """Distribution is not undone (`undistribute_table` would move every row to the
    coordinator): a downgrade below 0007 keeps the tables as they are."""
