"""In-memory `StatusStore`: counted from the database's dicts (no change log, no sync)."""

from __future__ import annotations

from reporting_rollups.adapters.memory.database import InMemoryDatabase
from reporting_rollups.application.ports import AccountFigures, AccountSettings


class InMemoryStatusStore:
    """Per-account figures of an in-memory database."""

    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    def figures(self, account_id: int | None = None) -> list[AccountFigures]:
        db = self.db
        known = db.accounts.keys() | db.events.keys() | db.rollups.keys()
        accounts = [account_id] if account_id is not None else sorted(known)
        return [
            AccountFigures(
                settings=db.accounts.get(account) or AccountSettings(account),
                raw_events=len(db.events.get(account, {})),
                rollup_rows=len(db.rollups.get(account, {})),
                pending=0,
                oldest_pending=None,
                last_sync=None,
                horizon=db.horizons.get(account),
            )
            for account in accounts
        ]
