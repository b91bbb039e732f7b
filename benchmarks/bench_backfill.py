"""Backfill of one account over 365 local days (about 1M raw events in the full run).

One database per adapter holds the raw events, written as the host writes them (not through the
library); the bare SQL baseline and the library's backfill run on it in turn, each round starting
from empty rollups, members and applied marks.
"""

from __future__ import annotations

from typing import Any

import pytest

import workload
from baselines import postgres_backfill, sqlite_backfill
from conftest import (
    Dataset,
    DatasetCache,
    Sizes,
    clear_derived,
    describe,
    load_raw,
    open_library,
    sqlite_path,
)

#: The backfilled account: America/New_York, so the year has a 23- and a 25-hour day.
ACCOUNT = 2
#: A 1M-event account-year "in seconds, not minutes": under a minute.
MIN_RATE = 1_000_000 / 60


def _dataset(datasets: DatasetCache, adapter: str, sizes: Sizes, request: Any) -> Dataset:
    def build(adapter: str, url: str) -> Dataset:
        rollups = open_library(url)
        rows = workload.rows(sizes.backfill, "year", accounts=(ACCOUNT,))
        count = load_raw(adapter, url, rollups, rows)
        rollups.set_timezone(ACCOUNT, workload.zone_of(ACCOUNT), rebuild=False)
        return Dataset(adapter, url, rollups, count)

    return datasets.get(("backfill", adapter, sizes.backfill), adapter, request, build)


def _measure(benchmark: Any, dataset: Dataset, rounds: int, target: Any) -> None:
    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        clear_derived(dataset.adapter, dataset.url, dataset.rollups, ACCOUNT)
        return (), {}

    benchmark.pedantic(target, setup=setup, rounds=rounds, iterations=1, warmup_rounds=0)


@pytest.mark.parametrize(
    ("adapter", "variant"),
    [
        ("memory", "library"),
        ("sqlite", "sql"),
        ("sqlite", "library"),
        ("postgres", "sql"),
        ("postgres", "library"),
    ],
)
def test_backfill(
    benchmark: Any,
    adapter: str,
    variant: str,
    sizes: Sizes,
    datasets: DatasetCache,
    request: pytest.FixtureRequest,
) -> None:
    """backfill() of the account-year vs one bare INSERT ... SELECT ... GROUP BY."""
    dataset = _dataset(datasets, adapter, sizes, request)
    since, until = workload.day_range("year")
    zone = workload.zones((ACCOUNT,))[ACCOUNT]
    if variant == "sql":
        if adapter == "postgres":
            _measure(
                benchmark,
                dataset,
                sizes.backfill_rounds,
                lambda: postgres_backfill(dataset.url, ACCOUNT, zone, since, until),
            )
        else:
            path = sqlite_path(dataset.url)
            _measure(
                benchmark,
                dataset,
                sizes.backfill_rounds,
                lambda: sqlite_backfill(path, ACCOUNT, zone, since, until),
            )
        describe(
            benchmark,
            bench="backfill bare SQL",
            adapter=adapter,
            events=dataset.events,
            mode=sizes.mode,
            role="baseline",
        )
        return
    results: list[Any] = []
    _measure(
        benchmark,
        dataset,
        sizes.backfill_rounds,
        lambda: results.append(dataset.rollups.backfill(ACCOUNT, since, until)),
    )
    assert results[-1].events == dataset.events, "the backfill did not see every raw event"
    describe(
        benchmark,
        bench="backfill 365 days",
        adapter=adapter,
        events=dataset.events,
        mode=sizes.mode,
        compare=[] if adapter == "memory" else [{"baseline": "backfill bare SQL", "min": 0.7}],
        min_events_per_s=MIN_RATE if sizes.mode == "full" else None,
        rows=results[-1].rows,
    )
