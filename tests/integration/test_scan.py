"""`Scan` (issue 10, part 3, `rollups sync --scan`): next to a host that forbids triggers (no
change capture installed), a scan finds the rows the host inserted (no applied mark), deleted
or moved to another account (a mark without a raw row of its account) and rebuilds what they
changed, on SQLite and PostgreSQL. After every scan the rows equal a plain aggregation of the
raw rows then stored, `verify` is clean and the rollups are current.

The ledger's orphan bookkeeping, and a scan that drops an orphan, also run on the in-memory
backend; it has no host writing to it, so the host scenarios do not apply there.
"""

from __future__ import annotations

from typing import Any

import pytest

from reporting_rollups.adapters import open_rollups
from reporting_rollups.application.ports import applied_ref
from reporting_rollups.application.scan import ScanResult
from reporting_rollups.application.service import Rollups
from reporting_rollups.application.settings import AccountSettingsService
from tests.builders import event
from tests.conftest import fixed_clock
from tests.host_db import host_sql
from tests.integration.test_sync import AT, ZONE, expected, host_insert, rows

EARLY = "2026-10-03 12:00:00.000000"
NOTHING = ScanResult(0, 0, 0, 0)


def scan(rollups: Rollups) -> ScanResult:
    """One scan pass over every zoned account."""
    return rollups.scan()


def opened(url: str, *accounts: int) -> Rollups:
    """The library beside the host's tables, without change capture; `accounts` zoned."""
    rollups = open_rollups(url, clock=fixed_clock)
    for account in accounts:
        rollups.set_timezone(account, ZONE)
    return rollups


def assert_exact(rollups: Rollups, accounts: tuple[int, ...] = (1,)) -> None:
    """Rows equal a plain aggregation, `verify` is clean and the rollups are current."""
    assert rows(rollups, accounts) == expected(rollups, accounts)
    for account in accounts:
        assert rollups.verify(account).clean
        assert rollups.account(account).rollup_timezone == ZONE


def orphans(rollups: Rollups, account_id: int) -> int:
    with rollups.uow_factory(read_only=True) as uow:
        return uow.ledger.orphans(account_id)


def test_the_ledger_counts_and_drops_marks_without_a_raw_row(backend: Rollups) -> None:
    backend.set_timezone(1, ZONE)
    backend.set_timezone(2, ZONE)
    backend.record([event(1, account_id=1), event(2, account_id=1), event(3, account_id=2)])
    with backend.uow_factory() as uow:
        uow.ledger.mark([applied_ref(1, 98), applied_ref(1, 99)])  # marks no raw row backs
        assert (uow.ledger.orphans(1), uow.ledger.orphans(2)) == (2, 0)
        uow.commit()
    with backend.uow_factory() as uow:
        uow.accounts.lock_exclusive(1)
        assert uow.ledger.drop_orphans(1) == 2
        assert uow.ledger.orphans(1) == 0
        # rolled back
    assert orphans(backend, 1) == 2
    with backend.uow_factory() as uow:
        uow.accounts.lock_exclusive(1)
        assert uow.ledger.drop_orphans(1) == 2
        assert uow.ledger.drop_orphans(1) == 0
        uow.commit()
    assert orphans(backend, 1) == 0
    with backend.uow_factory() as uow:  # the marks of stored events stay
        assert uow.ledger.mark([applied_ref(1, 1), applied_ref(1, 2), applied_ref(2, 3)]) == set()
        assert uow.ledger.mark([applied_ref(1, 99)]) == {99}


def test_a_scan_drops_an_orphan_and_rebuilds_the_account(backend: Rollups) -> None:
    backend.set_timezone(1, ZONE)
    backend.record([event(1, "reply_time", value=4.0, user_id=5)])
    with backend.uow_factory() as uow:
        uow.ledger.mark([applied_ref(1, 99)])
        uow.commit()
    result = scan(backend)
    assert (result.accounts, result.orphans, result.events) == (1, 1, 1)
    assert orphans(backend, 1) == 0
    assert_exact(backend)
    assert scan(backend) == NOTHING


def test_a_scan_folds_what_the_host_inserted(host_url: str) -> None:
    with opened(host_url, 1) as rollups:
        host_insert(
            host_url,
            (1, "conversation_resolved", 60, 1, 5, 11, AT),
            (2, "first_response", 30, 1, 5, 11, AT),
            (3, "reply_time", 10, 1, 6, None, EARLY),
            (4, "conversation_bot_handoff", 0, 1, 5, 13, AT),
            (5, "conversation_bot_handoff", 0, 1, 5, 13, AT),
        )
        assert rollups.rows(1) == []  # nothing told the library
        result = scan(rollups)
        assert (result.accounts, result.events, result.orphans) == (1, 5, 0)
        assert_exact(rollups)
        assert scan(rollups) == NOTHING
        host_insert(host_url, (6, "reply_time", 8, 1, 6, None, AT))
        assert scan(rollups).events == 5  # the rows of the days rebuilt
        assert_exact(rollups)


def test_a_scan_takes_back_what_the_host_deleted(host_url: str) -> None:
    with opened(host_url, 1) as rollups:
        host_insert(
            host_url,
            (1, "reply_time", 10, 1, 6, None, EARLY),  # the account's first day: its only row
            (2, "conversation_resolved", 60, 1, 5, 11, AT),
            (3, "first_response", 30, 1, 5, 11, AT),
            (4, "conversation_bot_handoff", 0, 1, 5, 13, AT),
            (5, "conversation_bot_handoff", 0, 1, 5, 13, AT),  # same conversation: distinct 1
            (6, "conversation_bot_handoff", 0, 1, 5, 14, AT),
        )
        scan(rollups)
        assert_exact(rollups)
        host_sql(host_url, "DELETE FROM reporting_events WHERE id IN (1, 3, 4)")
        result = scan(rollups)
        assert (result.accounts, result.orphans) == (1, 3)
        assert_exact(rollups)
        assert scan(rollups) == NOTHING
        host_sql(host_url, "DELETE FROM reporting_events WHERE id IN (5, 6)")  # the handoffs
        assert scan(rollups).orphans == 2
        assert_exact(rollups)
        host_sql(host_url, "DELETE FROM reporting_events")  # every row of the account
        assert scan(rollups).orphans == 1
        assert rollups.rows(1) == []
        assert_exact(rollups)
        assert scan(rollups) == NOTHING


def test_a_scan_follows_a_row_the_host_moved_to_another_account(host_url: str) -> None:
    with opened(host_url, 1, 2) as rollups:
        host_insert(
            host_url,
            (1, "reply_time", 10, 1, 5, None, AT),
            (2, "reply_time", 20, 1, 5, None, AT),
            (3, "reply_time", 40, 2, 5, None, AT),
        )
        scan(rollups)
        host_sql(host_url, "UPDATE reporting_events SET account_id = 2 WHERE id = 2")
        result = scan(rollups)
        assert (result.accounts, result.orphans) == (2, 1)
        assert_exact(rollups, (1, 2))
        assert scan(rollups) == NOTHING


def test_a_scan_stopped_between_dropping_orphans_and_rebuilding_finishes_on_the_next(
    host_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rebuild = AccountSettingsService.rebuild

    def crash_once(self: AccountSettingsService, *args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(AccountSettingsService, "rebuild", real_rebuild)
        raise RuntimeError("killed")

    with opened(host_url, 1) as rollups:
        host_insert(
            host_url,
            (1, "reply_time", 10, 1, 5, None, EARLY),
            (2, "reply_time", 20, 1, 5, None, AT),
            (3, "conversation_resolved", 30, 1, 5, 8, AT),
        )
        scan(rollups)
        host_sql(host_url, "DELETE FROM reporting_events WHERE id IN (1, 2)")
        monkeypatch.setattr(AccountSettingsService, "rebuild", crash_once)
        with pytest.raises(RuntimeError, match="killed"):
            scan(rollups)
        assert orphans(rollups, 1) == 0  # dropped and committed
        assert rollups.account(1).rollup_timezone is None  # the rebuild is pending
        result = scan(rollups)
        assert (result.accounts, result.orphans) == (1, 0)
        assert_exact(rollups)
        assert scan(rollups) == NOTHING


def test_a_scan_skips_an_account_without_a_zone(host_url: str) -> None:
    with opened(host_url, 1) as rollups:
        host_insert(
            host_url, (1, "reply_time", 10, 1, 5, None, AT), (2, "reply_time", 20, 2, 5, None, AT)
        )
        assert scan(rollups).accounts == 1
        host_sql(host_url, "DELETE FROM reporting_events WHERE id = 2")
        host_insert(host_url, (3, "reply_time", 30, 2, 5, None, AT))
        assert scan(rollups) == NOTHING
        assert rollups.rows(2) == []
        assert rollups.account(2).timezone is None
        rollups.set_timezone(2, ZONE)  # a zone later rebuilds it from what is stored
        assert_exact(rollups, (1, 2))
        assert scan(rollups) == NOTHING


def test_recorded_events_and_host_inserts_are_folded_once(host_url: str) -> None:
    with opened(host_url, 1) as rollups:
        rollups.record([event(1, "reply_time", value=4.0, user_id=5)])
        host_insert(host_url, (2, "reply_time", 6, 1, 5, None, AT))
        assert scan(rollups).events == 2  # the day's rows: the recorded one counted once
        assert_exact(rollups)
        assert rollups.record(rollups.events([2])).duplicates == 1  # marked by the scan
        host_insert(host_url, (3, "reply_time", 7, 1, 5, None, AT))
        assert rollups.record(rollups.events([3])).rolled_up == 1  # redelivered before a scan
        assert scan(rollups) == NOTHING
        rollups.record([event(4, "reply_time", value=1.0, user_id=5)])
        host_sql(host_url, "DELETE FROM reporting_events WHERE id = 1")  # a recorded row
        assert scan(rollups).orphans == 1
        assert_exact(rollups)
        assert scan(rollups) == NOTHING


def test_a_scan_of_an_account_with_a_rebuild_pending_drops_its_orphans_too(host_url: str) -> None:
    """Rebuilt without dropping its orphan, the account would keep the mark of event 1: the
    host writing id 1 again would then never be folded."""
    with opened(host_url) as rollups:
        rollups.set_timezone(1, ZONE, rebuild=False)  # not current: a rebuild is pending
        rollups.record([event(1, "reply_time", value=4.0, user_id=5)])
        host_sql(host_url, "DELETE FROM reporting_events WHERE id = 1")
        assert scan(rollups).orphans == 1
        assert_exact(rollups)
        host_insert(host_url, (1, "reply_time", 50, 1, 5, None, AT))  # the id written again
        assert scan(rollups).accounts == 1
        assert_exact(rollups)
