"""The pure-Python cost of turning events into merged contributions (no storage)."""

from __future__ import annotations

from typing import Any

import pytest

import workload
from baselines import merge
from conftest import Sizes, describe
from reporting_rollups.domain.projection import project

SHAPES = ("live", "spread")


@pytest.mark.parametrize("shape", SHAPES)
def test_merge(benchmark: Any, shape: str, sizes: Sizes) -> None:
    """Baseline: a hand-written dict merge of the same events (handoffs not distinct)."""
    events, zones = workload.events(sizes.projection, shape), workload.zones()
    benchmark.pedantic(merge, args=(events, zones), rounds=sizes.rounds, iterations=1)
    describe(
        benchmark,
        bench=f"merge dict {shape}",
        adapter="memory",
        events=sizes.projection,
        mode=sizes.mode,
        role="baseline",
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_project(benchmark: Any, shape: str, sizes: Sizes) -> None:
    """`domain.projection.project(events, zones)`: keys, contributions, distinct members."""
    events, zones = workload.events(sizes.projection, shape), workload.zones()
    benchmark.pedantic(project, args=(events, zones), rounds=sizes.rounds, iterations=1)
    describe(
        benchmark,
        bench=f"project {shape}",
        adapter="memory",
        events=sizes.projection,
        mode=sizes.mode,
        compare=[{"baseline": f"merge dict {shape}"}],
        expect="≈0.7–1M ev/s",
    )
