"""`Rollups.forget` (issue 11): everything kept for an account goes, in one transaction, on
every backend; other accounts are untouched."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli import app
from reporting_rollups.application.ports import AccountSettings
from reporting_rollups.application.service import Rollups
from tests.builders import event, row_map, utc
from tests.conftest import fixed_clock
from tests.host_db import host_sql
from tests.integration.test_sync import AT, host_insert, opened


def two_accounts(rollups: Rollups) -> None:
    for account in (1, 2):
        rollups.set_timezone(account, "UTC")
        rollups.record(
            [
                event(
                    account * 10 + n,
                    "conversation_bot_handoff",
                    at=utc(2026, 11, n, 12),
                    account_id=account,
                    conversation_id=n,
                )
                for n in range(1, 6)
            ]
        )
    rollups.purge(date(2026, 11, 3), 1)
    rollups.set_retention(30, account_id=1)


def test_forget_removes_everything_of_the_account(backend: Rollups) -> None:
    two_accounts(backend)
    other = row_map(backend.rows(2))
    assert backend.forget(1) == 3  # the raw events left after the purge
    assert backend.rows(1) == []
    assert backend.events(range(100)) == backend.events(range(20, 30))
    assert backend.account(1) == AccountSettings(1)
    assert not backend.known(1)
    assert backend.retention().accounts == {}
    assert backend.verify(2).clean
    assert row_map(backend.rows(2)) == other
    (status,) = backend.status(1).accounts
    assert (status.raw_events, status.rollup_rows, status.horizon) == (0, 0, None)
    assert backend.forget(1) == 0  # idempotent
    backend.set_timezone(1, "UTC")  # a new account with the same id starts empty
    backend.record([event(11, at=utc(2026, 11, 1, 12))])
    assert backend.verify(1).clean


def test_forget_takes_the_pending_changes_too(host_url: str) -> None:
    with opened(host_url) as rollups:
        host_insert(
            host_url, (1, "reply_time", 10, 1, 5, None, AT), (2, "reply_time", 4, 2, 5, None, AT)
        )
        assert rollups.forget(1) == 1
        assert rollups.status(1).accounts[0].pending == 0
        assert rollups.sync().consumed == 1  # account 2's change only
        assert host_sql(host_url, "SELECT count(*) FROM reporting_events")[0][0] == 1


def test_forget_command(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'forget.db'}"
    with open_rollups(db, clock=fixed_clock) as rollups:
        two_accounts(rollups)
    result = CliRunner().invoke(app, ["--db", db, "forget", "-a", "1", "--yes"])
    assert result.exit_code == 0, result.output
    assert "account 1: forgotten (3 raw event(s) removed)" in result.stdout
    with open_rollups(db, clock=fixed_clock) as rollups:
        assert rollups.rows(1) == []
        assert rollups.rows(2)
