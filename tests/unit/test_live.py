"""Live path on the in-memory adapter: record (exactly once) and retract."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.memory import InMemoryDatabase
from application.live import RecordResult, RetractResult
from application.service import Rollups
from domain.errors import EventConflictError, InvalidEventError, RollupError
from domain.events import Event
from domain.metrics import DimensionType, Metric, MetricContribution, RollupKey
from tests.builders import event, row_map, utc
from tests.reference import assert_rollups_match

DAY = date(2026, 11, 20)


@pytest.fixture
def configured(rollups: Rollups) -> Rollups:
    """Account 1 reports in UTC; account 2 in New York; account 3 has no zone."""
    rollups.set_timezone(1, "UTC")
    rollups.set_timezone(2, "America/New_York")
    return rollups


def stored_ids(db: InMemoryDatabase) -> set[int]:
    return set(db.event_accounts)


def snapshot(db: InMemoryDatabase) -> tuple[object, ...]:
    return (
        {a: dict(e) for a, e in db.events.items()},
        dict(db.event_accounts),
        dict(db.applied),
        {a: dict(r) for a, r in db.rollups.items()},
        {a: dict(m) for a, m in db.members.items()},
        dict(db.accounts),
    )


# --- record --------------------------------------------------------------------------------


def test_record_stores_and_rolls_up(configured: Rollups) -> None:
    result = configured.record([event(1, value=120, business=45, user_id=5, inbox_id=6)])
    assert result == RecordResult(stored=1, duplicates=0, rolled_up=1, skipped=0)
    assert row_map(configured.rows(1)) == {
        (DAY, "account", 1, "resolutions_count"): (1, 0.0, 0.0),
        (DAY, "account", 1, "resolution_time"): (1, 120.0, 45.0),
        (DAY, "agent", 5, "resolutions_count"): (1, 0.0, 0.0),
        (DAY, "agent", 5, "resolution_time"): (1, 120.0, 45.0),
        (DAY, "inbox", 6, "resolutions_count"): (1, 0.0, 0.0),
        (DAY, "inbox", 6, "resolution_time"): (1, 120.0, 45.0),
    }


def test_record_result_counts(configured: Rollups) -> None:
    first = event(1, "first_response", value=1)
    batch = [first, first, event(2, "reply_time", value=2), event(3, account_id=3)]
    assert configured.record(batch) == RecordResult(stored=3, duplicates=1, rolled_up=2, skipped=1)
    again = [first, event(4, "reply_time", value=1), event(3, account_id=3)]
    assert configured.record(again) == RecordResult(stored=1, duplicates=2, rolled_up=1, skipped=1)


def test_redelivery_in_the_same_batch_counts_once(configured: Rollups) -> None:
    single = event(1, "first_response", value=10)
    configured.record([single, single, single])
    assert row_map(configured.rows(1)) == {(DAY, "account", 1, "first_response"): (1, 10.0, 0.0)}


def test_redelivery_in_a_later_batch_changes_nothing(
    configured: Rollups, db: InMemoryDatabase
) -> None:
    batch = [event(1, "first_response", value=10), event(2, "reply_time", value=3)]
    configured.record(batch)
    before = snapshot(db)
    assert configured.record(list(reversed(batch))) == RecordResult(0, 2, 0, 0)
    assert snapshot(db) == before


def test_an_equal_event_given_in_another_zone_is_a_duplicate(configured: Rollups) -> None:
    from zoneinfo import ZoneInfo

    original = event(1, at=utc(2026, 11, 20, 12))
    same = event(1, at=utc(2026, 11, 20, 12).astimezone(ZoneInfo("Asia/Tokyo")))
    configured.record([original])
    assert configured.record([same]).duplicates == 1


def test_conflicting_redelivery_writes_nothing(configured: Rollups, db: InMemoryDatabase) -> None:
    configured.record([event(1, "first_response", value=10)])
    before = snapshot(db)
    with pytest.raises(EventConflictError) as caught:
        configured.record([event(2, "reply_time"), event(1, "first_response", value=11)])
    assert caught.value.event_id == 1
    assert caught.value.differences == ["value"]
    assert "event 1" in str(caught.value)
    assert "value" in str(caught.value)
    assert isinstance(caught.value, RollupError)
    assert snapshot(db) == before


def test_conflict_inside_one_batch_writes_nothing(
    configured: Rollups, db: InMemoryDatabase
) -> None:
    before = snapshot(db)
    with pytest.raises(EventConflictError) as caught:
        configured.record([event(5, value=1), event(6), event(5, value=2, user_id=3)])
    assert caught.value.differences == ["value", "user_id"]
    assert snapshot(db) == before


@pytest.mark.parametrize("bad", [None, "event", 42, {"id": 1}])
def test_one_bad_item_in_a_batch_writes_nothing(
    configured: Rollups, db: InMemoryDatabase, bad: object
) -> None:
    before = snapshot(db)
    with pytest.raises(InvalidEventError) as caught:
        configured.record([event(1), bad, event(2)])  # type: ignore[list-item]
    assert "events[1]" in str(caught.value)
    assert snapshot(db) == before


def test_a_failure_inside_the_transaction_writes_nothing(
    configured: Rollups, db: InMemoryDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters.memory import InMemoryRollupStore

    def broken(self: InMemoryRollupStore, deltas: object) -> None:
        raise RuntimeError("disk full")

    before = snapshot(db)
    monkeypatch.setattr(InMemoryRollupStore, "add", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        configured.record([event(1), event(2, "reply_time", value=1)])
    assert snapshot(db) == before


def test_empty_batch(configured: Rollups) -> None:
    assert configured.record([]) == RecordResult(0, 0, 0, 0)


def test_record_accepts_any_iterable(configured: Rollups) -> None:
    result = configured.record(event(n, "reply_time", value=n) for n in range(1, 4))
    assert result.stored == 3
    assert row_map(configured.rows(1)) == {(DAY, "account", 1, "reply_time"): (3, 6.0, 0.0)}


def test_unknown_event_names_are_stored_without_rows(
    configured: Rollups, db: InMemoryDatabase
) -> None:
    result = configured.record([event(1, "conversation_created", value=4, user_id=2)])
    assert result.stored == 1
    assert stored_ids(db) == {1}
    assert configured.rows(1) == []


def test_none_values_count_as_zero(configured: Rollups) -> None:
    configured.record([event(1, "reply_time"), event(2, "reply_time", value=5, business=None)])
    assert row_map(configured.rows(1)) == {(DAY, "account", 1, "reply_time"): (2, 5.0, 0.0)}


def test_each_account_buckets_in_its_own_zone(configured: Rollups) -> None:
    at = utc(2026, 11, 1, 3, 30)  # 2026-10-31 23:30 in New York (EDT)
    configured.record([event(1, "reply_time", at=at), event(2, "reply_time", at=at, account_id=2)])
    assert [key.date for key, _ in configured.rows(1)] == [date(2026, 11, 1)]
    assert [key.date for key, _ in configured.rows(2)] == [date(2026, 10, 31)]


def test_accounts_without_a_zone_are_stored_and_rolled_up_by_set_timezone(
    rollups: Rollups, db: InMemoryDatabase
) -> None:
    events = [event(1, "first_response", value=3), event(2, "first_response", value=4)]
    assert rollups.record(events) == RecordResult(stored=2, duplicates=0, rolled_up=0, skipped=2)
    assert stored_ids(db) == {1, 2}
    assert rollups.rows(1) == []
    assert db.applied == {}
    result = rollups.set_timezone(1, "Asia/Kolkata")
    assert result is not None
    assert result.events == 2
    assert row_map(rollups.rows(1)) == {(DAY, "account", 1, "first_response"): (2, 7.0, 0.0)}
    assert rollups.record(events) == RecordResult(0, 2, 0, 0)
    assert_rollups_match(rollups, 1, "Asia/Kolkata", events)


def test_events_already_in_the_raw_store_roll_up_exactly_once(configured: Rollups) -> None:
    host_written = [event(1, "reply_time", value=8), event(2, "reply_time", value=2)]
    with configured.uow_factory() as uow:
        uow.events.add(host_written)
        uow.commit()
    assert configured.rows(1) == []
    assert configured.record(host_written) == RecordResult(0, 2, 2, 0)
    assert configured.record(host_written) == RecordResult(0, 2, 0, 0)
    assert row_map(configured.rows(1)) == {(DAY, "account", 1, "reply_time"): (2, 10.0, 0.0)}


def test_late_events_for_past_days_fold_into_their_day(configured: Rollups) -> None:
    configured.record([event(1, "reply_time", value=1, at=utc(2026, 11, 23, 9))])
    configured.record([event(2, "reply_time", value=2, at=utc(2026, 1, 5, 9))])
    assert row_map(configured.rows(1)) == {
        (date(2026, 1, 5), "account", 1, "reply_time"): (1, 2.0, 0.0),
        (date(2026, 11, 23), "account", 1, "reply_time"): (1, 1.0, 0.0),
    }


def test_handoffs_of_one_conversation_on_one_day_count_once(configured: Rollups) -> None:
    configured.record([event(1, "conversation_bot_handoff", conversation_id=9, inbox_id=4)])
    configured.record(
        [
            event(2, "conversation_bot_handoff", conversation_id=9, inbox_id=4),
            event(3, "conversation_bot_handoff", conversation_id=9, inbox_id=5),
            event(4, "conversation_bot_handoff", conversation_id=10, inbox_id=4),
            event(5, "conversation_bot_handoff"),
            event(6, "conversation_bot_handoff"),
        ]
    )
    assert row_map(configured.rows(1)) == {
        (DAY, "account", 1, "bot_handoffs_count"): (4, 0.0, 0.0),
        (DAY, "inbox", 4, "bot_handoffs_count"): (2, 0.0, 0.0),
        (DAY, "inbox", 5, "bot_handoffs_count"): (1, 0.0, 0.0),
    }


def test_sums_match_the_reference_for_many_batches(configured: Rollups) -> None:
    events = [
        event(
            n,
            ("conversation_resolved", "first_response", "reply_time")[n % 3],
            value=n * 0.1,
            business=n * 0.01,
            at=utc(2026, 11, 1 + n % 5, n % 24),
            user_id=1 + n % 4,
            inbox_id=1 + n % 2,
        )
        for n in range(1, 121)
    ]
    for start in range(0, 120, 7):
        configured.record(events[start : start + 7])
    assert_rollups_match(configured, 1, "UTC", events)


# --- retract -------------------------------------------------------------------------------


def test_retract_takes_contributions_back_exactly_once(configured: Rollups) -> None:
    kept, gone = event(1, "reply_time", value=5), event(2, "reply_time", value=7)
    configured.record([kept, gone])
    assert configured.retract([2]) == RetractResult(retracted=1, rolled_back=1, unknown=0)
    assert configured.retract([2]) == RetractResult(retracted=0, rolled_back=0, unknown=1)
    assert row_map(configured.rows(1)) == {(DAY, "account", 1, "reply_time"): (1, 5.0, 0.0)}
    configured.retract([1])
    assert configured.rows(1) == []


def test_retract_unknown_and_repeated_ids(configured: Rollups) -> None:
    configured.record([event(1)])
    assert configured.retract([1, 1, 99, 100]) == RetractResult(1, 1, 2)
    assert configured.retract([]) == RetractResult(0, 0, 0)


@pytest.mark.parametrize("bad", [0, -1, True, "1", 1.0, None])
@pytest.mark.parametrize("alone", [True, False], ids=["alone", "after-a-valid-id"])
def test_retract_rejects_invalid_ids(
    configured: Rollups, db: InMemoryDatabase, bad: object, alone: bool
) -> None:
    configured.record([event(1)])
    before = snapshot(db)
    with pytest.raises(InvalidEventError) as caught:
        configured.retract([bad] if alone else [1, bad])  # type: ignore[list-item]
    assert repr(bad) in str(caught.value)
    assert snapshot(db) == before


def test_retract_handoff_members(configured: Rollups) -> None:
    first = event(1, "conversation_bot_handoff", conversation_id=9)
    second = event(2, "conversation_bot_handoff", conversation_id=9)
    configured.record([first, second])
    handoffs = (DAY, "account", 1, "bot_handoffs_count")
    assert row_map(configured.rows(1)) == {handoffs: (1, 0.0, 0.0)}
    configured.retract([1])
    assert row_map(configured.rows(1)) == {handoffs: (1, 0.0, 0.0)}
    configured.retract([2])
    assert configured.rows(1) == []


def test_retract_handoffs_without_conversation(configured: Rollups) -> None:
    configured.record([event(1, "conversation_bot_handoff"), event(2, "conversation_bot_handoff")])
    configured.retract([1])
    assert row_map(configured.rows(1)) == {(DAY, "account", 1, "bot_handoffs_count"): (1, 0.0, 0.0)}


def test_retract_of_an_account_without_zone(configured: Rollups, db: InMemoryDatabase) -> None:
    configured.record([event(1, account_id=3)])
    assert configured.retract([1]) == RetractResult(retracted=1, rolled_back=0, unknown=0)
    assert stored_ids(db) == set()


def test_retract_of_a_host_written_event_not_yet_applied(configured: Rollups) -> None:
    configured.record([event(1, "reply_time", value=1)])
    with configured.uow_factory() as uow:
        uow.events.add([event(2, "reply_time", value=2)])
        uow.commit()
    assert configured.retract([2]) == RetractResult(retracted=1, rolled_back=0, unknown=0)
    assert row_map(configured.rows(1)) == {(DAY, "account", 1, "reply_time"): (1, 1.0, 0.0)}


def test_a_retracted_event_can_be_recorded_again(configured: Rollups) -> None:
    original = event(1, "reply_time", value=1)
    configured.record([original])
    configured.retract([1])
    changed = event(1, "reply_time", value=4, at=utc(2026, 11, 19, 8))
    assert configured.record([changed]) == RecordResult(1, 0, 1, 0)
    assert_rollups_match(configured, 1, "UTC", [changed])


def test_retract_across_accounts(configured: Rollups) -> None:
    events: list[Event] = [
        event(1, "reply_time", value=1),
        event(2, "reply_time", value=2, account_id=2),
        event(3, "reply_time", value=3, account_id=3),
    ]
    configured.record(events)
    assert configured.retract([1, 2, 3]) == RetractResult(3, 2, 0)
    assert configured.rows(1) == configured.rows(2) == []


def test_retract_of_a_backfilled_event(rollups: Rollups) -> None:
    rollups.record([event(1, "reply_time", value=1), event(2, "reply_time", value=2)])
    rollups.set_timezone(1, "UTC")
    assert rollups.retract([1]) == RetractResult(1, 1, 0)
    assert row_map(rollups.rows(1)) == {(DAY, "account", 1, "reply_time"): (1, 2.0, 0.0)}


def test_retract_does_not_leave_negative_or_zero_rows(
    configured: Rollups, db: InMemoryDatabase
) -> None:
    configured.record([event(n, value=0.1 * n, user_id=n) for n in range(1, 6)])
    configured.retract(range(1, 6))
    assert configured.rows(1) == []
    assert db.members.get(1, {}) == {}
    assert all(value.count > 0 for rows in db.rollups.values() for value in rows.values())


def test_rows_are_keyed_by_rollup_key(configured: Rollups) -> None:
    configured.record([event(1, "reply_time", value=2, user_id=3)])
    assert configured.rows(1) == [
        (
            RollupKey(1, DAY, DimensionType.ACCOUNT, 1, Metric.REPLY_TIME),
            MetricContribution(1, 2.0, 0.0),
        ),
        (
            RollupKey(1, DAY, DimensionType.AGENT, 3, Metric.REPLY_TIME),
            MetricContribution(1, 2.0, 0.0),
        ),
    ]
