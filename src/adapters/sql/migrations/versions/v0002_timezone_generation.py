"""Account timezone generation: an identity of the zone setting the rollups are built for.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

`reporting_rollup_accounts.timezone_generation` grows by one at every change of the account's
reporting zone, so a backfill or rebuild that started before a change (A -> B -> A included)
can tell that the days it built were cleared since, instead of comparing zone names.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the generation column (0 for every existing account)."""
    with op.batch_alter_table("reporting_rollup_accounts") as table:
        table.add_column(
            sa.Column("timezone_generation", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    """Drop the generation column."""
    with op.batch_alter_table("reporting_rollup_accounts") as table:
        table.drop_column("timezone_generation")
