"""Fleet jobs: resumable runs of backfill, rebuild or verify over every account.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

`reporting_rollup_jobs` has one row per fleet run (`finished_at` NULL until it is done);
`reporting_rollup_job_accounts` one row per account a job finished, which a resumed run skips.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the job tables (empty)."""
    op.create_table(
        "reporting_rollup_jobs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("arguments", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=False)),
    )
    op.create_table(
        "reporting_rollup_job_accounts",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("mismatches", sa.Integer()),
        sa.PrimaryKeyConstraint("job_id", "account_id", name="reporting_rollup_job_accounts_pkey"),
    )


def downgrade() -> None:
    """Drop the job tables."""
    op.drop_table("reporting_rollup_job_accounts")
    op.drop_table("reporting_rollup_jobs")
