"""Concurrency on PostgreSQL: live writers in several processes redeliver and retract events of
the same accounts and days while the host writes raw rows itself and another process backfills
those days and moves an account's zone away and back. Afterwards the rollups equal a plain
aggregation of the raw rows.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

import psycopg
import pytest

from reporting_rollups.adapters import open_rollups
from tests.integration import workers
from tests.integration.workers import Scenario

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

JOIN_TIMEOUT = 180


def receive(results: Any, reports: dict[str, tuple[str, Any]], *names: str) -> None:
    """Read child reports ((status, who, payload)) until every one of `names` has reported."""
    while not set(names) <= reports.keys():
        status, who, payload = results.get(timeout=JOIN_TIMEOUT)
        reports[who] = (status, payload)


def deadlocks(url: str) -> int:
    """Deadlocks PostgreSQL detected in this database since it was created (the sessions that
    could have seen one have ended, so their statistics are flushed)."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("through_host", [False, True], ids=["own", "host_connections"])
def test_postgres_concurrent_writers_backfill_and_zone_change_stay_exact(
    database_url: str, through_host: bool
) -> None:
    """4 writer processes record overlapping, redelivered batches (handoffs of shared
    conversations included) and retract ids, the host writes raw rows itself, and a maintainer
    backfills the same days and moves one account's zone away and back, all at once. Then the
    host's events are redelivered: rollups equal the raw aggregation, without deadlocks.
    `host_connections`: the writers call through `Rollups.using` in transactions of the host's
    own (SQLAlchemy and bare psycopg), each with a write of the host's."""
    scenario = Scenario()
    with open_rollups(database_url, clock=workers.fixed_clock) as rollups:
        for account_id, zone in scenario.accounts:
            rollups.set_timezone(account_id, zone)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(workers.HOST_CALLS_TABLE)

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(scenario.writers + 2)
    stop = context.Event()
    results = context.Queue()
    processes = [
        context.Process(
            target=workers.run_writer,
            args=(database_url, scenario, index, barrier, results, through_host),
        )
        for index in range(scenario.writers)
    ]
    processes.append(
        context.Process(target=workers.run_host, args=(database_url, scenario, barrier, results))
    )
    processes.append(
        context.Process(
            target=workers.run_maintainer, args=(database_url, scenario, barrier, stop, results)
        )
    )
    writers = [f"writer {index}" for index in range(scenario.writers)]
    received: dict[str, tuple[str, Any]] = {}
    try:
        for process in processes:
            process.start()
        receive(results, received, *writers, "host")
        stop.set()
        receive(results, received, "maintainer")
        for process in processes:
            process.join(JOIN_TIMEOUT)
    finally:
        stop.set()
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    errors = [f"{who}:\n{payload}" for who, (status, payload) in received.items() if status != "ok"]
    assert not errors, "child processes failed:\n" + "\n".join(errors)
    assert [process.exitcode for process in processes] == [0] * len(processes)

    # The run did what it claims: redeliveries, retractions, backfills and zone changes happened.
    writes = [received[who][1] for who in writers]
    assert sum(w["duplicates"] for w in writes) > 0
    assert sum(w["retracted"] for w in writes) > 0
    maintenance = received["maintainer"][1]
    assert maintenance["timezone_changes"] == 2
    assert maintenance["backfills"] >= 6
    assert deadlocks(database_url) == 0
    with psycopg.connect(database_url, autocommit=True) as connection:
        calls = connection.execute("SELECT count(*) FROM host_writer_calls").fetchone()
    # through the host: every call committed with the host's own write
    assert calls == (sum(w["calls"] for w in writes) if through_host else 0,)

    with open_rollups(database_url, migrate=False, clock=workers.fixed_clock) as rollups:
        # The host's rows reach the library late: each rolls up once, backfilled or not.
        host = workers.host_events(scenario)
        assert rollups.record(host).stored == 0
        stored_ids: set[int] = set()
        for account_id, zone in scenario.accounts:
            assert rollups.account(account_id).timezone == zone
            assert rollups.verify(account_id).mismatches == []
            raw = workers.read_raw(database_url, account_id)
            stored_ids |= {row.id for row in raw}
            stored = workers.as_reference(rollups.rows(account_id))
            assert workers.differences(stored, workers.reference_rows(raw, zone)) == []
    # Nothing was lost: every id is stored unless a writer retracted it.
    missing = set(workers.scenario_events(scenario)) - stored_ids
    assert all(event_id % 13 == 0 for event_id in missing)
    assert {event.id for event in host} <= stored_ids
