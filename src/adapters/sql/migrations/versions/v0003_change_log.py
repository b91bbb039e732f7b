"""The change log that change capture writes (`rollups capture install`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

`reporting_rollup_changes` holds one row per row image a host wrote to `reporting_events`: an
insert is its new image ('I'), a delete its old image ('D'), an update both (old first). The
triggers that fill it are installed explicitly, never by a migration; the table alone changes
nothing for a host that does not install them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the change log (empty)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "reporting_rollup_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(1), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String()),
        sa.Column("value", sa.Float()),
        sa.Column("inbox_id", sa.Integer()),
        sa.Column("user_id", sa.Integer()),
        sa.Column("conversation_id", sa.Integer()),
        sa.Column("created_at", sa.DateTime(timezone=False)),
        sa.Column("value_in_business_hours", sa.Float()),
        # The writing transaction (PostgreSQL's 64-bit xid; SQLite's writers are serialised).
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text::bigint)") if postgres else None,
        ),
        sa.Column(
            "logged_at",
            sa.DateTime(timezone=False),
            nullable=False,
            server_default=sa.text(
                "(now() AT TIME ZONE 'UTC')"
                if postgres
                else "(strftime('%Y-%m-%d %H:%M:%f', 'now'))"
            ),
        ),
    )
    op.create_index(
        "reporting_rollup_changes_account", "reporting_rollup_changes", ["account_id", "id"]
    )


#: The capture triggers (and, on PostgreSQL, their functions) that write to the log: a host
#: table must never keep a trigger whose target is gone.
_TRIGGERS = (
    "reporting_rollup_capture_insert",
    "reporting_rollup_capture_update",
    "reporting_rollup_capture_delete",
)


def downgrade() -> None:
    """Remove change capture if installed, then drop the change log."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for trigger in _TRIGGERS:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON reporting_events")
            op.execute(f"DROP FUNCTION IF EXISTS {trigger}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.drop_index("reporting_rollup_changes_account", "reporting_rollup_changes")
    op.drop_table("reporting_rollup_changes")
