"""When `sync` last applied each account's captured changes (`rollups status`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

`reporting_rollup_sync_state` has one row per account whose changes a sync applied: written by
the transaction that holds the account's change stream, so no two writers meet on a row.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the sync state (empty)."""
    op.create_table(
        "reporting_rollup_sync_state",
        sa.Column("account_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("synced_at", sa.DateTime(timezone=False), nullable=False),
    )


def downgrade() -> None:
    """Drop the sync state."""
    op.drop_table("reporting_rollup_sync_state")
