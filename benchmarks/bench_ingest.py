"""`rollups --db URL ingest FILE` on SQLite and PostgreSQL: it streams, so its peak RSS stays
flat, and it runs at the speed of `record()` (issue 13: at least 0.8 of its throughput).

The CLI runs in a subprocess on a JSON Lines file of 100k and then 1M events (full run), with its
default batch size and both passes (validate everything, then record). Its peak resident set size
is the ``VmHWM`` of its own address space, read from ``/proc/self/status`` by an exit hook:
``ru_maxrss`` of the child (``wait4``, ``RUSAGE_CHILDREN``) would report the pytest process's
size, which a forked child inherits until it execs. The baseline is `record()` of the large file's
events (parsed beforehand, not timed) in batches of the same size, in this process, into a fresh
database. The accounts' zones are set before each run, so every event is rolled up as well as
stored.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import workload
from conftest import Databases, Sizes, configure, describe, open_library, require_adapter
from reporting_rollups.adapters.cli.ingest import DEFAULT_BATCH_SIZE
from reporting_rollups.adapters.event_files import EventFormat, parse_events
from reporting_rollups.domain.events import Event

#: Largest peak RSS of the large file over the small one's that still counts as flat.
MAX_RSS_RATIO = 1.3
#: Least throughput of the large ingest over `record()` of the same events (issue 13).
MIN_RECORD_RATIO = 0.8
ADAPTERS = ("sqlite", "postgres")


#: Runs the CLI's entry point; at exit, writes the process's peak RSS (kB) to the file named by
#: argv[1] (removed from argv before the CLI parses it).
_WRAPPER = """
import atexit, sys
target = sys.argv.pop(1)
def peak():
    with open("/proc/self/status") as status:
        kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(target, "w") as out:
        out.write(kb)
atexit.register(peak)
from reporting_rollups.adapters.cli import main
main()
"""


@pytest.fixture(scope="module")
def event_files() -> dict[int, Path]:
    """JSON Lines files by event count, written once per module."""
    return {}


def _event_file(files: dict[int, Path], directory: Path, count: int) -> Path:
    path = files.get(count)
    if path is None:
        path = directory / f"events_{count}.jsonl"
        with path.open("w") as stream:
            for row in workload.rows(count, "spread"):
                stream.write(workload.jsonl_line(row))
                stream.write("\n")
        files[count] = path
    return path


def _run(command: list[str], peak_file: Path, log: Path) -> int:
    """Run the CLI to completion; return its peak RSS in bytes."""
    with log.open("wb") as output:
        completed = subprocess.run(
            [sys.executable, "-c", _WRAPPER, str(peak_file), *command],
            stdout=subprocess.DEVNULL,
            stderr=output,
            check=False,
        )
    if completed.returncode != 0:
        raise AssertionError(
            f"rollups {' '.join(command)} exited with {completed.returncode}:\n"
            f"{log.read_text()[-2000:]}"
        )
    return int(peak_file.read_text()) * 1024


def _record_bench(count: int) -> str:
    return f"record {count:,} in batches of {DEFAULT_BATCH_SIZE:,}"


def _ingest_bench(count: int) -> str:
    return f"ingest {count:,} (subprocess)"


def _configured(databases: Databases, adapter: str, request: pytest.FixtureRequest) -> str:
    """A fresh database of `adapter` whose accounts have their zones."""
    url = databases.url(adapter, request)
    rollups = open_library(url)
    try:
        configure(rollups)
    finally:
        rollups.close()
    return url


def _directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.getbasetemp() / "ingest"
    directory.mkdir(exist_ok=True)
    return directory


#: Per adapter, in this order: the small ingest, the baseline, the large ingest (the baseline next
#: to what it is compared with, on a machine whose load may change).
RUNS = [(adapter, run) for adapter in ADAPTERS for run in ("small", "record", "large")]


@pytest.mark.parametrize(("adapter", "run"), RUNS, ids=[f"{a}-{r}" for a, r in RUNS])
def test_ingest(
    benchmark: Any,
    adapter: str,
    run: str,
    sizes: Sizes,
    databases: Databases,
    event_files: dict[int, Path],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> None:
    """Peak RSS and throughput of ``rollups ingest`` on a file of 100k vs 1M events, and the
    baseline: `record()` of the large file's events."""
    if run == "record":
        _record_baseline(
            benchmark, adapter, sizes, databases, event_files, tmp_path_factory, request
        )
        return
    large = run == "large"
    if importlib.util.find_spec("reporting_rollups.adapters.cli") is None:
        pytest.skip("reporting_rollups.adapters.cli is not available yet")
    if not Path("/proc/self/status").exists():
        pytest.skip("peak RSS is read from /proc (Linux only)")
    require_adapter(adapter)
    count = sizes.ingest[large]
    directory = _directory(tmp_path_factory)
    path = _event_file(event_files, directory, count)
    url = _configured(databases, adapter, request)
    command = ["--db", url, "ingest", str(path)]
    peaks: list[int] = []
    benchmark.pedantic(
        lambda: peaks.append(_run(command, directory / "peak_kb", directory / "ingest.log")),
        rounds=1,
        iterations=1,
    )
    small = sizes.ingest[False]
    compare = [
        {"baseline": _ingest_bench(small), "measure": "rss", "max": MAX_RSS_RATIO},
        {"baseline": _record_bench(count), "min": MIN_RECORD_RATIO},
    ]
    describe(
        benchmark,
        bench=_ingest_bench(count),
        adapter=adapter,
        events=count,
        mode=sizes.mode,
        role="library" if large else "baseline",
        compare=compare if large else [],
        peak_rss=peaks[-1],
    )


def _events_of(path: Path) -> list[Event]:
    """The events of a file as `ingest` parses them."""
    with path.open("rb") as stream:
        events = [parsed.event for parsed in parse_events(stream, EventFormat.JSONL, str(path))]
    good = [event for event in events if event is not None]
    assert len(good) == len(events), "the workload's file has bad lines"
    return good


def _record_baseline(
    benchmark: Any,
    adapter: str,
    sizes: Sizes,
    databases: Databases,
    event_files: dict[int, Path],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> None:
    """The baseline: `record()` of the large file's events, in batches of ingest's size."""
    require_adapter(adapter)
    count = sizes.ingest[True]
    events = _events_of(_event_file(event_files, _directory(tmp_path_factory), count))
    rollups = open_library(_configured(databases, adapter, request))

    def record_all() -> None:
        for start in range(0, len(events), DEFAULT_BATCH_SIZE):
            rollups.record(events[start : start + DEFAULT_BATCH_SIZE])

    try:
        benchmark.pedantic(record_all, rounds=1, iterations=1)
    finally:
        rollups.close()
    describe(
        benchmark,
        bench=_record_bench(count),
        adapter=adapter,
        events=count,
        mode=sizes.mode,
        role="baseline",
    )
