"""The invariant on every backend (design.md section 2): after every step of a random scenario,
`rows()` equals the reference aggregation of the stored raw events and `verify()` is empty.

One database per test; it is emptied between hypothesis examples.
"""

from __future__ import annotations

from collections.abc import Callable

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
