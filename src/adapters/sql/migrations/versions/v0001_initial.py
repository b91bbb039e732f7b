"""Initial schema: raw events, rollups, and the library's own tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

`reporting_events` and `reporting_events_rollups` are created only when missing: the rollups with
the reference application's indexes, the raw events with the indexes the library's queries use
(`adapters.sql.tables.LIBRARY_EVENT_INDEXES`; databases created by earlier versions keep the
indexes they have). When the host already has them they are checked, never altered. The
library's tables, prefixed `reporting_rollup_`, are created when missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from reporting_rollups.adapters.postgres.citus import (
    check_distributed_host_events,
    created_host_tables,
    distribution,
)
from reporting_rollups.adapters.sql.tables import LIBRARY_EVENT_INDEXES, REFERENCE_EVENT_INDEXES
from reporting_rollups.domain.errors import StorageError

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: Columns the library reads or writes in the host's tables.
_EVENT_COLUMNS = (
    "id",
    "name",
    "value",
    "account_id",
    "inbox_id",
    "user_id",
    "conversation_id",
    "created_at",
    "updated_at",
    "value_in_business_hours",
    "event_start_time",
    "event_end_time",
)
_ROLLUP_KEY = ("account_id", "date", "dimension_type", "dimension_id", "metric")
_ROLLUP_COLUMNS = (
    "id",
    *_ROLLUP_KEY,
    "count",
    "sum_value",
    "sum_value_business_hours",
    "created_at",
    "updated_at",
)
_LIBRARY_TABLES = (
    "reporting_rollup_members",
    "reporting_rollup_applied_events",
    "reporting_rollup_accounts",
)


def _check_host_table(inspector: sa.Inspector, table: str, columns: Sequence[str]) -> None:
    present = {column["name"] for column in inspector.get_columns(table)}
    missing = [column for column in columns if column not in present]
    if missing:
        raise StorageError(
            f"the existing table {table} lacks the column(s) {', '.join(missing)} that "
            "reporting-rollups needs; add them (see the reference schema) or use another database"
        )


def _unique_keys(inspector: sa.Inspector, table: str) -> set[frozenset[str]]:
    """The column sets of `table` that can serve as an ``ON CONFLICT`` target: its primary key,
    unique constraints and unique indexes on plain columns without a WHERE clause."""
    keys: list[Sequence[str | None]] = [
        inspector.get_pk_constraint(table).get("constrained_columns") or []
    ]
    keys += [constraint["column_names"] for constraint in inspector.get_unique_constraints(table)]
    keys += [
        index["column_names"]
        for index in inspector.get_indexes(table)
        if index["unique"]
        and not any(key.endswith("_where") for key in index.get("dialect_options", {}))
    ]
    return {
        frozenset(column for column in key if column is not None)
        for key in keys
        if key and None not in key
    }


def _check_host_events(inspector: sa.Inspector) -> None:
    _check_host_table(inspector, "reporting_events", _EVENT_COLUMNS)
    keys = _unique_keys(inspector, "reporting_events")
    if distribution(op.get_bind(), "reporting_events") is not None:
        check_distributed_host_events(op.get_bind(), keys)
        return
    if frozenset({"id"}) in keys:
        return
    found = (
        "a unique key on (account_id, id) but none on id alone"
        if frozenset({"account_id", "id"}) in keys
        else "no unique key on id"
    )
    raise StorageError(
        f"the existing table reporting_events has {found}; reporting-rollups stores events "
        "idempotently by id (INSERT ... ON CONFLICT (id)), so every record() would fail. Add "
        "one (after removing duplicate ids): CREATE UNIQUE INDEX index_reporting_events_on_id "
        "ON reporting_events (id), or use another database"
    )


def _check_host_rollups(inspector: sa.Inspector) -> None:
    _check_host_table(inspector, "reporting_events_rollups", _ROLLUP_COLUMNS)
    if frozenset(_ROLLUP_KEY) not in _unique_keys(inspector, "reporting_events_rollups"):
        raise StorageError(
            "the existing table reporting_events_rollups has no unique index on "
            f"({', '.join(_ROLLUP_KEY)}); create it: CREATE UNIQUE INDEX index_rollup_unique_key "
            f"ON reporting_events_rollups ({', '.join(_ROLLUP_KEY)})"
        )


def _create_reporting_events() -> None:
    op.create_table(
        "reporting_events",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String()),
        sa.Column("value", sa.Float()),
        sa.Column("account_id", sa.Integer()),
        sa.Column("inbox_id", sa.Integer()),
        sa.Column("user_id", sa.Integer()),
        sa.Column("conversation_id", sa.Integer()),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("value_in_business_hours", sa.Float()),
        sa.Column("event_start_time", sa.DateTime(timezone=False)),
        sa.Column("event_end_time", sa.DateTime(timezone=False)),
    )
    for name in LIBRARY_EVENT_INDEXES:
        op.create_index(name, "reporting_events", list(REFERENCE_EVENT_INDEXES[name]))


def _create_reporting_events_rollups() -> None:
    op.create_table(
        "reporting_events_rollups",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("dimension_type", sa.String(), nullable=False),
        sa.Column("dimension_id", sa.BigInteger(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("sum_value", sa.Float(), nullable=False, server_default="0"),
        sa.Column("sum_value_business_hours", sa.Float(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=False), nullable=False),
    )
    op.create_index(
        "index_rollup_unique_key", "reporting_events_rollups", list(_ROLLUP_KEY), unique=True
    )
    op.create_index(
        "index_rollup_timeseries", "reporting_events_rollups", ["account_id", "metric", "date"]
    )
    op.create_index(
        "index_rollup_summary", "reporting_events_rollups", ["account_id", "dimension_type", "date"]
    )


def _create_library_tables(existing: set[str]) -> None:
    if "reporting_rollup_accounts" not in existing:
        op.create_table(
            "reporting_rollup_accounts",
            sa.Column("account_id", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("reporting_timezone", sa.String()),
            sa.Column("rollup_timezone", sa.String()),
            sa.Column("read_path_enabled", sa.Boolean(), nullable=False, server_default="0"),
            sa.Column("updated_at", sa.DateTime(timezone=False)),
        )
    if "reporting_rollup_applied_events" not in existing:
        op.create_table(
            "reporting_rollup_applied_events",
            sa.Column("account_id", sa.Integer(), nullable=False),
            sa.Column("event_id", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint(
                "account_id", "event_id", name="reporting_rollup_applied_events_pkey"
            ),
        )
    if "reporting_rollup_members" not in existing:
        op.create_table(
            "reporting_rollup_members",
            sa.Column("account_id", sa.Integer(), nullable=False),
            sa.Column("date", sa.Date(), nullable=False),
            sa.Column("dimension_type", sa.String(), nullable=False),
            sa.Column("dimension_id", sa.BigInteger(), nullable=False),
            sa.Column("metric", sa.String(), nullable=False),
            sa.Column("member_id", sa.BigInteger(), nullable=False),
            sa.Column("occurrences", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint(
                *_ROLLUP_KEY, "member_id", name="reporting_rollup_members_pkey"
            ),
        )


def upgrade() -> None:
    """Create what is missing; check (never alter) the host's tables. The shared tables it
    creates are noted for migration 0007 (`created_host_tables`), which may distribute them."""
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    created = created_host_tables(op.get_context())
    if "reporting_events" in existing:
        _check_host_events(inspector)
    else:
        _create_reporting_events()
        created.add("reporting_events")
    if "reporting_events_rollups" in existing:
        _check_host_rollups(inspector)
    else:
        _create_reporting_events_rollups()
        created.add("reporting_events_rollups")
    _create_library_tables(existing)


def downgrade() -> None:
    """Drop the library's own tables. `reporting_events` and `reporting_events_rollups` stay: they
    may be the host's, and they hold its data."""
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for table in _LIBRARY_TABLES:
        if table in existing:
            op.drop_table(table)
