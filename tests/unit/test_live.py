"""Live path on the in-memory adapter: failed or repeated writes leave every table (ledger and
handoff members included) untouched; the contract suite covers the rest."""

from __future__ import annotations

from datetime import date

import pytest

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.memory import InMemoryDatabase
from reporting_rollups.application.live import RecordResult
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import (
    ConfigurationError,
    EventConflictError,
    InvalidEventError,
)
from tests.builders import event, row_map

DAY = date(2026, 11, 20)


@pytest.fixture
def configured(rollups: Rollups) -> Rollups:
    """Account 1 reports in UTC; account 2 in New York; account 3 has no zone."""
    rollups.set_timezone(1, "UTC")
    rollups.set_timezone(2, "America/New_York")
    return rollups


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


def test_redelivery_in_a_later_batch_changes_nothing(
    configured: Rollups, db: InMemoryDatabase
) -> None:
    batch = [event(1, "first_response", value=10), event(2, "reply_time", value=3)]
    configured.record(batch)
    before = snapshot(db)
    assert configured.record(list(reversed(batch))) == RecordResult(0, 2, 0, 0)
    assert snapshot(db) == before


def test_conflicting_redelivery_writes_nothing(configured: Rollups, db: InMemoryDatabase) -> None:
    configured.record([event(1, "first_response", value=10)])
    before = snapshot(db)
    with pytest.raises(EventConflictError):
        configured.record([event(2, "reply_time"), event(1, "first_response", value=11)])
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
    from reporting_rollups.adapters.memory import InMemoryRollupStore

    def broken(self: InMemoryRollupStore, deltas: object) -> None:
        raise RuntimeError("disk full")

    before = snapshot(db)
    monkeypatch.setattr(InMemoryRollupStore, "add", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        configured.record([event(1), event(2, "reply_time", value=1)])
    assert snapshot(db) == before


def test_record_accepts_any_iterable(configured: Rollups) -> None:
    result = configured.record(event(n, "reply_time", value=n) for n in range(1, 4))
    assert result.stored == 3
    assert row_map(configured.rows(1)) == {(DAY, "account", 1, "reply_time"): (3, 6.0, 0.0)}


# --- retract -------------------------------------------------------------------------------


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


def test_retract_does_not_leave_negative_or_zero_rows(
    configured: Rollups, db: InMemoryDatabase
) -> None:
    configured.record([event(n, value=0.1 * n, user_id=n) for n in range(1, 6)])
    configured.retract(range(1, 6))
    assert configured.rows(1) == []
    assert db.members.get(1, {}) == {}
    assert all(value.count > 0 for rows in db.rollups.values() for value in rows.values())


@pytest.mark.parametrize("steps", [0, -3, 2.5, "10", True])
def test_step_events_must_be_a_positive_integer(steps: object) -> None:
    with pytest.raises(
        ConfigurationError, match=f"step_events must be a positive integer, not {steps!r}"
    ):
        open_rollups("memory://", step_events=steps)  # type: ignore[arg-type]
