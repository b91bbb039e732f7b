"""Contract of the live path and of the stores it uses, on every backend.

`record` stores raw events idempotently and folds each into the rollups exactly once; the
event store, the applied ledger, the rollup store and the unit of work behave the same on
memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest

from reporting_rollups.application.live import RecordResult
from reporting_rollups.application.ports import applied_ref
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import (
    ConfigurationError,
    EventConflictError,
    InvalidEventError,
    RollupError,
    StorageError,
)
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import DimensionType, Metric, MetricContribution, RollupKey
from reporting_rollups.domain.timezones import local_day
from tests.builders import event, row_map, utc
from tests.reference import assert_rollups_match

DAY = date(2026, 11, 20)


@pytest.fixture
def configured(backend: Rollups) -> Rollups:
    """Account 1 reports in UTC, account 2 in New York; account 3 has no zone."""
    backend.set_timezone(1, "UTC")
    backend.set_timezone(2, "America/New_York")
    return backend


def stored(rollups: Rollups, ids: range | list[int]) -> list[Event]:
    with rollups.uow_factory() as uow:
        return uow.events.get(list(ids))


def host_write(rollups: Rollups, events: list[Event]) -> None:
    """Write raw events the way the host application does (no rollup)."""
    with rollups.uow_factory() as uow:
        uow.events.add(sorted(events, key=lambda e: e.id))
        uow.commit()


def everything(rollups: Rollups) -> tuple[object, ...]:
    """What the tests can see of the database: raw events 1-50 and rows of accounts 1-3."""
    return (
        stored(rollups, range(1, 51)),
        rollups.rows(1),
        rollups.rows(2),
        rollups.rows(3),
    )


# --- record --------------------------------------------------------------------------------


def test_record_stores_and_rolls_up_every_dimension(configured: Rollups) -> None:
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


def test_rows_have_the_domain_types(configured: Rollups) -> None:
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
    key, value = configured.rows(1)[0]
    assert type(key.date) is date
    assert type(key.dimension_type) is DimensionType
    assert type(key.metric) is Metric
    assert (type(value.count), type(value.sum_value)) == (int, float)


def test_record_result_counts(configured: Rollups) -> None:
    first = event(1, "first_response", value=1)
    batch = [first, first, event(2, "reply_time", value=2), event(3, account_id=3)]
    assert configured.record(batch) == RecordResult(stored=3, duplicates=1, rolled_up=2, skipped=1)
    again = [first, event(4, "reply_time", value=1), event(3, account_id=3)]
    assert configured.record(again) == RecordResult(stored=1, duplicates=2, rolled_up=1, skipped=1)


def test_empty_batch(configured: Rollups) -> None:
    assert configured.record([]) == RecordResult(0, 0, 0, 0)


def test_redelivery_in_the_same_batch_counts_once(configured: Rollups) -> None:
    single = event(1, "first_response", value=10)
    assert configured.record([single, single, single]) == RecordResult(1, 2, 1, 0)
    assert row_map(configured.rows(1)) == {(DAY, "account", 1, "first_response"): (1, 10.0, 0.0)}


def test_redelivery_in_a_later_batch_changes_nothing(configured: Rollups) -> None:
    batch = [event(1, "first_response", value=10), event(2, "reply_time", value=3)]
    configured.record(batch)
    before = everything(configured)
    assert configured.record(list(reversed(batch))) == RecordResult(0, 2, 0, 0)
    assert everything(configured) == before


def test_stored_events_read_back_equal(configured: Rollups) -> None:
    events = [
        event(
            1,
            "reply_time",
            value=0.1 + 0.2,
            business=1e-7,
            at=datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=UTC),
            user_id=2**31 - 1,  # the reference schema's INTEGER columns
            inbox_id=7,
            conversation_id=2**31 - 1,
        ),
        event(2, "conversation_created", at=utc(1999, 12, 31, 23, 59, 59), account_id=3),
        event(3, "first_response", value=-5.5, business=None),
        event(4, "x" * 200, at=utc(2037, 1, 1)),
        event(5, "reply_time", value=1e9, business=123456789.123),
        event(2**40, "reply_time", value=1.0),  # event ids are BIGINT
    ]
    configured.record(events)
    back = stored(configured, [1, 2, 3, 4, 5, 2**40])
    assert back == events
    assert all(e.created_at.tzinfo is UTC for e in back)
    assert back[0].created_at.microsecond == 123456
    assert back[2].value_in_business_hours is None


def test_an_equal_event_given_in_another_zone_is_a_duplicate(configured: Rollups) -> None:
    configured.record([event(1, at=utc(2026, 11, 20, 12))])
    same = event(1, at=utc(2026, 11, 20, 12).astimezone(ZoneInfo("Asia/Tokyo")))
    assert configured.record([same]) == RecordResult(0, 1, 0, 0)


def test_conflicting_redelivery_writes_nothing(configured: Rollups) -> None:
    configured.record([event(1, "first_response", value=10)])
    before = everything(configured)
    with pytest.raises(EventConflictError) as caught:
        configured.record([event(2, "reply_time"), event(1, "first_response", value=11)])
    assert caught.value.event_id == 1
    assert caught.value.differences == ["value"]
    assert "event 1" in str(caught.value)
    assert "value" in str(caught.value)
    assert isinstance(caught.value, RollupError)
    assert everything(configured) == before


@pytest.mark.parametrize(
    "changed",
    [
        event(1, "reply_time", value=10),
        event(1, "first_response", value=10, at=utc(2026, 11, 20, 12, 0, 1)),
        event(1, "first_response", value=10, account_id=2),
        event(1, "first_response", value=10, business=0.0),
        event(1, "first_response", value=10, user_id=1),
        event(1, "first_response", value=10, conversation_id=1),
    ],
    ids=["name", "created_at", "account_id", "business", "user_id", "conversation_id"],
)
def test_every_field_takes_part_in_conflicts(
    configured: Rollups, changed: Event, backend_name: str
) -> None:
    if backend_name == "citus" and changed.account_id != 1:
        pytest.skip(
            "on Citus an id of another account is another event (see test_contract_retract)"
        )
    configured.record([event(1, "first_response", value=10)])
    with pytest.raises(EventConflictError):
        configured.record([changed])


def test_conflict_inside_one_batch_writes_nothing(configured: Rollups) -> None:
    before = everything(configured)
    with pytest.raises(EventConflictError):
        configured.record([event(5, value=1), event(6), event(5, value=2)])
    assert everything(configured) == before


def test_one_bad_item_in_a_batch_writes_nothing(configured: Rollups) -> None:
    before = everything(configured)
    with pytest.raises(InvalidEventError):
        configured.record([event(1), None, event(2)])  # type: ignore[list-item]
    assert everything(configured) == before


def test_unknown_event_names_are_stored_without_rows(configured: Rollups) -> None:
    assert configured.record([event(1, "conversation_created", value=4, user_id=2)]).stored == 1
    assert [e.id for e in stored(configured, [1])] == [1]
    assert configured.rows(1) == []


def test_none_values_count_as_zero(configured: Rollups) -> None:
    configured.record([event(1, "reply_time"), event(2, "reply_time", value=5)])
    assert row_map(configured.rows(1)) == {(DAY, "account", 1, "reply_time"): (2, 5.0, 0.0)}


def test_each_account_buckets_in_its_own_zone(configured: Rollups) -> None:
    at = utc(2026, 11, 1, 3, 30)  # 2026-10-31 23:30 in New York (EDT)
    configured.record([event(1, "reply_time", at=at), event(2, "reply_time", at=at, account_id=2)])
    assert [key.date for key, _ in configured.rows(1)] == [date(2026, 11, 1)]
    assert [key.date for key, _ in configured.rows(2)] == [date(2026, 10, 31)]


def test_dst_day_boundaries(configured: Rollups) -> None:
    events = [
        event(1, "reply_time", account_id=2, at=utc(2026, 11, 1, 3, 59, 59)),  # 10-31 23:59:59
        event(2, "reply_time", account_id=2, at=utc(2026, 11, 1, 4, 0)),  # 11-01 00:00 EDT
        event(3, "reply_time", account_id=2, at=utc(2026, 11, 1, 6, 30)),  # 01:30 EST (again)
        event(4, "reply_time", account_id=2, at=utc(2026, 11, 2, 4, 59, 59)),  # 11-01 23:59:59
        event(5, "reply_time", account_id=2, at=utc(2026, 11, 2, 5, 0)),  # 11-02 00:00
    ]
    configured.record(events)
    assert {key.date: value.count for key, value in configured.rows(2)} == {
        date(2026, 10, 31): 1,
        date(2026, 11, 1): 3,
        date(2026, 11, 2): 1,
    }


def test_accounts_without_a_zone_are_stored_and_rolled_up_later(backend: Rollups) -> None:
    events = [event(1, "first_response", value=3), event(2, "first_response", value=4)]
    assert backend.record(events) == RecordResult(stored=2, duplicates=0, rolled_up=0, skipped=2)
    assert len(stored(backend, [1, 2])) == 2
    assert backend.rows(1) == []
    with backend.uow_factory() as uow:
        assert uow.ledger.mark([applied_ref(1, 1), applied_ref(1, 2)]) == {
            1,
            2,
        }  # nothing applied yet (not committed)
    result = backend.set_timezone(1, "Asia/Kolkata")
    assert result is not None
    assert result.events == 2
    assert row_map(backend.rows(1)) == {(DAY, "account", 1, "first_response"): (2, 7.0, 0.0)}
    assert backend.record(events) == RecordResult(0, 2, 0, 0)
    assert_rollups_match(backend, 1, "Asia/Kolkata", events)


def test_host_written_events_roll_up_exactly_once(configured: Rollups) -> None:
    host_written = [event(1, "reply_time", value=8), event(2, "reply_time", value=2)]
    host_write(configured, host_written)
    assert configured.rows(1) == []
    assert configured.record(host_written) == RecordResult(0, 2, 2, 0)
    assert configured.record(host_written) == RecordResult(0, 2, 0, 0)
    assert row_map(configured.rows(1)) == {(DAY, "account", 1, "reply_time"): (2, 10.0, 0.0)}


def test_late_events_fold_into_their_day(configured: Rollups) -> None:
    configured.record([event(1, "reply_time", value=1, at=utc(2026, 11, 23, 9))])
    configured.record([event(2, "reply_time", value=2, at=utc(2026, 1, 5, 9))])
    configured.record([event(3, "reply_time", value=4, at=utc(2026, 1, 5, 10))])
    assert row_map(configured.rows(1)) == {
        (date(2026, 1, 5), "account", 1, "reply_time"): (2, 6.0, 0.0),
        (date(2026, 11, 23), "account", 1, "reply_time"): (1, 1.0, 0.0),
    }


def test_handoffs_count_distinct_conversations(configured: Rollups) -> None:
    configured.record([event(1, "conversation_bot_handoff", conversation_id=9, inbox_id=4)])
    configured.record(
        [
            event(2, "conversation_bot_handoff", conversation_id=9, inbox_id=4),
            event(3, "conversation_bot_handoff", conversation_id=9, inbox_id=5),
            event(4, "conversation_bot_handoff", conversation_id=10, inbox_id=4),
            event(5, "conversation_bot_handoff"),
            event(6, "conversation_bot_handoff"),
            event(7, "conversation_bot_handoff", conversation_id=9, at=utc(2026, 11, 21, 1)),
        ]
    )
    assert row_map(configured.rows(1)) == {
        (DAY, "account", 1, "bot_handoffs_count"): (4, 0.0, 0.0),
        (DAY, "inbox", 4, "bot_handoffs_count"): (2, 0.0, 0.0),
        (DAY, "inbox", 5, "bot_handoffs_count"): (1, 0.0, 0.0),
        (date(2026, 11, 21), "account", 1, "bot_handoffs_count"): (1, 0.0, 0.0),
    }


def test_many_batches_match_the_reference(configured: Rollups) -> None:
    names = ("conversation_resolved", "first_response", "reply_time", "conversation_bot_handoff")
    events = [
        event(
            n,
            names[n % 4],
            value=n * 0.1,
            business=n * 0.01 if n % 5 else None,
            at=utc(2026, 11, 1) + timedelta(hours=7 * n, minutes=n),
            user_id=1 + n % 4,
            inbox_id=(1 + n % 2) if n % 3 else None,
            conversation_id=n % 6 or None,
            account_id=1 + n % 2,
        )
        for n in range(1, 201)
    ]
    for start in range(0, 200, 23):
        configured.record(events[start : start + 23])
    assert_rollups_match(configured, 1, "UTC", events)
    assert_rollups_match(configured, 2, "America/New_York", events)


def in_steps(
    configured: Rollups, step_events: int, backend_name: str, opener: Callable[..., Rollups]
) -> Rollups:
    """Rollups on `configured`'s database that record `step_events` events at a time."""
    if backend_name != "memory":
        return opener(step_events=step_events)
    if not isinstance(configured, Rollups):
        pytest.skip("memory:// opens a database per Rollups: none other on the same one")
    return attrs.evolve(configured, live=attrs.evolve(configured.live, step_events=step_events))


def test_a_large_batch_is_recorded_in_steps_with_the_same_outcome(
    configured: Rollups, backend_name: str, open_backend: Callable[..., Rollups]
) -> None:
    """A batch larger than `LiveRollup.step_events` (here 3) is stored, marked and its members
    added step by step in one transaction: the counts and rows are those of one step, with
    events stored before (applied or not), repeats, an account without a zone, an unknown
    name and the handoffs of one conversation spread over several steps."""
    stepwise = in_steps(configured, 3, backend_name, open_backend)
    host_write(configured, [event(2, "reply_time", value=5)])  # stored, not applied
    configured.record([event(4, "first_response", value=1, account_id=2)])  # applied
    handoffs = [
        event(n, "conversation_bot_handoff", conversation_id=9, inbox_id=1 + n % 2)
        for n in range(10, 18)
    ]
    batch = [
        event(1, "reply_time", value=2, user_id=3),
        event(2, "reply_time", value=5),
        event(3, "first_response", value=7, account_id=3),
        event(4, "first_response", value=1, account_id=2),
        event(5, "no_such_event"),
        event(6, "conversation_resolved", value=9, account_id=2, at=utc(2026, 11, 21, 3)),
        *handoffs,
        event(1, "reply_time", value=2, user_id=3),
    ]
    result = stepwise.record(batch)
    assert result == RecordResult(stored=12, duplicates=3, rolled_up=11, skipped=1, unsupported=1)
    assert stepwise.record(batch) == RecordResult(0, 15, 0, 1)
    present = list({e.id: e for e in batch}.values())
    assert_rollups_match(configured, 1, "UTC", present)
    assert_rollups_match(configured, 2, "America/New_York", present)
    assert configured.rows(3) == []
    assert row_map(configured.rows(1))[DAY, "account", 1, "bot_handoffs_count"] == (1, 0.0, 0.0)
    assert len(stored(configured, range(1, 18))) == 14


def test_a_conflict_in_a_later_step_writes_nothing(
    configured: Rollups, backend_name: str, open_backend: Callable[..., Rollups]
) -> None:
    stepwise = in_steps(configured, 2, backend_name, open_backend)
    configured.record([event(7, value=1)])
    before = everything(configured)
    batch = [event(n, value=n) for n in range(1, 7)] + [event(7, value=2)]
    with pytest.raises(EventConflictError):
        stepwise.record(batch)
    assert everything(configured) == before


# --- units of work and stores --------------------------------------------------------------


def test_leaving_a_unit_of_work_without_commit_rolls_back(backend: Rollups) -> None:
    with backend.uow_factory() as uow:
        uow.events.add([event(1)])
        uow.ledger.mark([applied_ref(1, 1)])
        uow.rollups.add(
            {
                RollupKey(1, DAY, DimensionType.ACCOUNT, 1, Metric.REPLY_TIME): MetricContribution(
                    1, 1.0, 0.0
                )
            }
        )
    assert stored(backend, [1]) == []
    assert backend.rows(1) == []
    with backend.uow_factory() as uow:
        assert uow.ledger.mark([applied_ref(1, 1)]) == {1}


def test_an_exception_in_a_unit_of_work_rolls_back(backend: Rollups) -> None:
    key = RollupKey(1, DAY, DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
    with backend.uow_factory() as uow:
        uow.rollups.add({key: MetricContribution(1, 1.0, 0.0)})
        uow.commit()

    def write_then_fail() -> None:
        with backend.uow_factory() as uow:
            uow.events.add([event(1)])
            uow.rollups.add({key: MetricContribution(2, 2.0, 0.0)})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert stored(backend, [1]) == []
    assert backend.rows(1) == [(key, MetricContribution(1, 1.0, 0.0))]


def test_event_store(backend: Rollups, backend_name: str) -> None:
    events = [event(1, at=utc(2026, 11, 9)), event(2, account_id=2), event(3, at=utc(2026, 11, 5))]
    by_id_alone = backend_name != "citus"  # on Citus ids are per account: no lookup by id alone
    with backend.uow_factory() as uow:
        assert uow.events.add(events[:2]) == [1, 2]
        assert uow.events.add(events) == [3]
        with pytest.raises(EventConflictError):
            uow.events.add([event(1, at=utc(2026, 11, 10))])
    with backend.uow_factory() as uow:
        assert uow.events.add(events) == [1, 2, 3]
        assert [e.id for e in uow.events.get([3, 1, 99])] == [1, 3]
        assert uow.events.span(1) == (utc(2026, 11, 5), utc(2026, 11, 9))
        assert uow.events.span(7) is None
        assert (uow.events.has_events(1), uow.events.has_events(7)) == (True, False)
        if by_id_alone:
            assert uow.events.owners([1, 2, 3, 99]) == {1, 2}
        else:
            with pytest.raises(ConfigurationError, match="give the account"):
                uow.events.owners([1])
        assert uow.events.hold([*events[1:], event(99)]) == {2, 3}
        assert uow.events.remove([2, 3, 99], [1]) == [events[2]]  # 2 is another account's
        assert uow.events.get([3]) == []
        assert uow.events.span(1) == (utc(2026, 11, 9), utc(2026, 11, 9))
        uow.commit()
    assert [e.id for e in stored(backend, [1, 2, 3])] == [1, 2]


def test_ledger(backend: Rollups) -> None:
    with backend.uow_factory() as uow:
        assert uow.ledger.mark([applied_ref(1, 1), applied_ref(1, 2), applied_ref(2, 3)]) == {
            1,
            2,
            3,
        }
        assert uow.ledger.mark([applied_ref(1, 2), applied_ref(1, 4)]) == {4}
        assert uow.ledger.unmark([applied_ref(1, 1), applied_ref(1, 9)]) == {1}
        uow.ledger.clear_account(1)
        assert uow.ledger.mark([applied_ref(1, 2), applied_ref(2, 3)]) == {2}
        uow.commit()
    with backend.uow_factory() as uow:
        assert uow.ledger.mark([applied_ref(1, 2), applied_ref(2, 3), applied_ref(1, 1)]) == {1}


def test_rollup_store_add_is_an_additive_upsert(backend: Rollups) -> None:
    k20 = RollupKey(1, DAY, DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
    k21 = RollupKey(1, date(2026, 11, 21), DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
    with backend.uow_factory() as uow:
        uow.rollups.add({k20: MetricContribution(2, 3.0, 1.0)})
        uow.commit()
    with backend.uow_factory() as uow:
        uow.rollups.add(
            {k20: MetricContribution(1, 1.0, 1.0), k21: MetricContribution(1, 0.0, 0.0)}
        )
        assert uow.rollups.rows(1) == [
            (k20, MetricContribution(3, 4.0, 2.0)),
            (k21, MetricContribution(1, 0.0, 0.0)),
        ]
        uow.rollups.add({k20: MetricContribution(-3, -4.0, -2.0)})
        assert uow.rollups.rows(1) == [(k21, MetricContribution(1, 0.0, 0.0))]
        uow.commit()
    assert backend.rows(1) == [(k21, MetricContribution(1, 0.0, 0.0))]
    with pytest.raises(StorageError), backend.uow_factory() as uow:
        uow.rollups.add({k21: MetricContribution(-2, 0.0, 0.0)})
    assert backend.rows(1) == [(k21, MetricContribution(1, 0.0, 0.0))]


def test_rollup_store_refuses_negative_counts(backend: Rollups) -> None:
    key = RollupKey(1, DAY, DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
    with pytest.raises(StorageError), backend.uow_factory() as uow:
        uow.rollups.add({key: MetricContribution(-1, 0.0, 0.0)})
    assert backend.rows(1) == []


def test_rollup_store_members(backend: Rollups) -> None:
    handoffs = RollupKey(1, DAY, DimensionType.ACCOUNT, 1, Metric.BOT_HANDOFFS_COUNT)

    def changes(uow: object, deltas: dict[tuple[RollupKey, int], int]) -> dict[RollupKey, int]:
        found = uow.rollups.add_members(deltas)  # type: ignore[attr-defined]
        return {key: n for key, n in found.items() if n}

    with backend.uow_factory() as uow:
        assert changes(uow, {(handoffs, 5): 2, (handoffs, 6): 1}) == {handoffs: 2}
        uow.commit()
    with backend.uow_factory() as uow:
        assert changes(uow, {(handoffs, 5): -1}) == {}
        assert changes(uow, {(handoffs, 5): -1, (handoffs, 7): 1}) == {}
        assert changes(uow, {(handoffs, 6): -1, (handoffs, 7): -1}) == {handoffs: -2}
        assert changes(uow, {(handoffs, 8): 1}) == {handoffs: 1}
    with pytest.raises(StorageError), backend.uow_factory() as uow:
        changes(uow, {(handoffs, 6): -2})


def test_rows_are_sorted_and_filtered(backend: Rollups) -> None:
    def key(
        day: int,
        dimension: DimensionType = DimensionType.ACCOUNT,
        dimension_id: int = 1,
        metric: Metric = Metric.REPLY_TIME,
        account_id: int = 1,
    ) -> RollupKey:
        return RollupKey(account_id, date(2026, 11, day), dimension, dimension_id, metric)

    keys = [
        key(22),
        key(20, DimensionType.INBOX, 2),
        key(20, DimensionType.AGENT, 7, Metric.FIRST_RESPONSE),
        key(20, DimensionType.AGENT, 7, Metric.BOT_HANDOFFS_COUNT),
        key(21),
        key(20, account_id=2),
        key(20, DimensionType.AGENT, 10, Metric.BOT_HANDOFFS_COUNT),
    ]
    with backend.uow_factory() as uow:
        uow.rollups.add({k: MetricContribution(1, 0.0, 0.0) for k in keys})
        uow.commit()
    order = [keys[3], keys[2], keys[6], keys[1], keys[4], keys[0]]
    assert [k for k, _ in backend.rows(1)] == order
    assert [k for k, _ in backend.rows(1, since=date(2026, 11, 21))] == [keys[4], keys[0]]
    assert [k for k, _ in backend.rows(1, until=date(2026, 11, 20))] == order[:4]
    assert [k for k, _ in backend.rows(1, date(2026, 11, 21), date(2026, 11, 21))] == [keys[4]]
    assert [k for k, _ in backend.rows(2)] == [keys[5]]
    assert backend.rows(3) == []
    with backend.uow_factory() as uow:
        assert uow.rollups.date_span(1) == (date(2026, 11, 20), date(2026, 11, 22))
        assert uow.rollups.date_span(3) is None
        uow.rollups.clear_account(1)
        assert uow.rollups.rows(1) == []
        assert uow.rollups.date_span(1) is None
        assert len(uow.rollups.rows(2)) == 1


def test_rollup_store_sets_the_sums_of_existing_rows_only(backend: Rollups) -> None:
    k20 = RollupKey(1, DAY, DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
    k21 = RollupKey(1, date(2026, 11, 21), DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
    with backend.uow_factory() as uow:
        uow.rollups.add({k20: MetricContribution(2, 3.0, 1.0)})
        uow.rollups.set_sums({k20: (2.5, 0.5), k21: (9.0, 9.0)})
        uow.commit()
    assert backend.rows(1) == [(k20, MetricContribution(2, 2.5, 0.5))]


def test_applied_events_in_days(backend: Rollups) -> None:
    backend.set_timezone(1, "UTC")
    applied = event(1, "reply_time", value=1, at=utc(2026, 11, 20, 9))
    backend.record([applied, event(2, "reply_time", value=1, at=utc(2026, 11, 21, 9))])
    with backend.uow_factory() as uow:
        uow.events.add([event(3, "reply_time", value=1, at=utc(2026, 11, 20, 10))])  # unmarked
        day = local_day(DAY, ZoneInfo("UTC"))
        assert uow.events.applied_in_days(1, [day], ["reply_time"]) == [applied]
        assert uow.events.applied_in_days(1, [day], ["first_response"]) == []
        assert uow.events.applied_in_days(2, [day], ["reply_time"]) == []


def test_the_facade_reads_stored_events_by_id(backend: Rollups) -> None:
    first, second = event(1, at=utc(2026, 11, 9)), event(2, account_id=2)
    backend.record([second, first])
    assert backend.events([2, 99, 1, 2]) == [first, second]
    assert backend.events([]) == []
