"""What change capture costs the host's own writes (issue 10): inserting rows into a
`reporting_events` with the reference schema's indexes (as a host has it), with the capture
triggers installed vs without, in the same run: 10k-row batches (one statement per batch, as
Rails' `insert_all` writes them; SQLite: one `executemany` in one transaction) and single rows
(one statement and one commit each). Targets: <= 1.3x for batches, <= 1.5x for single rows.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import psycopg
import pytest

import workload
from conftest import Databases, Sizes, describe, sqlite_path
from reporting_rollups.adapters import open_rollups

COLUMNS = (
    "id, name, account_id, created_at, value, value_in_business_hours, user_id, inbox_id, "
    "conversation_id, updated_at"
)
_PG_BATCH = (
    f"INSERT INTO reporting_events ({COLUMNS}) SELECT *, now() FROM unnest("
    "%s::bigint[], %s::text[], %s::int[], %s::timestamp[], %s::float8[], %s::float8[], "
    "%s::int[], %s::int[], %s::int[])"
)
_PG_ROW = (
    f"INSERT INTO reporting_events ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now())"
)
_SQLITE_ROW = f"INSERT INTO reporting_events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

_ids = itertools.count(1)


def _rows(count: int) -> list[workload.Row]:
    first = next(_ids)
    for _ in range(count - 1):
        next(_ids)
    return list(workload.rows(count, "live", first_id=first))


def _writer_for(
    adapter: str, url: str
) -> tuple[
    Callable[[Sequence[workload.Row]], None],
    Callable[[Sequence[workload.Row]], None],
    Callable[[], None],
]:
    """(insert one batch as one statement, insert rows one statement and commit each, close)."""
    if adapter == "postgres":
        connection = psycopg.connect(url)

        def batch(rows: Sequence[workload.Row]) -> None:
            connection.execute(_PG_BATCH, [list(column) for column in zip(*rows, strict=True)])
            connection.commit()

        def single(rows: Sequence[workload.Row]) -> None:
            for row in rows:
                connection.execute(_PG_ROW, row)
                connection.commit()

        return batch, single, connection.close
    lite = sqlite3.connect(sqlite_path(url), isolation_level=None)
    lite.execute("PRAGMA journal_mode = WAL")
    lite.execute("PRAGMA synchronous = NORMAL")
    if adapter == "sqlite-temp-memory":
        # A row trigger makes every INSERT keep a statement journal: in memory with this pragma,
        # in a temporary file by default.
        lite.execute("PRAGMA temp_store = MEMORY")

    def stamp(row: workload.Row) -> tuple[Any, ...]:
        created: datetime = row[3]
        text = created.isoformat(" ", "microseconds")
        return (*row[:3], text, *row[4:], text)

    def sqlite_batch(rows: Sequence[workload.Row]) -> None:
        lite.execute("BEGIN IMMEDIATE")
        lite.executemany(_SQLITE_ROW, [stamp(row) for row in rows])
        lite.execute("COMMIT")

    def sqlite_single(rows: Sequence[workload.Row]) -> None:
        for row in rows:
            lite.execute("BEGIN IMMEDIATE")
            lite.execute(_SQLITE_ROW, stamp(row))
            lite.execute("COMMIT")

    return sqlite_batch, sqlite_single, lite.close


def _database(
    adapter: str, databases: Databases, request: pytest.FixtureRequest, captured: bool
) -> str:
    url = databases.url(adapter, request)
    with open_rollups(url, reference_indexes=True) as rollups:
        if captured:
            rollups.capture.install()
    return url


def _rounds(
    benchmark: Any,
    batches: Iterator[list[workload.Row]],
    rounds: int,
    target: Callable[[Sequence[workload.Row]], None],
) -> None:
    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (next(batches),), {}

    benchmark.pedantic(target, setup=setup, rounds=rounds, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("kind", ["batch", "single"])
@pytest.mark.parametrize("captured", [False, True], ids=["plain", "captured"])
@pytest.mark.parametrize("adapter", ["sqlite", "sqlite-temp-memory", "postgres"])
def test_host_insert(
    benchmark: Any,
    adapter: str,
    captured: bool,
    kind: str,
    sizes: Sizes,
    databases: Databases,
    request: pytest.FixtureRequest,
) -> None:
    """The host's inserts, with and without the capture triggers."""
    backend = "postgres" if adapter == "postgres" else "sqlite"
    url = _database(backend, databases, request, captured)
    size = sizes.batches[1] if kind == "batch" else sizes.single
    batch, single, close = _writer_for(adapter, url)
    try:
        batches = (_rows(size) for _ in itertools.count())
        _rounds(benchmark, batches, sizes.rounds, batch if kind == "batch" else single)
    finally:
        close()
    host = " (host temp_store=MEMORY)" if adapter == "sqlite-temp-memory" else ""
    plain = f"host {kind} insert, no capture{host}"
    describe(
        benchmark,
        bench=f"host {kind} insert, captured{host}" if captured else plain,
        adapter=backend,
        events=size,
        mode=sizes.mode,
        role="library" if captured else "baseline",
        compare=[{"baseline": plain, "measure": "time", "max": 1.3 if kind == "batch" else 1.5}]
        if captured
        else [],
    )
