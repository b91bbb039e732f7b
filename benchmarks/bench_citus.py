"""Citus: the library on one coordinator, its tables local (the plain database) against
distributed by account (32 shards over the workers), in the same run.

Needs ``ROLLUPS_TEST_CITUS_URL`` (a database of its own on the coordinator, see the README's
Tests); skipped otherwise (CI has no Citus). Every measurement starts from an empty schema:
``local`` opens with ``local_tables=True``, ``distributed`` with the default. One account, so
that every batch is one account's (a batch spanning accounts is a distributed transaction).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

import workload
from bench_record import _record_each, _rounds
from conftest import Sizes, describe
from reporting_rollups.adapters import open_rollups
from reporting_rollups.application.service import Rollups

LAYOUTS = ("local", "distributed")
ACCOUNT = (workload.ACCOUNTS[0],)
#: Ids of warm-up events; measured events start above.
MEASURED_IDS = 10_000_000


@pytest.fixture
def citus_url() -> Iterator[str]:
    url = os.environ.get("ROLLUPS_TEST_CITUS_URL")
    if not url:
        pytest.skip("no Citus coordinator: set ROLLUPS_TEST_CITUS_URL")
    _empty(url)
    yield url
    _empty(url)


def _empty(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        for (table,) in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall():
            connection.execute(sql.SQL("DROP TABLE {} CASCADE").format(sql.Identifier(table)))


def _open(url: str, layout: str) -> Rollups:
    rollups = open_rollups(url, clock=lambda: workload.NOW, local_tables=layout == "local")
    assert getattr(rollups.uow_factory, "distributed", False) == (layout == "distributed")
    for account in ACCOUNT:
        rollups.set_timezone(account, workload.zone_of(account), rebuild=False)
    return rollups


def _describe(
    benchmark: Any, layout: str, bench: str, events: int, sizes: Sizes, minimum: float
) -> None:
    """`describe` a measurement of `layout`; the distributed one against the local one."""
    compare = [] if layout == "local" else [{"baseline": f"{bench} local", "min": minimum}]
    describe(
        benchmark,
        bench=f"{bench} {layout}",
        adapter="citus",
        events=events,
        mode=sizes.mode,
        compare=compare,
    )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_citus_record_single(benchmark: Any, layout: str, sizes: Sizes, citus_url: str) -> None:
    """record() of one event per call."""
    count = min(sizes.single, 500)
    rollups = _open(citus_url, layout)
    try:
        for event in workload.events(20, "live", accounts=ACCOUNT):
            rollups.record([event])
        batches = [
            workload.events(count, "live", first_id=MEASURED_IDS + n * count, accounts=ACCOUNT)
            for n in range(sizes.rounds)
        ]
        _record_each(benchmark, rollups, batches)
    finally:
        rollups.close()
    _describe(benchmark, layout, "record 1/call", count, sizes, 0.7)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_citus_record_batch(benchmark: Any, layout: str, sizes: Sizes, citus_url: str) -> None:
    """record() of 10,000-event batches (quick: 1,000) of one account."""
    size = sizes.batches[1]
    rollups = _open(citus_url, layout)
    try:
        rollups.record(workload.events(100, "live", accounts=ACCOUNT))
        batches = [
            workload.events(size, "live", first_id=MEASURED_IDS + n * size, accounts=ACCOUNT)
            for n in range(sizes.rounds)
        ]
        _rounds(benchmark, batches, rollups.record)
    finally:
        rollups.close()
    _describe(benchmark, layout, f"record {size}/batch", size, sizes, 0.9)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_citus_backfill(benchmark: Any, layout: str, sizes: Sizes, citus_url: str) -> None:
    """backfill() of one account-year (quick: 5,000 events; full: 200,000)."""
    count = min(sizes.backfill, 200_000)
    rollups = _open(citus_url, layout)
    try:
        events = workload.events(count, "spread", accounts=ACCOUNT)
        for start in range(0, count, 10_000):
            rollups.record(events[start : start + 10_000])
        account = ACCOUNT[0]
        plan = rollups.backfiller.plan(account)

        def backfill() -> None:
            rollups.backfiller.run(plan)

        benchmark.pedantic(backfill, rounds=sizes.backfill_rounds, iterations=1, warmup_rounds=0)
    finally:
        rollups.close()
    _describe(benchmark, layout, "backfill", count, sizes, 0.8)
