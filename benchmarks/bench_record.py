"""Live path: `record()` one event per call and in large batches, against the baselines.

Every round records fresh events (new ids) into a database that keeps what earlier rounds
wrote, as a host's does. Each measurement, baseline or library, gets its own fresh database.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import attrs
import pytest

import workload
from baselines import (
    PostgresLimit,
    PostgresLimitWithRaw,
    PostgresReference,
    SQLiteLimit,
    SQLiteReference,
    create_tables,
    merge,
)
from conftest import (
    Databases,
    Sizes,
    configure,
    describe,
    open_library,
    sqlalchemy_url,
    sqlite_path,
)
from reporting_rollups.adapters.asynchronous import open_rollups_async
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.events import Event

SHAPES = ("live", "spread")
#: Ids of warm-up events; measured events start above.
MEASURED_IDS = 10_000_000


def _rounds(benchmark: Any, batches: Sequence[Any], target: Callable[[Any], object]) -> None:
    """Run `target` once per batch, timing each call."""
    queue = iter(batches)

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (next(queue),), {}

    benchmark.pedantic(target, setup=setup, rounds=len(batches), iterations=1, warmup_rounds=0)


def _record_each(benchmark: Any, rollups: Rollups, batches: Sequence[list[Event]]) -> None:
    """Time rounds of `record()` with one event per call, one round per batch."""

    def record_each(events: list[Event]) -> None:
        for event in events:
            rollups.record([event])

    _rounds(benchmark, batches, record_each)


def _record_batches(
    benchmark: Any,
    rollups: Rollups,
    shape: str,
    size: int,
    rounds: int,
    change: Callable[[list[Event]], list[Event]] | None = None,
) -> None:
    """Time `rollups.record` of fresh batches of `size` events (`change`d first if given), one
    round per batch, after the accounts' zones and a warm-up batch; then close `rollups`."""
    try:
        configure(rollups)
        rollups.record(workload.events(100, shape))
        batches = workload.batches(rounds, size, shape, first_id=MEASURED_IDS)
        if change is not None:
            batches = [change(batch) for batch in batches]
        _rounds(benchmark, batches, rollups.record)
    finally:
        rollups.close()


def _reference(adapter: str, url: str) -> PostgresReference | SQLiteReference:
    create_tables(sqlalchemy_url(url), primary_key_only=True)
    if adapter == "postgres":
        return PostgresReference(url, workload.zones())
    return SQLiteReference(sqlite_path(url), workload.zones())


def _limit(adapter: str, url: str) -> PostgresLimit | SQLiteLimit:
    create_tables(sqlalchemy_url(url))
    if adapter == "postgres":
        return PostgresLimit(url, workload.zones())
    return SQLiteLimit(sqlite_path(url), workload.zones())


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("adapter", ["sqlite", "postgres"])
def test_reference(
    benchmark: Any,
    adapter: str,
    shape: str,
    sizes: Sizes,
    databases: Databases,
    request: pytest.FixtureRequest,
) -> None:
    """Baseline: the reference write path, one transaction per event."""
    writer = _reference(adapter, databases.url(adapter, request, library=False))
    try:
        for event in workload.events(20, shape):
            writer.write(event)
        batches = workload.batches(sizes.rounds, sizes.reference, shape, first_id=MEASURED_IDS)

        def write_each(events: list[Event]) -> None:
            for event in events:
                writer.write(event)

        _rounds(benchmark, batches, write_each)
    finally:
        writer.close()
    describe(
        benchmark,
        bench=f"reference {shape}",
        adapter=adapter,
        events=sizes.reference,
        mode=sizes.mode,
        role="baseline",
        expect="≈3.3k ev/s" if adapter == "postgres" else None,
    )


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("large", [False, True], ids=["small", "large"])
@pytest.mark.parametrize("adapter", ["memory", "sqlite", "postgres"])
def test_limit(
    benchmark: Any,
    adapter: str,
    large: bool,
    shape: str,
    sizes: Sizes,
    databases: Databases,
    request: pytest.FixtureRequest,
) -> None:
    """Baseline: the fastest bare write of a batch's merged rows (memory: the dict merge)."""
    size = sizes.batches[large]
    batches = workload.batches(sizes.rounds, size, shape, first_id=MEASURED_IDS)
    if adapter == "memory":
        zones = workload.zones()
        _rounds(benchmark, batches, lambda events: merge(events, zones))
        name = "merge"
    else:
        writer = _limit(adapter, databases.url(adapter, request, library=False))
        try:
            writer.write(workload.events(100, shape))
            _rounds(benchmark, batches, writer.write)
        finally:
            writer.close()
        name = "limit"
    describe(
        benchmark,
        bench=f"{name} {size}/batch {shape}",
        adapter=adapter,
        events=size,
        mode=sizes.mode,
        role="baseline",
        expect="≈55k ev/s" if adapter == "postgres" and large else None,
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_limit_with_raw(
    benchmark: Any, shape: str, sizes: Sizes, databases: Databases, request: pytest.FixtureRequest
) -> None:
    """Baseline: the floor of storing the raw events and rolling them up on PostgreSQL
    (`PostgresLimitWithRaw`), 10,000-event batches (quick: 1,000)."""
    size = sizes.batches[True]
    url = databases.url("postgres", request, library=False)
    create_tables(sqlalchemy_url(url), primary_key_only=True)
    writer = PostgresLimitWithRaw(url, workload.zones())
    try:
        writer.write(workload.events(100, shape))
        batches = workload.batches(sizes.rounds, size, shape, first_id=MEASURED_IDS)
        _rounds(benchmark, batches, writer.write)
    finally:
        writer.close()
    describe(
        benchmark,
        bench=f"limit_with_raw {size}/batch {shape}",
        adapter="postgres",
        events=size,
        mode=sizes.mode,
        role="baseline",
    )


@pytest.mark.parametrize("adapter", ["memory", "sqlite", "postgres"])
def test_record_single(
    benchmark: Any,
    adapter: str,
    sizes: Sizes,
    databases: Databases,
    request: pytest.FixtureRequest,
) -> None:
    """record() of one event per call (the host's event listener), live traffic."""
    rollups = open_library(databases.url(adapter, request))
    try:
        configure(rollups)
        for event in workload.events(20, "live"):
            rollups.record([event])
        batches = workload.batches(sizes.rounds, sizes.single, "live", first_id=MEASURED_IDS)
        _record_each(benchmark, rollups, batches)
    finally:
        rollups.close()
    compare = []
    if adapter != "memory":
        compare.append(
            {"baseline": "reference live", "min": 0.8}
            if adapter == "postgres"
            else {"baseline": "reference live"}
        )
    describe(
        benchmark,
        bench="record 1/call live",
        adapter=adapter,
        events=sizes.single,
        mode=sizes.mode,
        compare=compare,
    )


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("large", [False, True], ids=["small", "large"])
@pytest.mark.parametrize("adapter", ["memory", "sqlite", "postgres"])
def test_record_batch(
    benchmark: Any,
    adapter: str,
    large: bool,
    shape: str,
    sizes: Sizes,
    databases: Databases,
    request: pytest.FixtureRequest,
) -> None:
    """record() of 1,000 and 10,000 events per call: raw storage and exactly-once included."""
    size = sizes.batches[large]
    rollups = open_library(databases.url(adapter, request))
    _record_batches(benchmark, rollups, shape, size, sizes.rounds)
    compare: list[dict[str, Any]] = []
    minimum: float | None = None
    if adapter == "memory":
        compare.append({"baseline": f"merge {size}/batch {shape}"})
        minimum = 300_000 if large else None
    else:
        reference: dict[str, Any] = {"baseline": f"reference {shape}"}
        compare += [reference, {"baseline": f"limit {size}/batch {shape}"}]
        if adapter == "postgres" and large:
            reference["min"] = 10
            compare.append({"baseline": f"limit_with_raw {size}/batch {shape}", "min": 0.5})
        if adapter == "sqlite" and large:
            minimum = 100_000
    describe(
        benchmark,
        bench=f"record {size}/batch {shape}",
        adapter=adapter,
        events=size,
        mode=sizes.mode,
        compare=compare,
        min_events_per_s=minimum,
    )


def _with_times(batch: list[Event]) -> list[Event]:
    """The batch's events with the three other times, as a Chatwoot host's events have them
    (the value's span ending at created_at; updated_at equal to it)."""
    return [
        attrs.evolve(
            event,
            updated_at=event.created_at,
            event_start_time=event.created_at - timedelta(seconds=event.value or 0.0),
            event_end_time=event.created_at,
        )
        for event in batch
    ]


@pytest.mark.parametrize("adapter", ["memory", "sqlite", "postgres"])
def test_record_batch_with_times(
    benchmark: Any, adapter: str, sizes: Sizes, databases: Databases, request: pytest.FixtureRequest
) -> None:
    """record() of 10,000 events per call that carry updated_at, event_start_time and
    event_end_time (stored in the raw table), against the same batches without them."""
    size = sizes.batches[True]
    rollups = open_library(databases.url(adapter, request))
    _record_batches(benchmark, rollups, "live", size, sizes.rounds, _with_times)
    describe(
        benchmark,
        bench=f"record {size}/batch live, with times",
        adapter=adapter,
        events=size,
        mode=sizes.mode,
        compare=[{"baseline": f"record {size}/batch live"}],
    )


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("adapter", ["sqlite", "postgres"])
def test_record_batch_reference_indexes(
    benchmark: Any,
    adapter: str,
    shape: str,
    sizes: Sizes,
    databases: Databases,
    request: pytest.FixtureRequest,
) -> None:
    """record() of 10,000-event batches into a `reporting_events` with the reference
    application's full index set (`reference_indexes=True`), beside the default one-index table
    (issue 13: reported, no target)."""
    size = sizes.batches[True]
    rollups = open_library(databases.url(adapter, request), reference_indexes=True)
    _record_batches(benchmark, rollups, shape, size, sizes.rounds)
    describe(
        benchmark,
        bench=f"record {size}/batch {shape}, reference indexes",
        adapter=adapter,
        events=size,
        mode=sizes.mode,
        compare=[
            {"baseline": f"record {size}/batch {shape}"},
            {"baseline": f"reference {shape}"},
        ],
    )


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("adapter", ["memory", "sqlite", "postgres"])
def test_record_batch_async(
    benchmark: Any,
    adapter: str,
    shape: str,
    sizes: Sizes,
    databases: Databases,
    request: pytest.FixtureRequest,
) -> None:
    """`await rollups.record()` of 10,000-event batches through `open_rollups_async` (on
    PostgreSQL psycopg's asyncio connections under the greenlet bridge; SQLite a worker
    thread), each round one call run to its end on an event loop, against the synchronous
    `record()` of batches of the same size into a second database, measured alternately
    with it (before each timed round, untimed by the benchmark), so both see the same machine
    and server (issue 14: at least 0.9 of its throughput)."""
    size = sizes.batches[True]
    memory = adapter == "memory"
    loop = asyncio.new_event_loop()
    sync = open_library(databases.url(adapter, request))
    sync_times: list[float] = []
    try:
        url = None if memory else databases.url(adapter, request)
        rollups = loop.run_until_complete(open_rollups_async(url, clock=lambda: workload.NOW))
        try:
            configure(sync)
            for account in workload.ACCOUNTS:
                zone = workload.zone_of(account)
                loop.run_until_complete(rollups.set_timezone(account, zone, rebuild=False))
            sync.record(workload.events(100, shape))
            loop.run_until_complete(rollups.record(workload.events(100, shape)))
            batches = workload.batches(sizes.rounds, size, shape, first_id=MEASURED_IDS)
            queue = iter(batches)

            def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
                batch = next(queue)
                started = time.perf_counter()
                sync.record(batch)
                sync_times.append(time.perf_counter() - started)
                return (batch,), {}

            def record(batch: list[Event]) -> None:
                loop.run_until_complete(rollups.record(batch))

            benchmark.pedantic(
                record, setup=setup, rounds=len(batches), iterations=1, warmup_rounds=0
            )
        finally:
            loop.run_until_complete(rollups.close())
    finally:
        sync.close()
        loop.close()
    baseline = f"record {size}/batch {shape}, sync, alternating"
    describe(
        benchmark,
        bench=f"record {size}/batch {shape}, async",
        adapter=adapter,
        events=size,
        mode=sizes.mode,
        compare=[{"baseline": baseline, "min": 0.9}],
        paired=[{"bench": baseline, "events": size, "median": statistics.median(sync_times)}],
    )
