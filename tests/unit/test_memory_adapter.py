"""The in-memory adapter behaves like a database: units of work are all-or-nothing."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from adapters import open_rollups
from adapters.memory import InMemoryDatabase, InMemoryUnitOfWorkFactory
from application.ports import AccountSettings
from application.service import Rollups
from domain.errors import ConfigurationError, EventConflictError, StorageError
from domain.metrics import DimensionType, Metric, MetricContribution, RollupKey
from tests.builders import event, utc


def key(
    day: int,
    dimension: DimensionType = DimensionType.ACCOUNT,
    dimension_id: int = 1,
    metric: Metric = Metric.REPLY_TIME,
    account_id: int = 1,
) -> RollupKey:
    return RollupKey(account_id, date(2026, 11, day), dimension, dimension_id, metric)


def state(db: InMemoryDatabase) -> tuple[object, ...]:
    return (
        {a: dict(e) for a, e in db.events.items() if e},
        dict(db.event_accounts),
        dict(db.applied),
        {a: dict(r) for a, r in db.rollups.items() if r},
        {a: dict(m) for a, m in db.members.items() if m},
        dict(db.accounts),
    )


def test_an_exception_inside_a_unit_of_work_leaves_nothing(
    rollups: Rollups, db: InMemoryDatabase
) -> None:
    rollups.set_timezone(1, "UTC")
    rollups.record([event(1, "reply_time", value=1)])
    before = state(db)

    def change_everything_then_fail() -> None:
        with rollups.uow_factory() as uow:
            uow.events.add([event(2)])
            uow.events.remove([1])
            uow.ledger.mark([(1, 2)])
            uow.ledger.unmark([(1, 1)])
            uow.rollups.add(
                {key(20): MetricContribution(1, 1.0, 0.0), key(21): MetricContribution(2, 0.0, 0.0)}
            )
            uow.rollups.add_members({(key(20, metric=Metric.BOT_HANDOFFS_COUNT), 5): 1})
            uow.rollups.clear_account(1)
            uow.ledger.clear_account(1)
            uow.accounts.save(AccountSettings(1, "Asia/Tokyo"))
            uow.accounts.save(AccountSettings(2, "UTC"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        change_everything_then_fail()
    assert state(db) == before


def test_leaving_without_commit_rolls_back(rollups: Rollups, db: InMemoryDatabase) -> None:
    before = state(db)
    with rollups.uow_factory() as uow:
        uow.events.add([event(1)])
        uow.rollups.add({key(20): MetricContribution(1, 0.0, 0.0)})
    assert state(db) == before


def test_commit_keeps_everything(rollups: Rollups, db: InMemoryDatabase) -> None:
    with rollups.uow_factory() as uow:
        uow.events.add([event(1)])
        uow.rollups.add({key(20): MetricContribution(1, 0.0, 0.0)})
        uow.commit()
    assert set(db.event_accounts) == {1}
    assert rollups.rows(1) == [(key(20), MetricContribution(1, 0.0, 0.0))]


def test_a_rolled_back_update_restores_the_old_value(rollups: Rollups) -> None:
    with rollups.uow_factory() as uow:
        uow.rollups.add({key(20): MetricContribution(1, 1.0, 0.0)})
        uow.commit()
    with rollups.uow_factory() as uow:
        uow.rollups.add({key(20): MetricContribution(1, 1.0, 0.0)})
        uow.rollups.add({key(20): MetricContribution(-2, -2.0, 0.0)})
        assert uow.rollups.rows(1) == []
    assert rollups.rows(1) == [(key(20), MetricContribution(1, 1.0, 0.0))]


def test_units_of_work_are_serialised() -> None:
    factory = InMemoryUnitOfWorkFactory()
    order: list[str] = []
    entered = threading.Event()

    def other() -> None:
        with factory() as uow:
            order.append("other")
            uow.commit()

    with factory():
        thread = threading.Thread(target=other)
        thread.start()
        entered.wait(0.05)
        order.append("first")
    thread.join()
    assert order == ["first", "other"]


def test_event_store_port(rollups: Rollups) -> None:
    events = [event(3, at=utc(2026, 11, 5)), event(1, at=utc(2026, 11, 9)), event(2, account_id=2)]
    with rollups.uow_factory() as uow:
        assert uow.events.add(sorted(events, key=lambda e: e.id)) == [1, 2, 3]
        assert uow.events.add([event(1, at=utc(2026, 11, 9))]) == []
        with pytest.raises(EventConflictError):
            uow.events.add([event(1, at=utc(2026, 11, 10))])
        assert [e.id for e in uow.events.get([3, 1, 99])] == [1, 3]
        assert uow.events.span(1) == (utc(2026, 11, 5), utc(2026, 11, 9))
        assert uow.events.span(7) is None
        assert [e.id for e in uow.events.remove([3, 99])] == [3]
        assert uow.events.get([3]) == []
        assert uow.events.span(1) == (utc(2026, 11, 9), utc(2026, 11, 9))


def test_ledger_port(rollups: Rollups) -> None:
    with rollups.uow_factory() as uow:
        assert uow.ledger.mark([(1, 1), (1, 2), (2, 3)]) == {1, 2, 3}
        assert uow.ledger.mark([(1, 2), (1, 4)]) == {4}
        assert uow.ledger.unmark([(1, 1), (1, 9)]) == {1}
        uow.ledger.clear_account(1)
        assert uow.ledger.mark([(1, 2), (2, 3)]) == {2}


def test_rollup_store_add_is_an_additive_upsert(rollups: Rollups) -> None:
    with rollups.uow_factory() as uow:
        uow.rollups.add({key(20): MetricContribution(2, 3.0, 1.0)})
        uow.rollups.add(
            {key(20): MetricContribution(1, 1.0, 1.0), key(21): MetricContribution(1, 0.0, 0.0)}
        )
        assert uow.rollups.rows(1) == [
            (key(20), MetricContribution(3, 4.0, 2.0)),
            (key(21), MetricContribution(1, 0.0, 0.0)),
        ]
        uow.rollups.add({key(20): MetricContribution(-3, -4.0, -2.0)})
        assert uow.rollups.rows(1) == [(key(21), MetricContribution(1, 0.0, 0.0))]
        with pytest.raises(StorageError):
            uow.rollups.add({key(21): MetricContribution(-2, 0.0, 0.0)})


def test_rollup_store_members(rollups: Rollups) -> None:
    handoffs = key(20, metric=Metric.BOT_HANDOFFS_COUNT)

    def changes(deltas: dict[tuple[RollupKey, int], int]) -> dict[RollupKey, int]:
        return {k: n for k, n in uow.rollups.add_members(deltas).items() if n}

    with rollups.uow_factory() as uow:
        assert changes({(handoffs, 5): 2, (handoffs, 6): 1}) == {handoffs: 2}
        assert changes({(handoffs, 5): -1}) == {}
        assert changes({(handoffs, 5): -1, (handoffs, 7): 1}) == {}
        assert changes({(handoffs, 6): -1, (handoffs, 7): -1}) == {handoffs: -2}
        with pytest.raises(StorageError):
            uow.rollups.add_members({(handoffs, 6): -1})


def test_rows_are_sorted_and_filtered(rollups: Rollups) -> None:
    keys = [
        key(22),
        key(20, DimensionType.INBOX, 2),
        key(20, DimensionType.AGENT, 7, Metric.FIRST_RESPONSE),
        key(20, DimensionType.AGENT, 7, Metric.BOT_HANDOFFS_COUNT),
        key(21),
        key(20, account_id=2),
    ]
    with rollups.uow_factory() as uow:
        uow.rollups.add({k: MetricContribution(1, 0.0, 0.0) for k in keys})
        uow.commit()
    assert [k for k, _ in rollups.rows(1)] == [keys[3], keys[2], keys[1], keys[4], keys[0]]
    assert [k for k, _ in rollups.rows(1, since=date(2026, 11, 21))] == [keys[4], keys[0]]
    assert [k for k, _ in rollups.rows(1, until=date(2026, 11, 20))] == keys[3:0:-1]
    assert [k for k, _ in rollups.rows(1, date(2026, 11, 21), date(2026, 11, 21))] == [keys[4]]
    assert [k for k, _ in rollups.rows(2)] == [keys[5]]
    assert rollups.rows(3) == []
    with rollups.uow_factory() as uow:
        assert uow.rollups.date_span(1) == (date(2026, 11, 20), date(2026, 11, 22))
        assert uow.rollups.date_span(3) is None


def test_account_store_port(rollups: Rollups) -> None:
    with rollups.uow_factory() as uow:
        assert uow.accounts.get(1) == AccountSettings(1)
        assert uow.accounts.lock_shared({2, 1}) == {1: AccountSettings(1), 2: AccountSettings(2)}
        uow.accounts.save(AccountSettings(1, "UTC", "UTC", True))
        assert uow.accounts.lock_exclusive(1) == AccountSettings(1, "UTC", "UTC", True)
        uow.commit()
    assert rollups.account(1) == AccountSettings(1, "UTC", "UTC", True)


def test_each_memory_url_opens_its_own_database() -> None:
    with open_rollups("memory://") as first, open_rollups("memory://") as second:
        first.set_timezone(1, "UTC")
        assert second.account(1).timezone is None


@pytest.mark.parametrize("url", ["", "nothing", "mysql://localhost/db", "memory:/"])
def test_bad_urls_raise_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        open_rollups(url)


def test_close_is_idempotent() -> None:
    rollups = open_rollups("memory://")
    rollups.close()
    rollups.close()
