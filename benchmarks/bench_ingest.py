"""Memory: `rollups --db sqlite:///x ingest FILE` streams, so its peak RSS stays flat.

The CLI runs in a subprocess on a JSON Lines file of 100k and then 1M events (full run). Its peak
resident set size is the ``VmHWM`` of its own address space, read from ``/proc/self/status`` by
an exit hook: ``ru_maxrss`` of the child (``wait4``, ``RUSAGE_CHILDREN``) would report the pytest
process's size, which a forked child inherits until it execs. The accounts' zones are set before
the run, so every event is rolled up as well as stored.
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

#: Largest peak RSS of the large file over the small one's that still counts as flat.
MAX_RSS_RATIO = 1.3


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


@pytest.mark.parametrize("large", [False, True], ids=["small", "large"])
def test_ingest_rss(
    benchmark: Any,
    large: bool,
    sizes: Sizes,
    databases: Databases,
    event_files: dict[int, Path],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> None:
    """Peak RSS and throughput of ``rollups ingest`` on a file of 100k vs 1M events."""
    if importlib.util.find_spec("reporting_rollups.adapters.cli") is None:
        pytest.skip("reporting_rollups.adapters.cli is not available yet")
    if not Path("/proc/self/status").exists():
        pytest.skip("peak RSS is read from /proc (Linux only)")
    require_adapter("sqlite")
    count = sizes.ingest[large]
    directory = tmp_path_factory.getbasetemp() / "ingest"
    directory.mkdir(exist_ok=True)
    path = _event_file(event_files, directory, count)
    url = databases.url("sqlite", request)
    rollups = open_library(url)
    try:
        configure(rollups)
    finally:
        rollups.close()
    command = ["--db", url, "ingest", str(path)]
    peaks: list[int] = []
    benchmark.pedantic(
        lambda: peaks.append(_run(command, directory / "peak_kb", directory / "ingest.log")),
        rounds=1,
        iterations=1,
    )
    small = sizes.ingest[False]
    describe(
        benchmark,
        bench=f"ingest {count:,} (subprocess)",
        adapter="sqlite",
        events=count,
        mode=sizes.mode,
        role="library" if large else "baseline",
        compare=(
            [{"baseline": f"ingest {small:,} (subprocess)", "measure": "rss", "max": MAX_RSS_RATIO}]
            if large
            else []
        ),
        peak_rss=peaks[-1],
    )
