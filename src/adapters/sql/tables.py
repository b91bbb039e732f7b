"""SQLAlchemy Core tables shared by the SQLite and PostgreSQL adapters.

`reporting_events` and `reporting_events_rollups` follow the reference application's schema
(names, column types, index names), so the library can run on a host's existing database.
Tables the library owns are prefixed `reporting_rollup_`. Every key starts with `account_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

from reporting_rollups.domain.events import CONTENT_FIELDS, TIME_FIELDS

metadata = MetaData()

#: The `reporting_events` columns that hold an event's content (`Event`'s content fields, in its
#: order): written by `record`, compared to detect an id re-sent with different content, read
#: back as events, logged by change capture. The host's other columns may hold anything.
EVENT_FIELDS: Final = CONTENT_FIELDS
#: The `reporting_events` columns the library writes: the content, then the times that are not
#: content (`updated_at` is the time of the write when the event has none).
EVENT_COLUMNS: Final = (*EVENT_FIELDS, *TIME_FIELDS)
#: The key of a rollup row (`index_rollup_unique_key`), and of a distinct member.
ROLLUP_KEY_COLUMNS: Final = ("account_id", "date", "dimension_type", "dimension_id", "metric")
MEMBER_KEY_COLUMNS: Final = (*ROLLUP_KEY_COLUMNS, "member_id")

#: The reference application's indexes on `reporting_events` (name: columns), as in its
#: db/schema.rb. `rollups migrate --reference-indexes` creates the missing ones.
REFERENCE_EVENT_INDEXES: Final[Mapping[str, tuple[str, ...]]] = {
    "reporting_events__account_id__name__created_at": ("account_id", "name", "created_at"),
    "index_reporting_events_for_response_distribution": (
        "account_id",
        "name",
        "inbox_id",
        "created_at",
    ),
    "index_reporting_events_on_account_id": ("account_id",),
    "index_reporting_events_on_conversation_id": ("conversation_id",),
    "index_reporting_events_on_created_at": ("created_at",),
    "index_reporting_events_on_inbox_id": ("inbox_id",),
    "index_reporting_events_on_name": ("name",),
    "index_reporting_events_on_user_id": ("user_id",),
}

#: The `reporting_events` indexes a new database gets: only those the library's own queries use
#: (tests/integration/test_indexes.py shows each plan). Every read of raw events by account and
#: time (reports from raw, backfill and rebuild, verify, the span of an account's history) uses
#: (account_id, name, created_at); reads, writes and retractions by id use the primary key.
LIBRARY_EVENT_INDEXES: Final = ("reporting_events__account_id__name__created_at",)

#: Integer primary keys: BIGINT on PostgreSQL, INTEGER (rowid alias) on SQLite.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

reporting_events = Table(
    "reporting_events",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("name", String),
    Column("value", Float),
    Column("account_id", Integer),
    Column("inbox_id", Integer),
    Column("user_id", Integer),
    Column("conversation_id", Integer),
    Column("created_at", DateTime(timezone=False), nullable=False),
    Column("updated_at", DateTime(timezone=False), nullable=False),
    Column("value_in_business_hours", Float),
    Column("event_start_time", DateTime(timezone=False)),
    Column("event_end_time", DateTime(timezone=False)),
    *(Index(name, *REFERENCE_EVENT_INDEXES[name]) for name in LIBRARY_EVENT_INDEXES),
)

reporting_events_rollups = Table(
    "reporting_events_rollups",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("account_id", Integer, nullable=False),
    Column("date", Date, nullable=False),
    Column("dimension_type", String, nullable=False),
    Column("dimension_id", BigInteger, nullable=False),
    Column("metric", String, nullable=False),
    Column("count", BigInteger, nullable=False, server_default="0"),
    Column("sum_value", Float, nullable=False, server_default="0"),
    Column("sum_value_business_hours", Float, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=False), nullable=False),
    Column("updated_at", DateTime(timezone=False), nullable=False),
    Index(
        "index_rollup_unique_key",
        "account_id",
        "date",
        "dimension_type",
        "dimension_id",
        "metric",
        unique=True,
    ),
    Index("index_rollup_timeseries", "account_id", "metric", "date"),
    Index("index_rollup_summary", "account_id", "dimension_type", "date"),
)

#: Per-account settings the library owns (the reference keeps the zone in account settings).
rollup_accounts = Table(
    "reporting_rollup_accounts",
    metadata,
    Column("account_id", Integer, primary_key=True, autoincrement=False),
    Column("reporting_timezone", String),
    Column("rollup_timezone", String),
    Column("read_path_enabled", Boolean, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=False)),
    #: +1 at every change of reporting_timezone: the identity of the zone setting (A -> B -> A
    #: is a new generation), checked by backfills and rebuilds that span a change.
    Column("timezone_generation", BigInteger, nullable=False, server_default="0"),
)

#: Exactly-once bookkeeping: one row per raw event folded into the rollups.
rollup_applied_events = Table(
    "reporting_rollup_applied_events",
    metadata,
    Column("account_id", Integer, nullable=False),
    Column("event_id", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "event_id", name="reporting_rollup_applied_events_pkey"),
)

#: Distinct-conversation members of distinct-count rows (bot handoffs): how many raw events of
#: the conversation fall in the row's key. The row's count is the number of members.
rollup_members = Table(
    "reporting_rollup_members",
    metadata,
    Column("account_id", Integer, nullable=False),
    Column("date", Date, nullable=False),
    Column("dimension_type", String, nullable=False),
    Column("dimension_id", BigInteger, nullable=False),
    Column("metric", String, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("occurrences", Integer, nullable=False),
    PrimaryKeyConstraint(
        "account_id",
        "date",
        "dimension_type",
        "dimension_id",
        "metric",
        "member_id",
        name="reporting_rollup_members_pkey",
    ),
)

#: Change capture's log: one row per row image a host wrote to `reporting_events` ('I': an
#: insert's new image, 'D': a delete's old image; an update writes both, old first), with the
#: writing transaction (PostgreSQL). Filled by the capture triggers (`rollups capture install`).
rollup_changes = Table(
    "reporting_rollup_changes",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("account_id", Integer, nullable=False),
    Column("op", String(1), nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("name", String),
    Column("value", Float),
    Column("inbox_id", Integer),
    Column("user_id", Integer),
    Column("conversation_id", Integer),
    Column("created_at", DateTime(timezone=False)),
    Column("value_in_business_hours", Float),
    Column("txid", BigInteger),
    Column("logged_at", DateTime(timezone=False), nullable=False),
    Index("reporting_rollup_changes_account", "account_id", "id"),
)

#: When `sync` last applied each account's changes (written by the holder of its stream).
rollup_sync_state = Table(
    "reporting_rollup_sync_state",
    metadata,
    Column("account_id", Integer, primary_key=True, autoincrement=False),
    Column("synced_at", DateTime(timezone=False), nullable=False),
)

#: Retention: the account's horizon (local days before it are sealed: raw events purged, rollup
#: rows kept). Read by rebuilds, backfills and verify only.
rollup_retention = Table(
    "reporting_rollup_retention",
    metadata,
    Column("account_id", Integer, primary_key=True, autoincrement=False),
    Column("horizon", Date, nullable=False),
)

#: Retention windows in days (account 0: the default of every account).
rollup_retention_windows = Table(
    "reporting_rollup_retention_windows",
    metadata,
    Column("account_id", Integer, primary_key=True, autoincrement=False),
    Column("days", Integer, nullable=False),
)

#: Fleet runs (`rollups fleet ...`): one row per job; finished_at NULL until every account ran
#: without an error. `arguments` is the canonical JSON of the run's arguments.
rollup_jobs = Table(
    "reporting_rollup_jobs",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("kind", String, nullable=False),
    Column("arguments", String, nullable=False),
    Column("started_at", DateTime(timezone=False), nullable=False),
    Column("finished_at", DateTime(timezone=False)),
)

#: The accounts each job finished (with verify's mismatches): skipped when the job resumes.
rollup_job_accounts = Table(
    "reporting_rollup_job_accounts",
    metadata,
    Column("job_id", BigInteger, nullable=False),
    Column("account_id", Integer, nullable=False),
    Column("finished_at", DateTime(timezone=False), nullable=False),
    Column("mismatches", Integer),
    PrimaryKeyConstraint("job_id", "account_id", name="reporting_rollup_job_accounts_pkey"),
)
