"""Stochastic stress on PostgreSQL: separate processes record one event per call (redelivering
the next id), redeliver batches backwards, retract the same ids, rebuild one account and
backfill the other, and flip the rebuilt account's zone away and back without rebuilding, all
at once. Afterwards every account whose rollups are marked current equals a plain aggregation
of its raw rows, and so does every account after a final rebuild; no deadlock happened.

The forced interleavings of `test_postgres_races.py` pin each race down; this run looks for the
ones nobody thought of.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from reporting_rollups.adapters import open_rollups
from tests.integration import workers
from tests.integration.test_postgres_concurrency import JOIN_TIMEOUT, deadlocks
from tests.integration.test_postgres_concurrency import receive as receive_reports

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROLES = ("recorder", "redeliverer", "retracter", "rebuilder", "flipper")


def test_postgres_racing_record_retract_redelivery_rebuild_and_zone_flips_stay_exact(
    database_url: str,
) -> None:
    run_stress(database_url)


def run_stress(database_url: str) -> None:
    """The stress run on the database at `database_url` (migrated here), then its checks."""
    scenario = workers.StressScenario()
    with open_rollups(database_url, clock=workers.fixed_clock) as rollups:
        for account_id, zone in (scenario.steady, scenario.flipped):
            rollups.set_timezone(account_id, zone)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(ROLES))
    cursor = context.Value("q", 0)
    finished = context.Event()
    results = context.Queue()
    processes = [
        context.Process(
            target=workers.run_stress_role,
            args=(database_url, scenario, role, barrier, cursor, finished, results),
        )
        for role in ROLES
    ]
    received: dict[str, tuple[str, Any]] = {}
    try:
        for process in processes:
            process.start()
        receive_reports(results, received, *ROLES)
        for process in processes:
            process.join(JOIN_TIMEOUT)
    finally:
        finished.set()
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    errors = [f"{who}:\n{payload}" for who, (status, payload) in received.items() if status != "ok"]
    assert not errors, "child processes failed:\n" + "\n".join(errors)
    # The run did race: retractions removed events that were recorded again afterwards.
    assert received["retracter"][1]["retracted"] > 0
    assert received["recorder"][1]["stored"] > 0
    assert received["flipper"][1]["flips"] > 0
    assert deadlocks(database_url) == 0

    with open_rollups(database_url, migrate=False, clock=workers.fixed_clock) as rollups:
        for account_id, zone in (scenario.steady, scenario.flipped):
            settings = rollups.account(account_id)
            assert settings.timezone == zone
            raw = workers.read_raw(database_url, account_id)
            expected = workers.reference_rows(raw, zone)
            if settings.rollup_timezone == zone:  # marked current: must be exact as it stands
                stored = workers.as_reference(rollups.rows(account_id))
                assert workers.differences(stored, expected) == [], account_id
            rollups.rebuild(account_id)
            stored = workers.as_reference(rollups.rows(account_id))
            assert workers.differences(stored, expected) == []
            assert rollups.verify(account_id).mismatches == []
        # The steady account was never rebuilt in the run but backfilled: its rows were exact.
        # Every id a retracter did not take back last is stored, and a legitimate record of a
        # retracted id folds it again.
        events = scenario.events()
        workers.retract_by_account(rollups, events, list(events))
        assert rollups.rows(scenario.steady[0]) == []
        assert rollups.record(list(events.values())).rolled_up == len(
            [e for e in events.values() if e.name in workers.SUPPORTED_NAMES]
        )
        for account_id, zone in (scenario.steady, scenario.flipped):
            raw = workers.read_raw(database_url, account_id)
            stored = workers.as_reference(rollups.rows(account_id))
            assert workers.differences(stored, workers.reference_rows(raw, zone)) == []
