"""Contract of `retract` on every backend: raw events go, their contributions go exactly once."""

from __future__ import annotations

from datetime import date

import pytest

from reporting_rollups.application.live import RecordResult, RetractResult
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import (
    ConfigurationError,
    EventConflictError,
    InvalidEventError,
    InvalidRangeError,
)
from tests.builders import event, row_map, utc
from tests.reference import assert_rollups_match

DAY = date(2026, 11, 20)
HANDOFFS = (DAY, "account", 1, "bot_handoffs_count")


@pytest.fixture
def configured(backend: Rollups) -> Rollups:
    """Account 1 reports in UTC, account 2 in New York; account 3 has no zone."""
    backend.set_timezone(1, "UTC")
    backend.set_timezone(2, "America/New_York")
    return backend


def stored_ids(rollups: Rollups, ids: list[int]) -> list[int]:
    with rollups.uow_factory() as uow:
        return [e.id for e in uow.events.get(ids)]


def test_retract_takes_contributions_back_exactly_once(configured: Rollups) -> None:
    configured.record([event(1, "reply_time", value=5, user_id=2), event(2, "reply_time", value=7)])
    assert configured.retract([2], account_id=1) == RetractResult(
        retracted=1, rolled_back=1, unknown=0
    )
    assert configured.retract([2], account_id=1) == RetractResult(
        retracted=0, rolled_back=0, unknown=1
    )
    assert row_map(configured.rows(1)) == {
        (DAY, "account", 1, "reply_time"): (1, 5.0, 0.0),
        (DAY, "agent", 2, "reply_time"): (1, 5.0, 0.0),
    }
    assert stored_ids(configured, [1, 2]) == [1]
    configured.retract([1], account_id=1)
    assert configured.rows(1) == []
    assert stored_ids(configured, [1, 2]) == []


def test_unknown_and_repeated_ids(configured: Rollups) -> None:
    configured.record([event(1)])
    assert configured.retract([1, 1, 99, 100], account_id=1) == RetractResult(1, 1, 2)
    assert configured.retract([]) == RetractResult(0, 0, 0)
    assert configured.retract(iter([5, 6]), account_id=1) == RetractResult(0, 0, 2)


@pytest.mark.parametrize("bad", [0, -1, True, "1", 1.5, None])
def test_invalid_ids_are_rejected_before_anything_changes(configured: Rollups, bad: object) -> None:
    configured.record([event(1)])
    rows = configured.rows(1)
    with pytest.raises(InvalidEventError):
        configured.retract([1, bad], account_id=1)  # type: ignore[list-item]
    assert stored_ids(configured, [1]) == [1]
    assert configured.rows(1) == rows


def test_two_handoffs_of_one_conversation(configured: Rollups) -> None:
    configured.record(
        [
            event(1, "conversation_bot_handoff", conversation_id=9),
            event(2, "conversation_bot_handoff", conversation_id=9),
        ]
    )
    assert row_map(configured.rows(1)) == {HANDOFFS: (1, 0.0, 0.0)}
    configured.retract([1], account_id=1)
    assert row_map(configured.rows(1)) == {HANDOFFS: (1, 0.0, 0.0)}
    configured.retract([2], account_id=1)
    assert configured.rows(1) == []


def test_handoff_members_per_dimension(configured: Rollups) -> None:
    configured.record(
        [
            event(1, "conversation_bot_handoff", conversation_id=9, inbox_id=1),
            event(2, "conversation_bot_handoff", conversation_id=9, inbox_id=2),
            event(3, "conversation_bot_handoff", conversation_id=10, inbox_id=1),
        ]
    )
    configured.retract([1], account_id=1)
    assert row_map(configured.rows(1)) == {
        HANDOFFS: (2, 0.0, 0.0),
        (DAY, "inbox", 1, "bot_handoffs_count"): (1, 0.0, 0.0),
        (DAY, "inbox", 2, "bot_handoffs_count"): (1, 0.0, 0.0),
    }


def test_handoffs_without_conversation(configured: Rollups) -> None:
    configured.record([event(1, "conversation_bot_handoff"), event(2, "conversation_bot_handoff")])
    configured.retract([1], account_id=1)
    assert row_map(configured.rows(1)) == {HANDOFFS: (1, 0.0, 0.0)}
    configured.retract([2], account_id=1)
    assert configured.rows(1) == []


def test_retract_of_an_account_without_zone(configured: Rollups) -> None:
    configured.record([event(1, account_id=3)])
    assert configured.retract([1], account_id=3) == RetractResult(
        retracted=1, rolled_back=0, unknown=0
    )
    assert stored_ids(configured, [1]) == []


def test_retract_of_a_host_written_event_not_yet_applied(configured: Rollups) -> None:
    configured.record([event(1, "reply_time", value=1)])
    with configured.uow_factory() as uow:
        uow.events.add([event(2, "reply_time", value=2)])
        uow.commit()
    assert configured.retract([2], account_id=1) == RetractResult(
        retracted=1, rolled_back=0, unknown=0
    )
    assert row_map(configured.rows(1)) == {(DAY, "account", 1, "reply_time"): (1, 1.0, 0.0)}


def test_retract_after_a_zone_change_without_rebuild(configured: Rollups) -> None:
    configured.record([event(1, "reply_time", value=1), event(2, "reply_time", value=2)])
    configured.set_timezone(1, "Asia/Tokyo", rebuild=False)
    configured.record([event(3, "reply_time", value=4)])
    assert configured.retract([1], account_id=1) == RetractResult(1, 0, 0)
    assert configured.retract([3], account_id=1) == RetractResult(1, 1, 0)
    assert configured.rows(1) == []
    configured.rebuild(1)
    assert row_map(configured.rows(1)) == {(DAY, "account", 1, "reply_time"): (1, 2.0, 0.0)}


def test_a_retracted_event_can_be_recorded_again(configured: Rollups) -> None:
    configured.record([event(1, "reply_time", value=1)])
    configured.retract([1], account_id=1)
    changed = event(1, "reply_time", value=4, at=utc(2026, 11, 19, 8))
    assert configured.record([changed]) == RecordResult(1, 0, 1, 0)
    assert_rollups_match(configured, 1, "UTC", [changed])


def test_retract_across_accounts(configured: Rollups, backend_name: str) -> None:
    """Without an account, ids are global: one call retracts events of several accounts. On a
    distributed database (Citus), where an event is (account, id), the account is required."""
    configured.record(
        [
            event(1, "reply_time", value=1),
            event(2, "reply_time", value=2, account_id=2),
            event(3, "reply_time", value=3, account_id=3),
        ]
    )
    if backend_name == "citus":
        with pytest.raises(ConfigurationError) as caught:
            configured.retract([3, 2, 1])
        assert "give the account" in str(caught.value)
        assert stored_ids(configured, [1, 2, 3]) == [1, 2, 3]  # nothing changed
        return
    assert configured.retract([3, 2, 1]) == RetractResult(3, 2, 0)
    assert configured.rows(1) == configured.rows(2) == []


def test_an_id_of_another_account_is_a_conflict_except_on_a_distributed_database(
    configured: Rollups, backend_name: str
) -> None:
    """The one difference between backends: event identity. Memory, SQLite and PostgreSQL keep
    ids global (the same id with another account is a conflict); on Citus an event is
    (account, id), so it is another event, and each account retracts its own."""
    configured.record([event(1, "reply_time", value=1)])
    other = event(1, "reply_time", value=1, account_id=2)
    if backend_name != "citus":
        with pytest.raises(EventConflictError) as caught:
            configured.record([other])
        assert caught.value.differences == ["account_id"]
        return
    assert configured.record([other]) == RecordResult(1, 0, 1, 0)
    assert {e.account_id for e in configured.events([1])} == {1, 2}
    assert configured.retract([1], account_id=2) == RetractResult(1, 1, 0)
    assert [e.account_id for e in configured.events([1])] == [1]
    assert configured.verify(1).clean
    assert configured.verify(2).clean


def test_retract_of_backfilled_events(backend: Rollups) -> None:
    backend.record([event(1, "reply_time", value=1), event(2, "reply_time", value=2)])
    backend.set_timezone(1, "UTC")
    assert backend.retract([1], account_id=1) == RetractResult(1, 1, 0)
    assert row_map(backend.rows(1)) == {(DAY, "account", 1, "reply_time"): (1, 2.0, 0.0)}
    assert backend.verify(1).mismatches == []


def test_retracting_most_events_leaves_the_reference(configured: Rollups) -> None:
    events = [
        event(
            n,
            ("reply_time", "conversation_resolved", "conversation_bot_handoff")[n % 3],
            value=n / 7,
            business=n / 11,
            user_id=1 + n % 3,
            inbox_id=1 + n % 2,
            conversation_id=n % 4 or None,
            at=utc(2026, 11, 1 + n % 4, n % 24),
        )
        for n in range(1, 61)
    ]
    configured.record(events)
    configured.retract([e.id for e in events if e.id % 5], account_id=1)
    assert_rollups_match(configured, 1, "UTC", [e for e in events if e.id % 5 == 0])
    assert configured.verify(1).mismatches == []


def test_a_retraction_sums_rows_again_from_applied_events_only(backend: Rollups) -> None:
    """The row a retraction sums again holds only applied events: a raw row the host stored
    and nobody recorded yet stays out of it until it is recorded, then counts once."""
    backend.set_timezone(1, "UTC")
    kept = event(1, "reply_time", value=10.0, at=utc(2026, 11, 20, 9))
    gone = event(2, "reply_time", value=1e9, at=utc(2026, 11, 20, 10))
    host = event(3, "reply_time", value=5.0, at=utc(2026, 11, 20, 11))
    backend.record([kept, gone])
    with backend.uow_factory() as uow:
        uow.events.add([host])  # stored, not marked: as the host writes it
        uow.commit()
    assert backend.retract([2], account_id=1).rolled_back == 1
    assert_rollups_match(backend, 1, "UTC", [kept])
    assert backend.record([host]).rolled_up == 1
    assert_rollups_match(backend, 1, "UTC", [kept, host])
    assert backend.verify(1).mismatches == []


# -- retract(ids, account_id=...): one account's events only ---------------------------------


def test_retract_of_one_account_leaves_the_others_ids_alone(configured: Rollups) -> None:
    configured.record(
        [
            event(1, "reply_time", value=5),
            event(2, "reply_time", value=7, account_id=2),
            event(3, "reply_time", value=9, account_id=3),  # no zone
        ]
    )
    before = {account: configured.rows(account) for account in (1, 2)}
    # ids 2 and 3 are of other accounts: unknown to account 1, not touched
    assert configured.retract([1, 2, 3, 99], account_id=1) == RetractResult(1, 1, 3)
    assert stored_ids(configured, [1, 2, 3]) == [2, 3]
    assert configured.rows(1) == []
    assert configured.rows(2) == before[2]
    assert configured.retract([2], account_id=2) == RetractResult(1, 1, 0)
    assert configured.retract([3], account_id=3) == RetractResult(1, 0, 0)  # no zone: no rows
    assert stored_ids(configured, [1, 2, 3]) == []
    assert configured.retract([1], account_id=1) == RetractResult(0, 0, 1)


def test_retract_of_one_account_matches_the_reference(configured: Rollups) -> None:
    events = [
        event(
            i, "first_response", value=float(i), at=utc(2026, 11, 18 + i % 3), account_id=1 + i % 2
        )
        for i in range(1, 41)
    ]
    configured.record(events)
    doomed = [e.id for e in events if e.id % 3 == 0]
    configured.retract(doomed, account_id=1)
    kept = [e for e in events if not (e.id % 3 == 0 and e.account_id == 1)]
    assert stored_ids(configured, list(range(1, 41))) == [e.id for e in kept]
    assert_rollups_match(configured, 1, "UTC", kept)
    assert_rollups_match(configured, 2, "America/New_York", kept)
    assert configured.verify(1).clean
    assert configured.verify(2).clean


@pytest.mark.parametrize("bad", [0, -1, True, "1", 1.5])
def test_a_bad_account_is_rejected_before_anything_changes(
    configured: Rollups, bad: object
) -> None:
    configured.record([event(1)])
    with pytest.raises(InvalidRangeError) as caught:
        configured.retract([1], account_id=bad)  # type: ignore[arg-type]
    assert "account_id" in str(caught.value)
    assert stored_ids(configured, [1]) == [1]
