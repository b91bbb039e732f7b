"""Retention: each account's horizon (the local days before it are sealed: their raw events
were purged, their rollup rows are kept).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

`reporting_rollup_retention` has one row per account that was purged. It is read by rebuilds,
backfills and verify, never by the live path.
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
    """Create the retention table (empty)."""
    op.create_table(
        "reporting_rollup_retention",
        sa.Column("account_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("horizon", sa.Date(), nullable=False),
    )


def downgrade() -> None:
    """Drop the retention table."""
    op.drop_table("reporting_rollup_retention")
