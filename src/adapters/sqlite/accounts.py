"""SQLite `AccountStore`: settings read with one cached statement (the live path's per-call
read). The locks are plain reads: `BEGIN IMMEDIATE` already serialises writers."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from sqlalchemy.dialects.sqlite import insert

from reporting_rollups.adapters.sql import queries
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.adapters.sqlite.driver import MAX_VARIABLES, fetch
from reporting_rollups.application.ports import AccountSettings


class SQLiteAccountStore:
    """`reporting_rollup_accounts` on SQLite."""

    def __init__(self, session: SqlSession) -> None:
        self.session = session

    def get(self, account_id: int) -> AccountSettings:
        return self._read([account_id], "reading account settings")[account_id]

    def lock_shared(self, account_ids: Collection[int]) -> dict[int, AccountSettings]:
        return self._read(account_ids, "locking accounts")

    def lock_exclusive(self, account_id: int) -> AccountSettings:
        return self._read([account_id], "locking an account")[account_id]

    def zoned(self, after: int, limit: int) -> list[int]:
        return queries.zoned_accounts(self.session, after, limit)

    def save(self, settings: AccountSettings) -> None:
        queries.save_account(self.session, settings, insert)

    def forget(self, account_id: int) -> int:
        return queries.forget_account(self.session, account_id)

    def _read(self, account_ids: Collection[int], doing: str) -> dict[int, AccountSettings]:
        wanted = sorted(set(account_ids))

        def read(connection: sqlite3.Connection) -> dict[int, AccountSettings]:
            found: dict[int, AccountSettings] = {}
            cursor = connection.cursor()
            for start in range(0, len(wanted), MAX_VARIABLES):
                part = wanted[start : start + MAX_VARIABLES]
                marks = ", ".join(["?"] * len(part))
                for account_id, zone, rollup_zone, enabled, generation in fetch(
                    cursor,
                    "SELECT account_id, reporting_timezone, rollup_timezone, read_path_enabled, "
                    "timezone_generation FROM reporting_rollup_accounts "
                    f"WHERE account_id IN ({marks})",
                    part,
                ):
                    found[account_id] = AccountSettings(
                        account_id, zone, rollup_zone, bool(enabled), int(generation)
                    )
            return found

        found = self.session.driver(read, doing=doing)
        return {
            account_id: found.get(account_id) or AccountSettings(account_id)
            for account_id in wanted
        }
