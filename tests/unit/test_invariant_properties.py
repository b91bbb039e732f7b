"""The invariant on the in-memory adapter: rollups always equal the reference aggregation of the
stored raw events, whatever the batching, redelivery, late events, retractions, backfills and
time zone changes (design.md section 2)."""

from __future__ import annotations

from hypothesis import given, settings

from reporting_rollups.adapters import open_rollups
from tests.conftest import fixed_clock
from tests.scenarios import Scenario, run_scenario, scenarios


@settings(settings.get_profile("invariant-memory"))
@given(scenarios())
def test_rollups_equal_the_reference_aggregation(scenario: Scenario) -> None:
    with open_rollups("memory://", clock=fixed_clock) as rollups:
        run_scenario(rollups, scenario)


@settings(settings.get_profile("invariant-memory"), max_examples=100)
@given(scenarios(max_operations=30))
def test_long_scenarios(scenario: Scenario) -> None:
    with open_rollups("memory://", clock=fixed_clock, chunk_days=3) as rollups:
        run_scenario(rollups, scenario)
