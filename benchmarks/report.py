"""Print the benchmark table from a pytest-benchmark JSON file.

    python benchmarks/report.py .benchmarks/full.json [--markdown]

One row per measurement and baseline it is compared with: benchmark, adapter, events per round,
median time, events/s, the baseline, the ratio, the target and whether it is met. Throughput
ratios are events/s over the baseline's events/s (higher is better); time ratios are median
time over the baseline's (lower is better). Medians are used throughout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import attrs

ADAPTER_ORDER = {"memory": 0, "sqlite": 1, "postgres": 2}
#: Suites (bench_<name>.py) in the order the table shows them.
SUITE_ORDER = {
    "record": 0,
    "projection": 1,
    "backfill": 2,
    "verify": 3,
    "reports": 4,
    "ingest": 5,
    "memory": 5,
    "capture": 6,
    "sync": 7,
    "fleet": 8,
    "citus": 9,
}
HEADERS = (
    "benchmark",
    "adapter",
    "events",
    "median",
    "events/s",
    "vs",
    "ratio",
    "target",
    "met",
)


@attrs.frozen
class Result:
    """One measured benchmark."""

    bench: str
    suite: str  #: the bench_<suite>.py file it comes from
    order: int  #: position in the run
    adapter: str
    events: int
    median: float  #: seconds per round
    role: str
    compare: list[dict[str, Any]]
    min_events_per_s: float | None
    expect: str | None
    extra: dict[str, Any]

    @property
    def rate(self) -> float:
        """Events per second (median round)."""
        return self.events / self.median if self.median > 0 else float("inf")


def load(path: Path) -> tuple[list[Result], dict[str, Any]]:
    """The results of a pytest-benchmark JSON file, and its metadata."""
    data = json.loads(path.read_text())
    results = []
    for order, entry in enumerate(data.get("benchmarks", [])):
        info = entry.get("extra_info") or {}
        if "bench" not in info:
            continue
        module = str(entry.get("fullname", "")).split("::")[0].rsplit("/", 1)[-1]
        results.append(
            Result(
                bench=info["bench"],
                suite=module.removeprefix("bench_").removesuffix(".py"),
                order=order,
                adapter=info["adapter"],
                events=int(info["events"]),
                median=float(entry["stats"]["median"]),
                role=info.get("role", "library"),
                compare=list(info.get("compare") or []),
                min_events_per_s=info.get("min_events_per_s"),
                expect=info.get("expect"),
                extra=info,
            )
        )
        for paired in info.get("paired") or []:  # measured alternately with it, same rounds
            results.append(
                Result(
                    bench=paired["bench"],
                    suite=results[-1].suite,
                    order=order,
                    adapter=info["adapter"],
                    events=int(paired["events"]),
                    median=float(paired["median"]),
                    role="baseline",
                    compare=[],
                    min_events_per_s=None,
                    expect=None,
                    extra={},
                )
            )
    meta = {
        "mode": sorted({r.extra.get("mode", "?") for r in results}),
        "datetime": data.get("datetime"),
        "machine": data.get("machine_info", {}).get("cpu", {}).get("brand_raw"),
        "cores": data.get("machine_info", {}).get("cpu", {}).get("count"),
    }
    return results, meta


def _time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _rate(rate: float) -> str:
    if rate >= 1e6:
        return f"{rate / 1e6:.2f}M"
    if rate >= 1e3:
        return f"{rate / 1e3:.1f}k"
    return f"{rate:.0f}"


def _ratio(ratio: float) -> str:
    if ratio >= 10:
        return f"{ratio:.1f}×"
    if ratio >= 0.1:
        return f"{ratio:.2f}×"
    return f"{ratio:.2g}×"


def _met(ok: bool | None) -> str:
    return "" if ok is None else ("yes" if ok else "NO")


def rows(results: list[Result]) -> list[tuple[str, ...]]:
    """Table rows: each result, then one row per further comparison."""
    index = {(r.adapter, r.bench): r for r in results}
    ordered = sorted(
        results,
        key=lambda r: (
            SUITE_ORDER.get(r.suite, 10),
            ADAPTER_ORDER.get(r.adapter, 9),
            r.role != "library",
            r.order,
        ),
    )
    table: list[tuple[str, ...]] = []
    for result in ordered:
        base = (
            result.bench,
            result.adapter,
            f"{result.events:,}",
            _time(result.median),
            _rate(result.rate) if result.extra.get("throughput", True) else "",
        )
        lines: list[tuple[str, str, str, str]] = []
        if result.min_events_per_s is not None:
            ok = result.rate >= result.min_events_per_s
            lines.append(("", "", f"≥ {_rate(result.min_events_per_s)} ev/s", _met(ok)))
        if result.expect:
            lines.append(("", "", f"{result.expect} (calibration)", ""))
        if "lag_p99_s" in result.extra:
            extra = result.extra
            target = extra.get("lag_target_p99_s")
            lag = f"lag p50 {extra['lag_p50_s']:.2f}s p99 {extra['lag_p99_s']:.2f}s"
            lag += f" max {extra['lag_max_s']:.2f}s"
            ok = None if target is None else extra["lag_p99_s"] < float(target)
            lines.append(("", lag, "" if target is None else f"p99 < {target}s", _met(ok)))
        if "beyond_input" in result.extra:
            lines.append(_beyond_input(result.extra))
        for comparison in result.compare:
            baseline = index.get((result.adapter, comparison["baseline"]))
            if baseline is None:
                lines.append((comparison["baseline"], "missing", _target(comparison), ""))
                continue
            if comparison.get("measure") == "time":
                ratio = result.median / baseline.median
                text = f"{_ratio(ratio)} time"
            elif comparison.get("measure") == "rss":
                mine, theirs = result.extra["peak_rss"], baseline.extra["peak_rss"]
                ratio = mine / theirs
                text = f"{_ratio(ratio)} RSS ({mine / 2**20:.0f}/{theirs / 2**20:.0f} MB)"
            else:
                ratio = result.rate / baseline.rate
                text = _ratio(ratio)
            lines.append(
                (baseline.bench, text, _target(comparison), _met(_check(ratio, comparison)))
            )
        if not lines:
            lines.append(("", "", "", ""))
        for n, line in enumerate(lines):
            table.append((base if n == 0 else ("",) * len(base)) + line)
    return table


def _beyond_input(extra: dict[str, Any]) -> tuple[str, str, str, str]:
    """The line of a memory measurement: peak beyond the input, against its limit."""
    beyond, limit = extra["beyond_input"], extra.get("max_beyond_input")
    text = (
        f"{beyond / 2**20:.0f} MB beyond the input ({extra['input_bytes'] / 2**20:.0f} MB), "
        f"record {extra['record_seconds']:.1f}s"
    )
    if limit is None:
        return ("", text, "", "")
    return ("", text, f"≤ {limit / 2**20:.0f} MB", _met(beyond <= limit))


def _target(comparison: dict[str, Any]) -> str:
    if "min" in comparison:
        return f"≥ {comparison['min']}×"
    if "max" in comparison:
        return f"≤ {comparison['max']}×"
    return ""


def _check(ratio: float, comparison: dict[str, Any]) -> bool | None:
    if "min" in comparison:
        return ratio >= float(comparison["min"])
    if "max" in comparison:
        return ratio <= float(comparison["max"])
    return None


def plain(table: list[tuple[str, ...]]) -> str:
    """The table as aligned plain text."""
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(HEADERS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in table:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def markdown(table: list[tuple[str, ...]]) -> str:
    """The table as GitHub markdown."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in table]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the table of a pytest-benchmark JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="file written by pytest --benchmark-json")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args(argv)
    results, meta = load(args.json)
    if not results:
        print(f"{args.json}: no benchmark results with extra_info", file=sys.stderr)
        return 1
    table = rows(results)
    print(
        f"mode: {', '.join(meta['mode'])}; {meta['datetime']}; {meta['machine']}, "
        f"{meta['cores']} cores"
    )
    if "quick" in meta["mode"]:
        print("quick mode: tiny sizes, one round; the figures only show the suite runs.")
    print(markdown(table) if args.markdown else plain(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
