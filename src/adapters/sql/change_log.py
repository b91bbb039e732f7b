"""The change log's queries, the same on SQLite and PostgreSQL: which accounts have changes,
taking an account's oldest changes (deleted as they are read), what is pending, and when each
account was last synced. How an
account's change stream is held is each backend's (`ChangeLog.take`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from reporting_rollups.adapters.sql import change_rows
from reporting_rollups.adapters.sql.aggregation import naive_utc, readable_created_at
from reporting_rollups.adapters.sql.queries import InsertOf
from reporting_rollups.adapters.sql.rows import aware
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.adapters.sql.tables import rollup_changes, rollup_sync_state
from reporting_rollups.application.ports import Change, TimeSpan

_c = rollup_changes


def accounts(session: SqlSession, after: int, limit: int) -> list[int]:
    """`ChangeLog.accounts` (a loose scan of (account_id, id) would be faster on a long log)."""
    query = (
        select(_c.c.account_id)
        .where(_c.c.account_id > after)
        .distinct()
        .order_by(_c.c.account_id)
        .limit(limit)
    )
    return [int(row[0]) for row in session.rows(query, doing="reading pending changes")]


def take(session: SqlSession, account_id: int, limit: int) -> list[Change]:
    """Remove and return up to `limit` of the account's oldest visible changes, in log order
    (`change_rows`: on the DB-API connection; the caller holds the account's stream)."""
    return change_rows.take(session, account_id, limit)


def pending(session: SqlSession, account_id: int | None) -> tuple[int, datetime | None]:
    """`ChangeLog.pending`."""
    query = select(func.count(), func.min(_c.c.logged_at))
    if account_id is not None:
        query = query.where(_c.c.account_id == account_id)
    count, oldest = session.one(query, doing="counting pending changes")
    return int(count), None if oldest is None else aware(oldest)


def pending_span(session: SqlSession, account_id: int) -> TimeSpan | None:
    """`ChangeLog.pending_span`."""
    query = select(func.min(_c.c.created_at), func.max(_c.c.created_at)).where(
        _c.c.account_id == account_id, *readable_created_at(_c.c.created_at)
    )
    first, last = session.one(query, doing="reading the days of pending changes")
    if first is None or last is None:
        return None
    return TimeSpan(aware(first), aware(last))


def synced(session: SqlSession, account_id: int, at: datetime, insert: InsertOf) -> None:
    """`ChangeLog.synced`: an upsert with the dialect's `insert`."""
    t = rollup_sync_state
    statement = insert(t).values(account_id=account_id, synced_at=naive_utc(at))
    statement = statement.on_conflict_do_update(
        index_elements=[t.c.account_id], set_={"synced_at": statement.excluded.synced_at}
    )
    session.execute(statement, doing="recording a sync")
