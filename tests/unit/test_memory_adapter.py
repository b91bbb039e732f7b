"""The in-memory adapter behaves like a database: units of work are all-or-nothing."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.memory import InMemoryDatabase, InMemoryUnitOfWorkFactory
from reporting_rollups.application.ports import AccountSettings, applied_ref
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.metrics import DimensionType, Metric, MetricContribution, RollupKey
from tests.builders import event


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
            uow.events.remove([1], [1])
            uow.ledger.mark([applied_ref(1, 2)])
            uow.ledger.unmark([applied_ref(1, 1)])
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


def test_each_memory_url_opens_its_own_database() -> None:
    with open_rollups("memory://") as first, open_rollups("memory://") as second:
        first.set_timezone(1, "UTC")
        assert second.account(1).timezone is None
