"""Account settings on the in-memory adapter: the reporting zone and the read-path switch."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.memory import InMemoryDatabase
from application.ports import AccountSettings
from application.service import Rollups
from domain.errors import AccountNotConfiguredError, InvalidTimezoneError
from tests.builders import event, row_map, utc
from tests.reference import assert_rollups_match

# 2026-11-20 03:30 UTC: the 19th in New York, the 20th in UTC and Tokyo.
EVENTS = [
    event(1, "reply_time", value=2, at=utc(2026, 11, 20, 3, 30), user_id=1),
    event(2, "conversation_bot_handoff", conversation_id=5, at=utc(2026, 11, 20, 3, 30)),
    event(3, "conversation_bot_handoff", conversation_id=5, at=utc(2026, 11, 20, 6, 0)),
]


def test_defaults(rollups: Rollups) -> None:
    assert rollups.account(1) == AccountSettings(1, None, None, False)


def test_set_timezone_rebuilds_and_marks_rollups_current(rollups: Rollups) -> None:
    rollups.record(EVENTS)
    result = rollups.set_timezone(1, "America/New_York")
    assert result is not None
    assert result.events == 3
    assert result.plan.until == date(2026, 11, 23)  # a rebuild runs through today
    assert rollups.account(1) == AccountSettings(1, "America/New_York", "America/New_York", False)
    assert_rollups_match(rollups, 1, "America/New_York", EVENTS)


def test_rebuild_includes_today_and_future_events(rollups: Rollups) -> None:
    events = [event(1, at=utc(2026, 11, 23, 11)), event(2, at=utc(2027, 1, 1))]
    rollups.record(events)
    rollups.set_timezone(1, "UTC")
    assert_rollups_match(rollups, 1, "UTC", events)


@pytest.mark.parametrize("bad", ["", "EST5EDT ", "Invalid/Zone", "utc/", 5])
def test_invalid_zone_changes_nothing(rollups: Rollups, db: InMemoryDatabase, bad: object) -> None:
    rollups.record(EVENTS)
    rollups.set_timezone(1, "UTC")
    before = (dict(db.accounts), {a: dict(r) for a, r in db.rollups.items()}, dict(db.applied))
    with pytest.raises(InvalidTimezoneError):
        rollups.set_timezone(1, bad)  # type: ignore[arg-type]
    assert (
        dict(db.accounts),
        {a: dict(r) for a, r in db.rollups.items()},
        dict(db.applied),
    ) == before


def test_none_clears_the_zone_and_the_rollups(rollups: Rollups, db: InMemoryDatabase) -> None:
    rollups.record(EVENTS)
    rollups.set_timezone(1, "UTC")
    assert rollups.set_timezone(1, None) is None
    assert rollups.account(1) == AccountSettings(1, None, None, False)
    assert rollups.rows(1) == []
    assert db.applied == {}
    assert db.members.get(1, {}) == {}
    assert rollups.record([event(4)]).skipped == 1
    assert rollups.retract([1]).rolled_back == 0
    assert rollups.rows(1) == []


def test_changing_the_zone_rebuilds_in_the_new_zone(rollups: Rollups) -> None:
    rollups.record(EVENTS)
    rollups.set_timezone(1, "UTC")
    assert {key.date for key, _ in rollups.rows(1)} == {date(2026, 11, 20)}
    rollups.set_timezone(1, "America/New_York")
    assert {key.date for key, _ in rollups.rows(1)} == {date(2026, 11, 19), date(2026, 11, 20)}
    assert row_map(rollups.rows(1))[(date(2026, 11, 19), "account", 1, "bot_handoffs_count")] == (
        1,
        0.0,
        0.0,
    )
    assert_rollups_match(rollups, 1, "America/New_York", EVENTS)


def test_rebuild_false_leaves_rollups_empty_until_rebuild(rollups: Rollups) -> None:
    rollups.record(EVENTS)
    rollups.set_timezone(1, "UTC")
    assert rollups.set_timezone(1, "Asia/Tokyo", rebuild=False) is None
    assert rollups.account(1) == AccountSettings(1, "Asia/Tokyo", None, False)
    assert rollups.rows(1) == []
    late = event(4, "reply_time", value=1, at=utc(2026, 11, 21, 1))
    assert rollups.record([late]).rolled_up == 1
    assert rollups.account(1).rollup_timezone is None
    result = rollups.rebuild(1)
    assert result.events == 4
    assert rollups.account(1).rollup_timezone == "Asia/Tokyo"
    assert_rollups_match(rollups, 1, "Asia/Tokyo", [*EVENTS, late])


def test_setting_the_same_zone_again_is_a_no_op(rollups: Rollups, db: InMemoryDatabase) -> None:
    rollups.record(EVENTS)
    rollups.set_timezone(1, "UTC")
    rows = rollups.rows(1)
    applied = dict(db.applied)
    assert rollups.set_timezone(1, "UTC") is None
    assert rollups.rows(1) == rows
    assert db.applied == applied


def test_setting_the_same_zone_with_rebuild_finishes_an_unbuilt_zone(rollups: Rollups) -> None:
    rollups.record(EVENTS)
    rollups.set_timezone(1, "UTC", rebuild=False)
    result = rollups.set_timezone(1, "UTC")
    assert result is not None
    assert rollups.account(1).rollup_timezone == "UTC"
    assert_rollups_match(rollups, 1, "UTC", EVENTS)


def test_rebuild_without_zone_raises(rollups: Rollups) -> None:
    with pytest.raises(AccountNotConfiguredError):
        rollups.rebuild(1)


def test_progress_is_forwarded(rollups: Rollups) -> None:
    rollups.record(EVENTS)
    calls: list[tuple[int, int, date]] = []
    rollups.set_timezone(1, "UTC", progress=lambda *args: calls.append(args))
    assert calls == [(4, 4, date(2026, 11, 23))]


def test_other_accounts_are_untouched(rollups: Rollups) -> None:
    other = event(9, "reply_time", value=1, account_id=2)
    rollups.record([*EVENTS, other])
    rollups.set_timezone(2, "UTC")
    rows = rollups.rows(2)
    rollups.set_timezone(1, "UTC")
    rollups.set_timezone(1, "Asia/Tokyo")
    rollups.set_timezone(1, None)
    assert rollups.rows(2) == rows
    assert rollups.account(2).rollup_timezone == "UTC"


def test_enable_read_path(rollups: Rollups) -> None:
    rollups.set_timezone(1, "UTC")
    assert rollups.enable_read_path(1) == AccountSettings(1, "UTC", "UTC", True)
    assert rollups.account(1).read_path_enabled is True
    assert rollups.enable_read_path(1, False).read_path_enabled is False
    assert rollups.account(1) == AccountSettings(1, "UTC", "UTC", False)


def test_read_path_survives_zone_changes(rollups: Rollups) -> None:
    rollups.enable_read_path(1)
    rollups.set_timezone(1, "UTC")
    assert rollups.account(1) == AccountSettings(1, "UTC", "UTC", True)
