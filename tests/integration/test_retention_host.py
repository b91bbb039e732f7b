"""Retention windows next to a host (issue 11): a host's own retention job deletes old raw rows;
with a window, such deletes reach the library (change capture, `sync --scan`) as purges that
keep the history, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from reporting_rollups.adapters import open_rollups
from tests.builders import row_map
from tests.conftest import fixed_clock
from tests.host_db import host_sql
from tests.integration.test_sync import AT, ZONE, host_insert, opened

OLD = "2026-10-01 12:00:00.000000"  # outside a 30-day window (today: 2026-11-23)


def test_captured_deletes_older_than_the_window_keep_the_history(host_url: str) -> None:
    with opened(host_url) as rollups:
        rollups.set_retention(30)
        host_insert(
            host_url, (1, "reply_time", 10, 1, 5, None, OLD), (2, "reply_time", 4, 1, 5, None, AT)
        )
        rollups.sync()
        before = row_map(rollups.rows(1))
        host_sql(host_url, "DELETE FROM reporting_events WHERE id = 1")  # the host's retention job
        result = rollups.sync()
        assert (result.consumed, result.retracted) == (1, 0)
        assert row_map(rollups.rows(1)) == before
        assert rollups.verify(1).horizon == date(2026, 10, 24)
        assert rollups.verify(1).clean
        host_sql(host_url, "DELETE FROM reporting_events WHERE id = 2")  # a recent one: retracted
        assert rollups.sync().retracted == 1
        assert {key[0] for key in row_map(rollups.rows(1))} == {date(2026, 10, 1)}


def test_scanned_deletes_older_than_the_window_keep_the_history(host_url: str) -> None:
    with open_rollups(host_url, clock=fixed_clock) as rollups:  # no capture: scan
        rollups.set_timezone(1, ZONE)
        rollups.set_retention(30, account_id=1)
        host_insert(
            host_url, (1, "reply_time", 10, 1, 5, None, OLD), (2, "reply_time", 4, 1, 5, None, AT)
        )
        rollups.scan()
        before = row_map(rollups.rows(1))
        host_sql(host_url, "DELETE FROM reporting_events WHERE id = 1")
        assert rollups.scan().orphans == 1
        assert row_map(rollups.rows(1)) == before
        assert rollups.verify(1).horizon == date(2026, 10, 24)
        assert rollups.verify(1).clean
        assert rollups.account(1).rollup_timezone == ZONE
