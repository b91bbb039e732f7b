"""Contract of account settings, of the account store and of `open_rollups`, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from reporting_rollups.adapters import open_rollups
from reporting_rollups.application.ports import AccountSettings
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import (
    AccountNotConfiguredError,
    ConfigurationError,
    InvalidTimezoneError,
    ZoneChangedError,
)
from tests.builders import event, row_map, utc
from tests.conftest import fixed_clock
from tests.reference import assert_rollups_match

# 2026-11-20 03:30 UTC: the 19th in New York, the 20th in UTC and Tokyo.
EVENTS = [
    event(1, "reply_time", value=2, at=utc(2026, 11, 20, 3, 30), user_id=1),
    event(2, "conversation_bot_handoff", conversation_id=5, at=utc(2026, 11, 20, 3, 30)),
    event(3, "conversation_bot_handoff", conversation_id=5, at=utc(2026, 11, 20, 6, 0)),
    event(4, "first_response", value=1, at=utc(2026, 11, 23, 11)),  # today
]


def test_defaults(backend: Rollups) -> None:
    assert backend.account(1) == AccountSettings(1, None, None, False)


def test_set_timezone_rebuilds_through_today(backend: Rollups) -> None:
    backend.record(EVENTS)
    result = backend.set_timezone(1, "America/New_York")
    assert result is not None
    assert result.events == 4
    assert (result.plan.since, result.plan.until) == (date(2026, 11, 19), date(2026, 11, 23))
    assert backend.account(1) == AccountSettings(
        1, "America/New_York", "America/New_York", False, generation=1
    )
    assert_rollups_match(backend, 1, "America/New_York", EVENTS)


@pytest.mark.parametrize("bad", ["", "EST5EDT ", "Invalid/Zone", "../UTC", 5])
def test_invalid_zone_changes_nothing(backend: Rollups, bad: object) -> None:
    backend.record(EVENTS)
    backend.set_timezone(1, "UTC")
    rows = backend.rows(1)
    with pytest.raises(InvalidTimezoneError):
        backend.set_timezone(1, bad)  # type: ignore[arg-type]
    assert backend.account(1) == AccountSettings(1, "UTC", "UTC", False, generation=1)
    assert backend.rows(1) == rows


def test_none_clears_the_zone_and_the_rollups(backend: Rollups) -> None:
    backend.record(EVENTS)
    backend.set_timezone(1, "UTC")
    assert backend.set_timezone(1, None) is None
    assert backend.account(1) == AccountSettings(1, None, None, False, generation=2)
    assert backend.rows(1) == []
    assert backend.record([event(5)]).skipped == 1
    assert backend.retract([1], account_id=1).rolled_back == 0
    assert backend.rows(1) == []
    backend.set_timezone(1, "UTC")
    assert_rollups_match(backend, 1, "UTC", [e for e in EVENTS if e.id != 1] + [event(5)])


def test_changing_the_zone_rebuilds_in_the_new_zone(backend: Rollups) -> None:
    backend.record(EVENTS)
    backend.set_timezone(1, "UTC")
    assert {key.date for key, _ in backend.rows(1)} == {date(2026, 11, 20), date(2026, 11, 23)}
    backend.set_timezone(1, "America/New_York")
    assert {key.date for key, _ in backend.rows(1)} == {
        date(2026, 11, 19),
        date(2026, 11, 20),
        date(2026, 11, 23),
    }
    assert row_map(backend.rows(1))[(date(2026, 11, 19), "account", 1, "bot_handoffs_count")] == (
        1,
        0.0,
        0.0,
    )
    assert_rollups_match(backend, 1, "America/New_York", EVENTS)
    assert backend.verify(1).mismatches == []


def test_rebuild_false_leaves_rollups_empty_until_rebuild(backend: Rollups) -> None:
    backend.record(EVENTS)
    backend.set_timezone(1, "UTC")
    assert backend.set_timezone(1, "Asia/Tokyo", rebuild=False) is None
    assert backend.account(1) == AccountSettings(1, "Asia/Tokyo", None, False, generation=2)
    assert backend.rows(1) == []
    late = event(9, "reply_time", value=1, at=utc(2026, 11, 21, 1))
    assert backend.record([late]).rolled_up == 1
    assert backend.account(1).rollup_timezone is None
    assert backend.rebuild(1).events == 5
    assert backend.account(1).rollup_timezone == "Asia/Tokyo"
    assert_rollups_match(backend, 1, "Asia/Tokyo", [*EVENTS, late])


def test_setting_the_same_zone_again_is_a_no_op(backend: Rollups) -> None:
    backend.record(EVENTS)
    backend.set_timezone(1, "UTC")
    rows = backend.rows(1)
    assert backend.set_timezone(1, "UTC") is None
    assert backend.rows(1) == rows
    assert backend.record(EVENTS).rolled_up == 0


def test_the_same_zone_with_rebuild_finishes_an_unbuilt_zone(backend: Rollups) -> None:
    backend.record(EVENTS)
    backend.set_timezone(1, "UTC", rebuild=False)
    assert backend.set_timezone(1, "UTC") is not None
    assert backend.account(1).rollup_timezone == "UTC"
    assert_rollups_match(backend, 1, "UTC", EVENTS)


def test_a_rebuild_empties_days_whose_raw_events_are_all_gone(backend: Rollups) -> None:
    """Raw rows deleted behind the library's back (a host without change capture) leave rollup
    rows on days before the first raw event and after today: a full rebuild empties those too."""
    backend.set_timezone(1, "UTC")
    backend.record(
        [
            event(1, at=utc(2026, 11, 1, 12)),
            event(2, at=utc(2026, 11, 10, 12)),
            event(3, at=utc(2026, 11, 30, 12)),  # after the tests' today (2026-11-23)
        ]
    )
    with backend.uow_factory() as uow:  # deleted, not retracted: rows and marks stay
        uow.events.remove([1, 3], [1])
        uow.commit()
    backend.rebuild(1)
    assert {key.date for key, _value in backend.rows(1)} == {date(2026, 11, 10)}
    assert backend.verify(1).clean


def test_rebuild_without_zone_raises(backend: Rollups) -> None:
    with pytest.raises(AccountNotConfiguredError):
        backend.rebuild(1)


def test_other_accounts_are_untouched(backend: Rollups) -> None:
    other = event(9, "reply_time", value=1, account_id=2)
    backend.record([*EVENTS, other])
    backend.set_timezone(2, "UTC")
    rows = backend.rows(2)
    backend.set_timezone(1, "UTC")
    backend.set_timezone(1, "Asia/Tokyo")
    backend.set_timezone(1, None)
    assert backend.rows(2) == rows
    assert backend.account(2) == AccountSettings(2, "UTC", "UTC", False, generation=1)
    assert backend.record([other]).rolled_up == 0


def test_enable_read_path(backend: Rollups) -> None:
    backend.set_timezone(1, "UTC")
    assert backend.enable_read_path(1) == AccountSettings(1, "UTC", "UTC", True, generation=1)
    assert backend.account(1).read_path_enabled is True
    assert backend.enable_read_path(1, False) == AccountSettings(1, "UTC", "UTC", False, 1)
    assert backend.account(1) == AccountSettings(1, "UTC", "UTC", False, generation=1)
    backend.enable_read_path(2)
    assert backend.account(2) == AccountSettings(2, None, None, True)
    backend.set_timezone(2, "UTC")
    assert backend.account(2) == AccountSettings(2, "UTC", "UTC", True, generation=1)


def test_account_store(backend: Rollups) -> None:
    with backend.uow_factory() as uow:
        assert uow.accounts.get(1) == AccountSettings(1)
        assert uow.accounts.lock_shared({2, 1}) == {1: AccountSettings(1), 2: AccountSettings(2)}
        assert uow.accounts.lock_exclusive(3) == AccountSettings(3)
        uow.accounts.save(AccountSettings(3, "UTC", "UTC", True))
        assert uow.accounts.get(3) == AccountSettings(3, "UTC", "UTC", True)
        assert uow.accounts.lock_exclusive(3) == AccountSettings(3, "UTC", "UTC", True)
    assert backend.account(3) == AccountSettings(3)
    with backend.uow_factory() as uow:
        uow.accounts.lock_exclusive(3)
        uow.accounts.save(AccountSettings(3, "UTC", None, True))
        uow.commit()
    with backend.uow_factory() as uow:
        assert uow.accounts.lock_shared([3]) == {3: AccountSettings(3, "UTC", None, True)}
        uow.accounts.lock_exclusive(3)
        uow.accounts.save(AccountSettings(3, "Asia/Tokyo", "Asia/Tokyo", False, generation=7))
        uow.commit()
    assert backend.account(3) == AccountSettings(3, "Asia/Tokyo", "Asia/Tokyo", False, 7)


# --- open_rollups ----------------------------------------------------------------------------


def test_everything_survives_reopening(
    backend_name: str, backend: Rollups, open_backend: Callable[..., Rollups]
) -> None:
    if backend_name == "memory":
        pytest.skip("memory:// keeps nothing once closed")
    backend.record(EVENTS)
    backend.set_timezone(1, "Asia/Tokyo")
    backend.enable_read_path(1)
    rows = backend.rows(1)
    backend.close()
    with open_backend() as reopened:
        assert reopened.account(1) == AccountSettings(1, "Asia/Tokyo", "Asia/Tokyo", True, 1)
        assert reopened.rows(1) == rows
        assert reopened.record(EVENTS).rolled_up == 0
        assert reopened.verify(1).mismatches == []


def test_reopening_with_migrate_on_an_up_to_date_database(
    backend: Rollups, open_backend: Callable[..., Rollups]
) -> None:
    backend.record(EVENTS)
    again = open_backend(migrate=True)
    again.set_timezone(1, "UTC")
    again.record(EVENTS)
    assert_rollups_match(again, 1, "UTC", EVENTS)


def test_rollups_is_a_context_manager_and_close_is_idempotent(backend_url: str) -> None:
    with open_rollups(backend_url, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, "UTC")
    rollups.close()
    rollups.close()


def test_two_instances_on_one_database_see_each_others_writes(
    backend_name: str, open_backend: Callable[..., Rollups]
) -> None:
    if backend_name == "memory":
        pytest.skip("each memory:// URL opens its own database")
    first, second = open_backend(), open_backend()
    first.set_timezone(1, "UTC")
    second.record(EVENTS)
    assert first.rows(1) == second.rows(1) != []
    first.retract([1], account_id=1)
    assert second.verify(1).mismatches == []


@pytest.mark.parametrize(
    "url", ["", "nothing", "mysql://localhost/db", "oracle://x", "http://example.com", "memory:/"]
)
def test_bad_urls_raise_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        open_rollups(url)


def test_configuration_errors_do_not_show_passwords() -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_rollups("mysql://user:s3cret@localhost/db")
    assert "s3cret" not in str(caught.value)


# --- a zone change while a rebuild runs ------------------------------------------------------


def test_zone_changed_away_and_back_during_a_rebuild_is_never_marked_current(
    backend_name: str, open_backend: Callable[..., Rollups]
) -> None:
    """Issue 8, item 3. While `rebuild` runs chunk by chunk, a second caller sets the zone to B
    and back to A with rebuild=False, clearing the days already built. The rebuild must not
    mark the rollups current in A (it used to: the zone names compared equal, and reports
    were served from rollups that missed the first chunk's events)."""
    builder = open_backend(chunk_days=2)
    other = builder if backend_name == "memory" else open_backend()  # memory: one database
    resolutions = [
        event(100 + n, "conversation_resolved", value=60.0, at=utc(2026, 11, 10 + n, 12))
        for n in range(10)
    ]
    builder.record(resolutions)
    builder.set_timezone(1, "UTC", rebuild=False)
    builder.enable_read_path(1)
    changed: list[date] = []

    def change_zone_after_the_first_chunk(done: int, total: int, day: date) -> None:
        if not changed:
            other.set_timezone(1, "Asia/Tokyo", rebuild=False)
            other.set_timezone(1, "UTC", rebuild=False)
        changed.append(day)

    with pytest.raises(ZoneChangedError):
        builder.rebuild(1, change_zone_after_the_first_chunk)
    assert changed, "the rebuild ran no chunk"
    settings = builder.account(1)
    assert (settings.timezone, settings.rollup_timezone) == ("UTC", None)
    report = builder.reports.summary(1, "account", date(2026, 11, 1), date(2026, 11, 30))
    assert report.source.value == "raw"
    assert report.rows[0].resolutions_count == 10
    # Run again, undisturbed: current, exact, and served from rollups.
    builder.rebuild(1)
    assert builder.account(1).rollup_timezone == "UTC"
    assert builder.verify(1).mismatches == []
    report = builder.reports.summary(1, "account", date(2026, 11, 1), date(2026, 11, 30))
    assert (report.source.value, report.rows[0].resolutions_count) == ("rollups", 10)


def test_a_backfill_spanning_a_zone_change_away_and_back_stops(
    backend_name: str, open_backend: Callable[..., Rollups]
) -> None:
    """The same for `backfill`: the chunk after the change raises instead of going on in a
    generation whose earlier days were cleared."""
    builder = open_backend(chunk_days=2)
    other = builder if backend_name == "memory" else open_backend()
    builder.record(EVENTS)
    builder.set_timezone(1, "UTC")
    calls: list[int] = []

    def change_zone_once(done: int, total: int, day: date) -> None:
        if not calls:
            other.set_timezone(1, "Asia/Tokyo", rebuild=False)
            other.set_timezone(1, "UTC", rebuild=False)
        calls.append(done)

    with pytest.raises(ZoneChangedError):
        builder.backfill(1, date(2026, 11, 15), date(2026, 11, 22), change_zone_once)
    assert calls == [2]


def test_a_backfill_says_whether_reports_are_served_from_rollups(backend: Rollups) -> None:
    """`backfill()` never marks the rollups current (only `rebuild` does); its result says
    whether reports read them, instead of leaving them on raw events silently."""
    backend.record(EVENTS)
    backend.set_timezone(1, "UTC", rebuild=False)
    result = backend.backfill(1)
    assert result.events > 0
    assert result.rollups_current is False
    assert backend.account(1).rollup_timezone is None
    backend.rebuild(1)
    assert backend.backfill(1).rollups_current is True
