"""The SQL `StatusStore` (the same on SQLite and PostgreSQL): one grouped query per table, so
that `rollups status` over every account reads each table once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, func, select

from reporting_rollups.adapters.sql.rows import aware
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.adapters.sql.tables import (
    reporting_events,
    reporting_events_rollups,
    rollup_accounts,
    rollup_changes,
    rollup_retention,
    rollup_sync_state,
)
from reporting_rollups.application.ports import AccountFigures, AccountSettings


class SqlStatusStore:
    """`StatusStore` over the library's and the shared tables."""

    def __init__(self, session: SqlSession) -> None:
        self.session = session

    def figures(self, account_id: int | None = None) -> list[AccountFigures]:
        def grouped(table: Table, *columns: Any) -> Select[Any]:
            query = select(table.c.account_id, *columns).where(table.c.account_id.is_not(None))
            if account_id is not None:
                query = query.where(table.c.account_id == account_id)
            return query.group_by(table.c.account_id)

        def read(query: Select[Any], doing: str) -> dict[int, tuple[Any, ...]]:
            return {int(row[0]): tuple(row[1:]) for row in self.session.rows(query, doing=doing)}

        a = rollup_accounts
        configured = select(
            a.c.account_id,
            a.c.reporting_timezone,
            a.c.rollup_timezone,
            a.c.read_path_enabled,
            a.c.timezone_generation,
        )
        if account_id is not None:
            configured = configured.where(a.c.account_id == account_id)
        settings = read(configured, "reading account settings")
        raw = read(grouped(reporting_events, func.count()), "counting raw events")
        rollups = read(grouped(reporting_events_rollups, func.count()), "counting rollup rows")
        c = rollup_changes
        changes = read(
            grouped(c, func.count(), func.min(c.c.logged_at)), "counting pending changes"
        )
        s = rollup_sync_state
        synced = read(grouped(s, func.max(s.c.synced_at)), "reading the sync state")
        h = rollup_retention
        horizons = read(grouped(h, func.max(h.c.horizon)), "reading retention horizons")
        accounts = sorted(settings.keys() | raw.keys() | rollups.keys() | changes.keys())
        if account_id is not None:
            accounts = [account_id]
        return [
            AccountFigures(
                settings=_settings(account, settings.get(account)),
                raw_events=int(raw.get(account, (0,))[0]),
                rollup_rows=int(rollups.get(account, (0,))[0]),
                pending=int(changes.get(account, (0, None))[0]),
                oldest_pending=_instant(changes.get(account, (0, None))[1]),
                last_sync=_instant(synced.get(account, (None,))[0]),
                horizon=horizons.get(account, (None,))[0],
            )
            for account in accounts
        ]


def _settings(account_id: int, row: tuple[Any, ...] | None) -> AccountSettings:
    if row is None:
        return AccountSettings(account_id)
    zone, rollup_zone, read_path, generation = row
    return AccountSettings(account_id, zone, rollup_zone, bool(read_path), int(generation))


def _instant(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)
