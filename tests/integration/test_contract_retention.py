"""Retention (issue 11, part 1), on every backend: `purge` deletes the raw events of the local
days before a date, keeps their rollup rows and seals those days; sealed days are history that
backfill, rebuild, verify and zone changes never rewrite or flag."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import attrs
import pytest

from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import (
    AccountNotConfiguredError,
    InvalidRangeError,
    SealedDaysError,
)
from tests.builders import event, row_map, utc

HORIZON = date(2026, 11, 6)


def history() -> list[Any]:
    """Two events a day on Nov 1-10 (UTC), a handoff pair on Nov 2 and Nov 8."""
    events = []
    for day in range(1, 11):
        at = utc(2026, 11, day, 12)
        events.append(event(day * 10, "reply_time", at=at, value=day, user_id=5))
        events.append(event(day * 10 + 1, "conversation_resolved", at=at, value=60, user_id=6))
    for day in (2, 8):
        for n in (2, 3):
            events.append(
                event(
                    day * 10 + n,
                    "conversation_bot_handoff",
                    at=utc(2026, 11, day, 13 + n),
                    conversation_id=day,
                )
            )
    return events


@pytest.fixture
def purged(backend: Rollups) -> tuple[Rollups, dict[Any, Any]]:
    """Account 1 (UTC) with its history, purged before HORIZON; and its rows before."""
    backend.set_timezone(1, "UTC")
    backend.record(history())
    rows = row_map(backend.rows(1))
    plan = backend.purge_plan(1, HORIZON)
    assert (plan.events, plan.days, plan.horizon) == (12, 5, None)
    assert plan.rollup_rows == len([key for key in rows if key[0] < HORIZON]) > 0
    (result,) = backend.purge(HORIZON, 1)
    assert result.events == 12
    return backend, rows


def test_a_purge_keeps_the_rollups_and_seals_the_days(purged: tuple[Rollups, Any]) -> None:
    rollups, before = purged
    assert row_map(rollups.rows(1)) == before
    kept = [e.id for e in history() if e.created_at >= datetime(2026, 11, 6, tzinfo=UTC)]
    assert [e.id for e in rollups.events(range(200))] == sorted(kept)
    found = rollups.verify(1)
    assert found.clean
    assert found.horizon == HORIZON
    assert rollups.purge_plan(1, HORIZON).horizon == HORIZON
    assert rollups.purge_plan(1, HORIZON).events == 0


def test_sealed_days_are_never_rebuilt(purged: tuple[Rollups, Any]) -> None:
    rollups, before = purged
    rollups.backfill(1)  # the default range starts at the horizon
    rollups.rebuild(1)
    assert row_map(rollups.rows(1)) == before
    assert rollups.backfill(1).plan.since == HORIZON
    for since, until in ((date(2026, 11, 1), None), (None, date(2026, 11, 5))):
        with pytest.raises(SealedDaysError, match="days before 2026-11-06 are sealed"):
            rollups.backfill(1, since, until)
        with pytest.raises(SealedDaysError, match="2026-11-06"):
            rollups.verify(1, since, until)
    assert row_map(rollups.rows(1)) == before


def test_a_retraction_of_a_purged_event_changes_nothing(purged: tuple[Rollups, Any]) -> None:
    rollups, before = purged
    result = rollups.retract([10, 11, 23], account_id=1)
    assert (result.retracted, result.unknown) == (0, 3)
    assert row_map(rollups.rows(1)) == before


def test_a_zone_change_refuses_to_drop_sealed_history(purged: tuple[Rollups, Any]) -> None:
    rollups, before = purged
    with pytest.raises(SealedDaysError, match="drop_sealed_history"):
        rollups.set_timezone(1, "Asia/Tokyo")
    with pytest.raises(SealedDaysError):
        rollups.set_timezone(1, None)
    assert rollups.account(1).timezone == "UTC"
    assert row_map(rollups.rows(1)) == before
    rollups.set_timezone(1, "Asia/Tokyo", drop_sealed_history=True)
    assert rollups.account(1).rollup_timezone == "Asia/Tokyo"
    assert {key[0] for key in row_map(rollups.rows(1))} >= {date(2026, 11, 6)}
    assert min(key[0] for key in row_map(rollups.rows(1))) >= HORIZON
    assert rollups.verify(1).clean
    assert rollups.verify(1).horizon is None


def test_reports_answer_sealed_days_from_rollups(purged: tuple[Rollups, Any]) -> None:
    rollups, _before = purged
    rollups.enable_read_path(1)
    summary = rollups.reports.summary(1, "account", date(2026, 11, 1), date(2026, 11, 10))
    assert summary.source.value == "rollups"
    (row,) = summary.rows
    assert row.resolutions_count == 10
    assert row.bot_handoffs_count == 2  # one conversation on each of two days
    assert summary.sealed_before is None
    raw = rollups.reports.summary(
        1, "account", date(2026, 11, 1), date(2026, 11, 10), timezone="Asia/Tokyo"
    )
    assert raw.source.value == "raw"
    assert raw.sealed_before == HORIZON
    assert raw.as_dict()["sealed_before"] == "2026-11-06"
    later = rollups.reports.summary(1, "account", HORIZON, date(2026, 11, 10), timezone="UTC")
    assert later.sealed_before is None


def test_a_purge_needs_a_zone_and_covers_every_zoned_account(backend: Rollups) -> None:
    backend.record([event(1, at=utc(2026, 11, 1, 12), account_id=2)])
    with pytest.raises(AccountNotConfiguredError, match="account 2"):
        backend.purge_plan(2, HORIZON)
    backend.set_timezone(1, "UTC")
    backend.set_timezone(3, "America/New_York")
    backend.record(
        [event(2, at=utc(2026, 11, 1, 12)), event(3, at=utc(2026, 11, 1, 12), account_id=3)]
    )
    results = backend.purge(HORIZON)
    assert [(r.plan.account_id, r.events) for r in results] == [(1, 1), (3, 1)]
    assert [e.id for e in backend.events([1, 2, 3])] == [1]  # account 2 has no zone: kept


def test_a_purge_stopped_half_way_is_finished_by_a_rerun(
    backend: Rollups, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk of days per transaction, the horizon advancing with each: a purge that fails in
    its second chunk leaves the first one's horizon; running it again finishes it."""
    import reporting_rollups.application.purge as purge_module

    backend.set_timezone(1, "UTC")
    backend.record(history())
    before = row_map(backend.rows(1))
    small = attrs.evolve(backend.purger, chunk_days=2)
    calls: list[int] = []
    real = purge_module.drain

    def failing_drain(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return real(*args)

    monkeypatch.setattr(purge_module, "drain", failing_drain)
    with pytest.raises(RuntimeError):
        small.run(small.plan(1, HORIZON))
    assert backend.purge_plan(1, HORIZON).horizon == date(2026, 11, 3)  # the first chunk held
    assert backend.purge_plan(1, HORIZON).events == 6  # days 3 to 5 left
    assert backend.verify(1).clean
    monkeypatch.setattr(purge_module, "drain", real)
    assert small.run(small.plan(1, HORIZON)).events == 6
    assert backend.purge_plan(1, HORIZON).horizon == HORIZON
    assert row_map(backend.rows(1)) == before


def test_a_late_event_on_a_sealed_day_is_folded(purged: tuple[Rollups, Any]) -> None:
    """A sealed day's rollups are history plus what arrives late: an event recorded on it is
    folded once (and kept raw until the next purge)."""
    rollups, before = purged
    late = event(500, "reply_time", at=utc(2026, 11, 3, 9), value=7, user_id=5)
    assert rollups.record([late]).rolled_up == 1
    assert rollups.record([late]).rolled_up == 0
    after = row_map(rollups.rows(1))
    changed = {key for key in after if after[key] != before.get(key)}
    assert changed
    assert all(key[0] == date(2026, 11, 3) for key in changed)
    assert rollups.verify(1).clean


# -- retention windows ----------------------------------------------------------------------------


def test_a_delete_older_than_the_window_is_a_purge(backend: Rollups) -> None:
    """With a window of 14 days (today is 2026-11-23 in the tests), deleting an event of
    2026-11-01 keeps its contribution and seals the days before 2026-11-09; deleting one of
    2026-11-20 is a retraction."""
    backend.set_timezone(1, "UTC")
    old = event(1, "reply_time", at=utc(2026, 11, 1, 12), value=5, user_id=5)
    recent = event(2, "reply_time", at=utc(2026, 11, 20, 12), value=7, user_id=5)
    backend.record([old, recent])
    before = row_map(backend.rows(1))
    backend.set_retention(14)
    assert backend.retention().default_days == 14
    result = backend.retract([1], account_id=1)
    assert (result.retracted, result.rolled_back, result.purged) == (1, 0, 1)
    assert row_map(backend.rows(1)) == before
    assert backend.verify(1).horizon == date(2026, 11, 9)
    assert backend.verify(1).clean
    result = backend.retract([2], account_id=1)
    assert (result.retracted, result.rolled_back, result.purged) == (1, 1, 0)
    assert {key[0] for key in row_map(backend.rows(1))} == {date(2026, 11, 1)}


def test_an_account_s_own_window_wins_over_the_default(backend: Rollups) -> None:
    for account in (1, 2):
        backend.set_timezone(account, "UTC")
        backend.record([event(account, at=utc(2026, 11, 10, 12), account_id=account)])
    backend.set_retention(30)
    backend.set_retention(5, account_id=2)
    assert backend.retention().accounts == {2: 5}
    assert backend.retract([1], account_id=1).purged == 0  # 13 days old: inside the default 30
    assert backend.retract([2], account_id=2).purged == 1  # outside account 2's 5
    backend.set_retention(None, account_id=2)
    backend.set_retention(None)
    assert backend.retention().default_days is None
    assert backend.retention().accounts == {}
    with pytest.raises(InvalidRangeError, match="retention days"):
        backend.set_retention(0)
