"""Retention: each account's horizon (the local days before it are sealed: their raw events
were purged, their rollup rows are kept).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

`reporting_rollup_retention` has one row per account that was purged. It is read by rebuilds,
backfills and verify, never by the live path. `reporting_rollup_retention_windows` holds the
retention windows (days; account 0: the default of every account): a delete of an event older
than its account's window is a purge, not a retraction.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the retention tables (empty)."""
    op.create_table(
        "reporting_rollup_retention",
        sa.Column("account_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("horizon", sa.Date(), nullable=False),
    )
    op.create_table(
        "reporting_rollup_retention_windows",
        sa.Column("account_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("days", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    """Drop the retention tables."""
    op.drop_table("reporting_rollup_retention_windows")
    op.drop_table("reporting_rollup_retention")
