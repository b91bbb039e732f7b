"""Conventions of an embedded library (issue 14, part 4): metrics through the OpenTelemetry API
only (the SDK is the host's: here the tests' in-memory reader), logging under
``reporting_rollups`` with a NullHandler, never configured by the library."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from reporting_rollups.adapters import open_rollups
from reporting_rollups.application.service import Rollups
from tests.builders import event
from tests.conftest import fixed_clock


@pytest.fixture(params=["memory", "sqlite"])
def measured(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Rollups, InMemoryMetricReader, str]]:
    reader = InMemoryMetricReader()
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'm.db'}"
    provider = MeterProvider(metric_readers=[reader])
    with open_rollups(url, clock=fixed_clock, meter_provider=provider) as rollups:
        yield rollups, reader, request.param
    provider.shutdown()


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: list(metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        if scope.scope.name == "reporting_rollups"
        for metric in scope.metrics
    }


def test_record_and_retract_are_counted_and_timed(
    measured: tuple[Rollups, InMemoryMetricReader, str],
) -> None:
    rollups, reader, backend = measured
    rollups.set_timezone(1, "UTC")
    rollups.record([event(1), event(2, "reply_time", value=5), event(3, account_id=3)])
    rollups.record([event(1), event(4)])
    rollups.retract([2, 3, 99])
    points = _points(reader)
    totals = {
        name: sum(p.value for p in found)
        for name, found in points.items()
        if name[-8:] != "duration"
    }
    assert totals == {
        "reporting_rollups.events.recorded": 5,
        "reporting_rollups.events.stored": 4,
        "reporting_rollups.events.rolled_up": 3,
        "reporting_rollups.events.retracted": 2,
        "reporting_rollups.events.rolled_back": 1,
    }
    (duration,) = points["reporting_rollups.record.duration"]
    assert duration.count == 2
    assert duration.sum > 0
    system = "memory" if backend == "memory" else "sqlite"
    assert {dict(p.attributes)["db.system"] for found in points.values() for p in found} == {system}


def test_without_an_sdk_the_library_loads_none_and_configures_no_logging() -> None:
    script = (
        "import logging, sys\n"
        "import reporting_rollups\n"
        "from reporting_rollups import open_rollups\n"
        "with open_rollups('memory://') as r:\n"
        "    r.set_timezone(1, 'UTC')\n"
        "    r.record([])\n"
        "assert not any(m.startswith('opentelemetry.sdk') for m in sys.modules), 'sdk loaded'\n"
        "assert logging.getLogger().handlers == [], logging.getLogger().handlers\n"
        "handlers = logging.getLogger('reporting_rollups').handlers\n"
        "assert [type(h).__name__ for h in handlers] == ['NullHandler'], handlers\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
