"""Memory: one `record()` of a huge batch (1M events over 30 days, full run) holds, beyond the
events it is given, memory that grows with the rollup rows and members it touches, not with the
number of events (issue 13: at most 300 MB beyond the input).

Each measurement runs in a subprocess of its own, so that nothing an earlier benchmark allocated
is reused: the child builds the events, records a warm-up batch, reads its resident set size
(``VmRSS``), resets its peak (``/proc/self/clear_refs``), records the batch in one call and reads
the peak (``VmHWM``). "Beyond the input" is that peak minus the size before the call, the events
built. The memory adapter keeps every event it stores (it is the database), so its figure is
shown without a target.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import Databases, Sizes, describe, require_adapter
from reporting_rollups.application.live import STEP_EVENTS

#: Most memory beyond the input one `record()` of the huge batch may hold (SQL adapters).
MAX_BEYOND_INPUT = 300 * 2**20

_CHILD = """
import gc, json, sys, time
sys.path.insert(0, sys.argv[1])
import workload
from conftest import configure, open_library

def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field))

url, count, steps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rollups = open_library(url, step_events=steps)
configure(rollups)
rollups.record(workload.events(100, "spread"))
start = status("VmRSS:")
events = workload.events(count, "spread", first_id=10_000_000)
gc.collect()
before = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # the peak (VmHWM) starts again from the current size
began = time.perf_counter()
result = rollups.record(events)
seconds = time.perf_counter() - began
peak = status("VmHWM:")
rollups.close()
assert result.stored == count and result.rolled_up == count, result
print(json.dumps({"seconds": seconds, "input": before - start, "beyond": peak - before}))
"""


def _measure(url: str, count: int, steps: int) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, str(Path(__file__).parent), url, str(count), str(steps)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(f"the measuring process failed:\n{completed.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return figures


@pytest.mark.parametrize("in_steps", [False, True], ids=["one_step", "steps"])
@pytest.mark.parametrize("adapter", ["memory", "sqlite", "postgres"])
def test_record_huge_batch_memory(
    benchmark: Any,
    adapter: str,
    in_steps: bool,
    sizes: Sizes,
    databases: Databases,
    request: pytest.FixtureRequest,
) -> None:
    """Peak memory beyond the input of one `record()` of `sizes.huge` events, 30 days: in
    steps of `STEP_EVENTS` (the default), and as a baseline in one step (`step_events` larger
    than the batch: each store one statement of every event)."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("the peak RSS is reset and read through /proc (Linux only)")
    require_adapter(adapter)
    url = databases.url(adapter, request)
    steps = STEP_EVENTS if in_steps else sizes.huge
    runs: list[dict[str, float]] = []
    benchmark.pedantic(
        lambda: runs.append(_measure(url, sizes.huge, steps)), rounds=1, iterations=1
    )
    figures = runs[-1]
    describe(
        benchmark,
        bench=f"record {sizes.huge:,} in one call, spread, {'steps' if in_steps else 'one step'}",
        adapter=adapter,
        events=sizes.huge,
        mode=sizes.mode,
        role="library" if in_steps else "baseline",
        record_seconds=figures["seconds"],
        input_bytes=figures["input"],
        beyond_input=figures["beyond"],
        max_beyond_input=None if adapter == "memory" or not in_steps else MAX_BEYOND_INPUT,
        throughput=False,  # a round also starts a process and builds the events
    )
