"""The invariant on every backend (design.md section 2): after every step of a random scenario,
`rows()` equals the reference aggregation of the stored raw events and `verify()` is empty.

One database per test; it is emptied between hypothesis examples.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from hypothesis import given, settings

from reporting_rollups.application.service import Rollups
from tests.scenarios import Scenario, run_scenario, scenarios


@settings(settings.get_profile("invariant-sql"))
@given(scenario=scenarios())
def test_rollups_equal_the_reference_aggregation(
    backend: Rollups, reset_backend: Callable[[], None], scenario: Scenario
) -> None:
    reset_backend()
    run_scenario(backend, scenario)


@settings(settings.get_profile("invariant-sql"))
@given(scenario=scenarios())
def test_batches_recorded_in_steps_keep_it(
    backend: Rollups, reset_backend: Callable[[], None], scenario: Scenario
) -> None:
    """The same with every batch of two events or more recorded in steps of one
    (`LiveRollup.step_events`: the path of a batch larger than `STEP_EVENTS`)."""
    reset_backend()
    run_scenario(attrs.evolve(backend, live=attrs.evolve(backend.live, step_events=1)), scenario)
