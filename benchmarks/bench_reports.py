"""Reports: the 90-day per-agent summary of one account, from rollups vs from raw events.

Two database sizes (200k and 2M raw events over 10 accounts and a year in the full run). The
queried account's rollups are rebuilt by the library; the other accounts' raw events only make
the raw table as big as a host's. Baselines: the same summary in bare SQL, from raw events and
from rollup rows. The library chooses its source from the read-path switch
(`enable_read_path`), and the benchmark checks it got the source it asked for.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import workload
from baselines import PostgresSummary, SQLiteSummary
from conftest import Dataset, DatasetCache, Sizes, describe, load_raw, open_library, sqlite_path
from reporting_rollups.application.read_path import Source

#: The queried account (Asia/Kolkata) and the 90 local days ending on the workload's last day.
ACCOUNT = 1
UNTIL = workload.LAST_DAY
SINCE = UNTIL - timedelta(days=89)
VARIANTS = ("raw SQL", "rollup SQL", "raw", "rollups")


def _cases() -> list[Any]:
    cases = []
    for adapter in ("memory", "sqlite", "postgres"):
        for large in (False, True):
            for variant in VARIANTS:
                if adapter == "memory" and "SQL" in variant:
                    continue
                size = "large" if large else "small"
                cases.append(
                    pytest.param(adapter, large, variant, id=f"{adapter}-{size}-{variant}")
                )
    return cases


def _dataset(
    datasets: DatasetCache, adapter: str, size: int, request: pytest.FixtureRequest
) -> Dataset:
    def build(adapter: str, url: str) -> Dataset:
        rollups = open_library(url)
        count = load_raw(adapter, url, rollups, workload.rows(size, "year"))
        rollups.set_timezone(ACCOUNT, workload.zone_of(ACCOUNT))  # rebuilds: rollups current
        return Dataset(adapter, url, rollups, count)

    return datasets.get(("reports", adapter, size), adapter, request, build)


def _bench(variant: str, size: int) -> str:
    return f"summary {variant} {size:,}"


@pytest.mark.parametrize(("adapter", "large", "variant"), _cases())
def test_summary(
    benchmark: Any,
    adapter: str,
    large: bool,
    variant: str,
    sizes: Sizes,
    datasets: DatasetCache,
    request: pytest.FixtureRequest,
) -> None:
    """The 90-day per-agent summary: bare SQL baselines, then the library from each source."""
    size = sizes.reports[large]
    small = sizes.reports[False]
    dataset = _dataset(datasets, adapter, size, request)
    compare: list[dict[str, Any]] = []
    if "SQL" in variant:
        zone = workload.zones((ACCOUNT,))[ACCOUNT]
        summary: PostgresSummary | SQLiteSummary = (
            PostgresSummary(dataset.url, ACCOUNT, zone, SINCE, UNTIL)
            if adapter == "postgres"
            else SQLiteSummary(sqlite_path(dataset.url), ACCOUNT, zone, SINCE, UNTIL)
        )
        try:
            query = summary.raw if variant == "raw SQL" else summary.rollup
            query()
            benchmark.pedantic(query, rounds=sizes.query_rounds, iterations=1)
        finally:
            summary.close()
        role = "baseline"
        if variant == "rollup SQL":
            compare.append({"baseline": _bench("raw SQL", size)})
    else:
        rollups = dataset.rollups
        from_rollups = variant == "rollups"
        rollups.enable_read_path(ACCOUNT, from_rollups)
        wanted = Source.ROLLUPS if from_rollups else Source.RAW
        report = rollups.reports.summary(ACCOUNT, "agent", SINCE, UNTIL)
        assert report.source is wanted, f"asked for {wanted}, the library read {report.source}"
        benchmark.pedantic(
            rollups.reports.summary,
            args=(ACCOUNT, "agent", SINCE, UNTIL),
            rounds=sizes.query_rounds,
            iterations=1,
        )
        role = "library"
        if from_rollups:
            compare.append(
                {"baseline": _bench("raw", size), "min": 25}
                if large
                else {"baseline": _bench("raw", size)}
            )
            if large:
                compare.append({"baseline": _bench("rollups", small), "measure": "time", "max": 2})
            if adapter != "memory":
                compare.append({"baseline": _bench("rollup SQL", size)})
        else:
            if large:
                compare.append({"baseline": _bench("raw", small), "measure": "time"})
            if adapter != "memory":
                compare.append({"baseline": _bench("raw SQL", size)})
    describe(
        benchmark,
        bench=_bench(variant, size),
        adapter=adapter,
        events=dataset.events,
        mode=sizes.mode,
        role=role,
        compare=compare,
        throughput=False,
        expect=(
            ("≈4 ms" if variant == "rollups" else "≈110 ms" if variant == "raw" else None)
            if adapter == "postgres" and large
            else None
        ),
    )
