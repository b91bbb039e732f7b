"""Account settings on the in-memory adapter: internal tables, progress and future events
(the contract suite covers the rest)."""

from __future__ import annotations

from datetime import date

import pytest

from reporting_rollups.adapters.memory import InMemoryDatabase
from reporting_rollups.application.ports import AccountSettings
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import InvalidTimezoneError
from tests.builders import event, utc
from tests.reference import assert_rollups_match

# 2026-11-20 03:30 UTC: the 19th in New York, the 20th in UTC and Tokyo.
EVENTS = [
    event(1, "reply_time", value=2, at=utc(2026, 11, 20, 3, 30), user_id=1),
    event(2, "conversation_bot_handoff", conversation_id=5, at=utc(2026, 11, 20, 3, 30)),
    event(3, "conversation_bot_handoff", conversation_id=5, at=utc(2026, 11, 20, 6, 0)),
]


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
    assert rollups.account(1) == AccountSettings(1, None, None, False, generation=2)
    assert rollups.rows(1) == []
    assert db.applied == {}
    assert db.members.get(1, {}) == {}
    assert rollups.record([event(4)]).skipped == 1
    assert rollups.retract([1]).rolled_back == 0
    assert rollups.rows(1) == []


def test_setting_the_same_zone_again_is_a_no_op(rollups: Rollups, db: InMemoryDatabase) -> None:
    rollups.record(EVENTS)
    rollups.set_timezone(1, "UTC")
    rows = rollups.rows(1)
    applied = dict(db.applied)
    assert rollups.set_timezone(1, "UTC") is None
    assert rollups.rows(1) == rows
    assert db.applied == applied


def test_progress_is_forwarded(rollups: Rollups) -> None:
    rollups.record(EVENTS)
    calls: list[tuple[int, int, date]] = []
    rollups.set_timezone(1, "UTC", progress=lambda *args: calls.append(args))
    assert calls == [(4, 4, date(2026, 11, 23))]
