"""`verify` of one account over 365 local days, against a backfill of the same account-days.

One database per adapter holds the raw events of the backfill suite's account-year (about 1M in
the full run), written as the host writes them. The baseline is the library's own `backfill()` of
those days from empty rollups, measured in the same run on the same data; `verify` then compares
the rebuilt rollups with the raw aggregation (it must find nothing) and is held to 1.5x the
backfill's time (issue 8).
"""

from __future__ import annotations

from typing import Any

import pytest

import workload
from conftest import Dataset, DatasetCache, Sizes, clear_derived, describe, load_raw, open_library

#: The verified account (America/New_York: the year has a 23- and a 25-hour day).
ACCOUNT = 2
BASELINE = "backfill (verify baseline)"
#: verify's median time over the backfill's, at most.
MAX_TIME_RATIO = 1.5


def _dataset(
    datasets: DatasetCache, adapter: str, sizes: Sizes, request: pytest.FixtureRequest
) -> Dataset:
    def build(adapter: str, url: str) -> Dataset:
        rollups = open_library(url)
        rows = workload.rows(sizes.backfill, "year", accounts=(ACCOUNT,))
        count = load_raw(adapter, url, rollups, rows)
        rollups.set_timezone(ACCOUNT, workload.zone_of(ACCOUNT), rebuild=False)
        return Dataset(adapter, url, rollups, count)

    return datasets.get(("verify", adapter, sizes.backfill), adapter, request, build)


@pytest.mark.parametrize(
    ("adapter", "variant"),
    [
        (adapter, variant)
        for adapter in ("memory", "sqlite", "postgres")
        for variant in ("backfill", "verify")
    ],
)
def test_verify(
    benchmark: Any,
    variant: str,
    adapter: str,
    sizes: Sizes,
    datasets: DatasetCache,
    request: pytest.FixtureRequest,
) -> None:
    """verify() of the account-year vs backfill() of the same days (same run, same data)."""
    dataset = _dataset(datasets, adapter, sizes, request)
    since, until = workload.day_range("year")
    rollups = dataset.rollups
    if variant == "backfill":
        results: list[Any] = []

        def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
            clear_derived(dataset.adapter, dataset.url, rollups, ACCOUNT)
            return (), {}

        benchmark.pedantic(
            lambda: results.append(rollups.backfill(ACCOUNT, since, until)),
            setup=setup,
            rounds=sizes.backfill_rounds,
            iterations=1,
            warmup_rounds=0,
        )
        assert results[-1].events == dataset.events, "the backfill did not see every raw event"
        dataset.info["built"] = True
        describe(
            benchmark,
            bench=BASELINE,
            adapter=adapter,
            events=dataset.events,
            mode=sizes.mode,
            role="baseline",
        )
        return
    if not dataset.info.get("built"):
        rollups.backfill(ACCOUNT, since, until)
        dataset.info["built"] = True
    found: list[Any] = []
    benchmark.pedantic(
        lambda: found.append(rollups.verify(ACCOUNT, since, until).mismatches),
        rounds=sizes.backfill_rounds,
        iterations=1,
        warmup_rounds=0,
    )
    assert found[-1] == [], "verify found mismatches in freshly rebuilt rollups"
    describe(
        benchmark,
        bench="verify 365 days",
        adapter=adapter,
        events=dataset.events,
        mode=sizes.mode,
        compare=[{"baseline": BASELINE, "measure": "time", "max": MAX_TIME_RATIO}],
    )
