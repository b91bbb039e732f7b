"""Fleet backfill (issue 11): `rollups backfill --all --jobs 2` against the same accounts one by
one (`--jobs 1`), in the same run on the same PostgreSQL database; SQLite one by one as an extra
row (it runs accounts one at a time whatever `jobs` says).

- **Data** (not timed): `ACCOUNTS` accounts (full 200, quick 10) of `EVENTS_PER_ACCOUNT` events
  each (full 5,000, so 1M; quick 500) over the workload's `year` shape (365 local days: 12 chunks
  of 31 days per account). Account n has the workload's zone of account (n - 1) % 10 + 1 and its
  events, relabelled; the accounts' events are shuffled together and numbered in that order, so
  that the raw table interleaves accounts as a host's does. The zones are set first
  (`set_timezone(..., rebuild=False)`), then the events are `record()`ed in 10k-event batches
  (the rollups then exist; every backfill replaces them). One database per adapter, shared by
  the PostgreSQL measurements; VACUUM ANALYZE (SQLite: ANALYZE) before every round.
- **Timed**: one `Rollups.backfill_all(since, until, jobs=N)` (the API of `rollups backfill
  --all --jobs N`) over the shape's days, so both do the same work. A finished job is never
  resumed: every round starts a new job, and must backfill every account (none skipped).
- **Checked** after each measurement: no account failed, every raw event was aggregated, the
  job is finished, and `verify_all()` over the same days finds no mismatch.

No target: the issue asks what a 2-core machine allows. extra_info has the ratio of jobs 2 over
jobs 1 (`speedup_vs_jobs_1`) and the report shows it as the comparison.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, Final

import psycopg
import pytest

import workload
from conftest import Dataset, DatasetCache, Sizes, describe, open_library, sqlite_path

#: Accounts of the fleet and raw events per account, per mode.
ACCOUNTS: Final = {"quick": 10, "full": 200}
EVENTS_PER_ACCOUNT: Final = {"quick": 500, "full": 5_000}
SHAPE: Final = "year"
#: Events per record() call while loading.
BATCH: Final = 10_000
#: Rounds per measurement, per mode.
ROUNDS: Final = {"quick": 1, "full": 2}

#: Median seconds of the jobs=1 measurement, per adapter (for the jobs=2 speedup).
_BASELINE_MEDIANS: dict[str, float] = {}


def _zone(account_id: int) -> str:
    """The fleet account's zone: the workload's, cycling over its ten zones."""
    return workload.zone_of(_base(account_id))


def _base(account_id: int) -> int:
    return (account_id - 1) % len(workload.ACCOUNTS) + 1


def fleet_rows(accounts: int, per_account: int) -> list[workload.Row]:
    """Every account's events (the workload's rows of its base account, relabelled), shuffled
    together (seeded) and numbered 1, 2, ... in that order."""
    found: list[workload.Row] = []
    for account in range(1, accounts + 1):
        base = _base(account)
        for row in workload.rows(per_account, SHAPE, first_id=account, accounts=(base,)):
            _id, name, _account, created_at, value, business, user_id, inbox_id, conv = row
            assert conv is not None  # the workload gives every event a conversation
            conversation = account * 10_000_000 + conv % 10_000_000
            found.append(
                (0, name, account, created_at, value, business, user_id, inbox_id, conversation)
            )
    random.Random(f"{workload.DEFAULT_SEED}/fleet").shuffle(found)
    return [(n, *row[1:]) for n, row in enumerate(found, start=1)]


def _chunks(rows: Sequence[workload.Row], size: int) -> Iterator[Sequence[workload.Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _analyze(adapter: str, url: str) -> None:
    """Fresh planner statistics and no dead rows left by the previous round."""
    if adapter == "postgres":
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute("VACUUM ANALYZE")
        return
    lite = sqlite3.connect(sqlite_path(url))
    try:
        lite.execute("ANALYZE")
    finally:
        lite.close()


def _dataset(datasets: DatasetCache, adapter: str, sizes: Sizes, request: Any) -> Dataset:
    accounts, per_account = ACCOUNTS[sizes.mode], EVENTS_PER_ACCOUNT[sizes.mode]

    def build(adapter: str, url: str) -> Dataset:
        rollups = open_library(url)
        for account in range(1, accounts + 1):
            rollups.set_timezone(account, _zone(account), rebuild=False)
        stored = 0
        for chunk in _chunks(fleet_rows(accounts, per_account), BATCH):
            stored += rollups.record([workload.to_event(row) for row in chunk]).stored
        assert stored == accounts * per_account
        _analyze(adapter, url)
        return Dataset(adapter, url, rollups, stored, {"accounts": accounts})

    return datasets.get(("fleet", adapter, accounts, per_account), adapter, request, build)


def _name(jobs: int, accounts: int) -> str:
    return f"backfill --all --jobs {jobs}, {accounts} accounts"


@pytest.mark.parametrize(("adapter", "jobs"), [("postgres", 1), ("postgres", 2), ("sqlite", 1)])
def test_backfill_all(
    benchmark: Any,
    adapter: str,
    jobs: int,
    sizes: Sizes,
    datasets: DatasetCache,
    request: pytest.FixtureRequest,
) -> None:
    """`backfill_all(jobs=...)` of every account over the shape's days; jobs=1 is the
    baseline of jobs=2 (same database, measured first)."""
    dataset = _dataset(datasets, adapter, sizes, request)
    rollups, accounts = dataset.rollups, dataset.info["accounts"]
    since, until = workload.day_range(SHAPE)
    results: list[Any] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        _analyze(adapter, dataset.url)
        return (), {}

    benchmark.pedantic(
        lambda: results.append(rollups.backfill_all(since, until, jobs=jobs)),
        setup=setup,
        rounds=ROUNDS[sizes.mode],
        iterations=1,
        warmup_rounds=0,
    )
    job_ids = [result.job.id for result in results]
    assert len(set(job_ids)) == len(job_ids), "a finished job was resumed"
    for result in results:
        assert result.failed == []
        assert result.skipped == 0
        assert result.job.finished
        assert len(result.outcomes) == accounts
        assert result.events == dataset.events, "the backfill did not see every raw event"
    found = rollups.verify_all(since, until, jobs=jobs)
    assert found.failed == []
    assert found.mismatched == []
    assert found.skipped == 0
    median = benchmark.stats.stats.median
    more: dict[str, Any] = {}
    compare: list[dict[str, Any]] = []
    if jobs == 1:
        _BASELINE_MEDIANS[adapter] = median
    else:
        # Information only: the issue states no target for the speedup.
        compare = [{"baseline": _name(1, accounts)}]
        if adapter in _BASELINE_MEDIANS:
            more["speedup_vs_jobs_1"] = _BASELINE_MEDIANS[adapter] / median
    describe(
        benchmark,
        bench=_name(jobs, accounts),
        adapter=adapter,
        events=dataset.events,
        mode=sizes.mode,
        role="baseline" if jobs == 1 and adapter == "postgres" else "library",
        compare=compare,
        accounts=accounts,
        events_per_account=EVENTS_PER_ACCOUNT[sizes.mode],
        jobs=jobs,
        days=results[-1].days,
        events_per_s=dataset.events / median,
        **more,
    )
