"""PostgreSQL `AccountStore`: each account's settings row is its lock, FOR SHARE for live
writers and retractions, FOR UPDATE for exclusive work (backfill chunks, zone changes)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from reporting_rollups.adapters.postgres.arrays import Int8Array
from reporting_rollups.adapters.postgres.driver import execute, fetch
from reporting_rollups.adapters.postgres.statements import (
    CREATE_ACCOUNT,
    LOCK_ACCOUNT,
    LOCK_ACCOUNTS,
    RELOCK_ACCOUNTS,
)
from reporting_rollups.adapters.sql import queries
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.application.ports import AccountSettings


def _settings(rows: Sequence[tuple[Any, ...]]) -> dict[int, AccountSettings]:
    """Settings by account from rows (account_id, reporting_timezone, rollup_timezone,
    read_path_enabled, timezone_generation)."""
    return {
        int(account_id): AccountSettings(
            int(account_id), zone, rollup_zone, bool(read_path), int(generation)
        )
        for account_id, zone, rollup_zone, read_path, generation in rows
    }


class PostgresAccountStore:
    """`reporting_rollup_accounts` on PostgreSQL; its rows are the account locks."""

    def __init__(self, session: SqlSession, *, distributed: bool = False) -> None:
        self.session = session
        #: a distributed database (Citus): one account per statement, so that each is routed
        #: to its shard (a lock FOR SHARE over several shards is refused there)
        self.distributed = distributed

    def get(self, account_id: int) -> AccountSettings:
        return queries.read_accounts(self.session, [account_id])[account_id]

    def lock_shared(self, account_ids: Collection[int]) -> dict[int, AccountSettings]:
        return self._lock(account_ids, "SHARE", "locking accounts")

    def lock_exclusive(self, account_id: int) -> AccountSettings:
        return self._lock([account_id], "UPDATE", "locking an account")[account_id]

    def zoned(self, after: int, limit: int) -> list[int]:
        return queries.zoned_accounts(self.session, after, limit)

    def save(self, settings: AccountSettings) -> None:
        queries.save_account(self.session, settings, insert)

    def forget(self, account_id: int) -> int:
        return queries.forget_account(self.session, account_id)

    def _lock(
        self, account_ids: Collection[int], mode: str, doing: str
    ) -> dict[int, AccountSettings]:
        """Lock the rows in account order, creating the missing ones first (`LOCK_ACCOUNTS`)."""
        ids = sorted(set(account_ids))
        if not ids:
            return {}
        if self.distributed:
            return self._lock_each(ids, mode, doing)
        statement = LOCK_ACCOUNTS.format(mode=mode)
        params = {"ids": Int8Array(ids)}
        found = _settings(fetch(self.session, statement, params, doing=doing))
        missing = [account_id for account_id in ids if account_id not in found]
        if missing:  # created and committed by another transaction while ours waited
            statement = RELOCK_ACCOUNTS.format(mode=mode)
            params = {"ids": Int8Array(missing)}
            found.update(_settings(fetch(self.session, statement, params, doing=doing)))
        return {
            account_id: found.get(account_id) or AccountSettings(account_id) for account_id in ids
        }

    def _lock_each(self, ids: Sequence[int], mode: str, doing: str) -> dict[int, AccountSettings]:
        """`_lock` one account at a time, in account order: create its row if missing, then
        lock it (two single-shard statements each)."""
        statement = LOCK_ACCOUNT.format(mode=mode)
        found: dict[int, AccountSettings] = {}
        for account_id in ids:
            params = {"id": account_id}
            execute(self.session, CREATE_ACCOUNT, params, doing=doing)
            found.update(_settings(fetch(self.session, statement, params, doing=doing)))
        return found
