"""Ctrl-C and SIGTERM during `ingest`, `backfill` and `rebuild`, in real processes, on SQLite and
PostgreSQL: exit 130, a message saying what was committed (whole batches or chunks only) and the
command that continues, and that command finishing with the rows of a plain aggregation of the
same events. Also the `backfill --dry-run` count of the rows a run would replace.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli import EXIT_INTERRUPTED, EXIT_OK, app
from reporting_rollups.adapters.cli.interrupts import Stop, stopping
from reporting_rollups.adapters.sql.backends import engine_for_url
from reporting_rollups.application.backfill import Backfill
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.events import Event
from tests.builders import event, row_map, utc
from tests.conftest import fixed_clock
from tests.integration.workers import wait_until

PARIS = "Europe/Paris"
ACCOUNTS = (7, 8)
NAMES = ("conversation_resolved", "first_response", "reply_time", "conversation_bot_handoff")
MODULE = (sys.executable, "-m", "reporting_rollups.adapters.cli")
SIGNALS = [pytest.param(signal.SIGINT, id="SIGINT"), pytest.param(signal.SIGTERM, id="SIGTERM")]


def make_events(count: int, *, per_day: int, first_day: date) -> list[Event]:
    """`count` events of accounts 7 and 8, `per_day` a day from `first_day` (noon UTC on)."""
    start = utc(first_day.year, first_day.month, first_day.day, 12)
    return [
        event(
            i,
            NAMES[i % len(NAMES)],
            at=start + timedelta(days=(i - 1) // per_day, minutes=i % per_day),
            account_id=ACCOUNTS[i % 2],
            value=float(i % 97),
            business=float(i % 13),
            user_id=i % 5 or None,
            inbox_id=i % 3 + 1,
            conversation_id=i // 2 + 1,
        )
        for i in range(1, count + 1)
    ]


def write_jsonl(path: Path, events: Sequence[Event]) -> Path:
    with path.open("w") as out:
        for e in events:
            record: dict[str, Any] = {
                "id": e.id,
                "name": e.name,
                "account_id": e.account_id,
                "created_at": e.created_at.isoformat(),
                "value": e.value,
                "value_in_business_hours": e.value_in_business_hours,
                "user_id": e.user_id,
                "inbox_id": e.inbox_id,
                "conversation_id": e.conversation_id,
            }
            out.write(json.dumps(record) + "\n")
    return path


def reference(events: Sequence[Event]) -> list[dict[Any, Any]]:
    """The rows of each account that a fresh `record()` of `events` gives in memory."""
    with open_rollups("memory://", clock=fixed_clock) as memory:
        for account in ACCOUNTS:
            memory.set_timezone(account, PARIS)
        memory.record(list(events))
        return [row_map(memory.rows(account)) for account in ACCOUNTS]


def stored_rows(db: str) -> list[dict[Any, Any]]:
    with open_rollups(db, clock=fixed_clock) as rollups:
        return [row_map(rollups.rows(account)) for account in ACCOUNTS]


def verify_clean(db: str) -> None:
    with open_rollups(db, clock=fixed_clock) as rollups:
        for account in ACCOUNTS:
            assert rollups.verify(account).clean


_ENGINES: dict[str, Engine] = {}


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()


def count(db: str, query: str) -> int:
    """`query`'s count, on an engine kept for the test (polling must be quick)."""
    engine = _ENGINES.get(db) or _ENGINES.setdefault(db, engine_for_url(db))
    with engine.connect() as connection:
        return int(connection.execute(text(query)).scalar_one())


def start(db: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*MODULE, "--db", db, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt_once(
    process: subprocess.Popen[str], committed: Any, stop_signal: int
) -> tuple[str, str]:
    """Wait for `committed()` (a first batch or chunk in the database), send the signal; the
    process must stop with exit 130 before it finished its work."""
    try:
        wait_until(lambda: committed() or process.poll() is not None, 120, "a first commit")
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"finished before it could be interrupted: {out}\n{err}")
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    assert f"interrupted by {signal.Signals(stop_signal).name}" in err
    return out, err


def continuation(err: str) -> list[str]:
    """The printed command that continues, as the argv of a process."""
    match = re.search(r"^continue with: (rollups .*?)(?: \(.*)?$", err, re.MULTILINE)
    assert match, err
    words = shlex.split(match[1])
    return [*MODULE, *words[1:]]


def run_continuation(err: str, *drop: str) -> subprocess.CompletedProcess[str]:
    """Run the command `err` says continues the work, without the words `drop` (a pause)."""
    argv = continuation(err)
    for word in drop:
        argv.remove(word)
    environment = {k: v for k, v in os.environ.items() if k != "ROLLUPS_DATABASE_URL"}
    finished = subprocess.run(
        argv, capture_output=True, text=True, timeout=300, check=False, env=environment
    )
    assert finished.returncode == EXIT_OK, finished.stderr
    return finished


# -- ingest -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stop_signal", SIGNALS)
def test_an_interrupted_ingest_keeps_whole_batches_and_the_same_command_finishes_it(
    db: str, tmp_path: Path, stop_signal: int
) -> None:
    events = make_events(40_000, per_day=40, first_day=date(2024, 1, 1))
    data = write_jsonl(tmp_path / "big.jsonl", events)
    with open_rollups(db, clock=fixed_clock) as rollups:
        for account in ACCOUNTS:
            rollups.set_timezone(account, PARIS)
    batch = 200
    process = start(db, "ingest", str(data), "--batch-size", str(batch))
    _out, err = interrupt_once(
        process, lambda: count(db, "SELECT count(*) FROM reporting_events") > 0, stop_signal
    )
    match = re.search(
        r"^committed: ([\d,]+) events in ([\d,]+) batch\(es\), of 2 account\(s\): ([\d,]+) stored"
        r", 0 duplicates \(already stored\), through .*big\.jsonl:(\d+)$",
        err,
        re.MULTILINE,
    )
    assert match, err
    read, batches, stored, line = (int(group.replace(",", "")) for group in match.groups())
    assert 0 < read == stored == batches * batch == line < len(events)
    assert f"not done: {data} from line {line + 1} on" in err
    assert "is idempotent: the events already stored are skipped as duplicates" in err
    # whole batches only, rolled up exactly
    assert count(db, "SELECT count(*) FROM reporting_events") == stored
    assert stored_rows(db) == reference(events[:stored])

    finished = run_continuation(err)
    assert re.search(rf"duplicates \(already stored\) +│ +{stored:,} ", finished.stdout)
    assert count(db, "SELECT count(*) FROM reporting_events") == len(events)
    assert stored_rows(db) == reference(events)
    verify_clean(db)


def catches(pid: int, signum: int) -> bool:
    """Whether the process has a handler for `signum` (Linux: SigCgt in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False  # pragma: no cover - every Linux status has the line


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_an_ingest_interrupted_while_checking_has_written_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'rollups.db'}"
    open_rollups(db, clock=fixed_clock).close()
    events = make_events(300_000, per_day=50, first_day=date(2020, 1, 1))
    process = start(db, "ingest", str(write_jsonl(tmp_path / "big.jsonl", events)))
    # SIGTERM is caught once the command runs; the check pass then takes seconds
    _out, err = interrupt_once(
        process, lambda: catches(process.pid, signal.SIGTERM), signal.SIGTERM
    )
    assert "committed: nothing (interrupted before the first batch was written)" in err
    assert "not done: every event" in err
    assert count(db, "SELECT count(*) FROM reporting_events") == 0


# -- backfill and rebuild ------------------------------------------------------------------------


def events_without_rollups(db: str, events: Sequence[Event]) -> None:
    """Store `events` raw (no zone yet: nothing rolled up), then set the zone, no rebuild."""
    with open_rollups(db, clock=fixed_clock) as rollups:
        rollups.record(list(events))
        for account in ACCOUNTS:
            rollups.set_timezone(account, PARIS, rebuild=False)


def rollup_rows(db: str, account: int = 7) -> int:
    return count(db, f"SELECT count(*) FROM reporting_events_rollups WHERE account_id = {account}")


@pytest.mark.parametrize("stop_signal", SIGNALS)
def test_an_interrupted_backfill_keeps_whole_chunks_and_prints_the_since_that_finishes_it(
    db: str, stop_signal: int
) -> None:
    first = date(2008, 1, 1)
    events = make_events(12_000, per_day=2, first_day=first)  # 6,000 days
    until = date(2024, 12, 31)
    events_without_rollups(db, events)
    chunk = 2
    process = start(
        db, "backfill", "--account", "7", "--since", str(first), "--until", str(until),
        "--chunk-days", str(chunk), "--yes",
    )  # fmt: skip
    _out, err = interrupt_once(process, lambda: rollup_rows(db) > 0, stop_signal)
    total = (until - first).days + 1
    match = re.search(
        rf"^committed: account 7: rebuilt ([\d,]+) of {total:,} day\(s\), {first} to (\S+)$",
        err,
        re.MULTILINE,
    )
    assert match, err
    days, last = int(match[1].replace(",", "")), date.fromisoformat(match[2])
    assert 0 < days < total
    assert days % chunk == 0  # whole chunks
    assert last == first + timedelta(days=days - 1)
    resume = last + timedelta(days=1)
    assert f"not done: {resume} to {until} ({total - days:,} day(s))" in err
    assert continuation(err)[len(MODULE) :] == [
        "--db", db, "backfill", "--account", "7", "--since", str(resume), "--until", str(until),
        "--yes", "--chunk-days", str(chunk),
    ]  # fmt: skip
    # the committed chunks hold exactly the rows of their days, and nothing after them
    expected = reference(events)
    with open_rollups(db, clock=fixed_clock) as rollups:
        assert row_map(rollups.rows(7)) == {
            key: value for key, value in expected[0].items() if key[0] <= last
        }

    run_continuation(err)
    assert stored_rows(db)[0] == expected[0]
    with open_rollups(db, clock=fixed_clock) as rollups:
        assert rollups.verify(7, first, until).mismatches == []


def test_an_interrupted_rebuild_says_what_it_rebuilt_and_reruns(db: str) -> None:
    events = make_events(120_000, per_day=20, first_day=date(2008, 1, 1))  # 6,000 days
    events_without_rollups(db, events)
    # a pause after each chunk: the signal comes long before the last one
    process = start(db, "rebuild", "--account", "7", "--pause-ms", "300")
    _out, err = interrupt_once(process, lambda: rollup_rows(db) > 0, signal.SIGTERM)
    assert re.search(
        r"^committed: account 7: rebuilt [\d,]+ of [\d,]+ day\(s\), through ", err, re.M
    )
    assert "the rollups are not marked current by this run" in err
    assert continuation(err)[len(MODULE) :] == [
        "--db", db, "rebuild", "--account", "7", "--pause-ms", "300",
    ]  # fmt: skip
    with open_rollups(db, clock=fixed_clock) as rollups:
        assert rollups.account(7).rollup_timezone != PARIS

    run_continuation(err, "--pause-ms", "300")
    assert stored_rows(db)[0] == reference(events)[0]
    with open_rollups(db, clock=fixed_clock) as rollups:
        assert rollups.account(7).rollup_timezone == PARIS
        assert rollups.verify(7).clean


# -- in process ----------------------------------------------------------------------------------


def _step(stop: Stop, signals: Sequence[int], steps: list[str]) -> None:
    """A step that sends itself `signals` (noting how far it got), then the check after it."""
    for signum in signals:
        os.kill(os.getpid(), signum)
        steps.append(signal.Signals(signum).name)
    steps.append("finished")
    stop.check()
    steps.append("next step")


def test_a_signal_stops_the_command_at_the_check_after_the_step() -> None:
    steps: list[str] = []
    with stopping("batch") as stop:
        with pytest.raises(KeyboardInterrupt):
            _step(stop, [signal.SIGTERM], steps)
        assert steps == ["SIGTERM", "finished"]  # the step went on to its end
        assert stop.signal == "SIGTERM"
        assert not stop.forced


def test_a_second_signal_stops_the_command_at_once() -> None:
    steps: list[str] = []
    with stopping("chunk") as stop:
        with pytest.raises(KeyboardInterrupt):
            _step(stop, [signal.SIGINT, signal.SIGTERM], steps)
        assert steps == ["SIGINT"]
        assert stop.signal == "SIGINT"
        assert stop.forced


def test_a_signal_at_a_prompt_stops_the_command_at_once() -> None:
    steps: list[str] = []
    with stopping("chunk") as stop, stop.anytime():
        with pytest.raises(KeyboardInterrupt):
            _step(stop, [signal.SIGINT], steps)
        assert steps == []
        assert not stop.forced


def test_the_handlers_are_put_back_after_the_command() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with stopping("batch"):
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_backfill_dry_run_counts_the_rollup_rows_it_would_replace(db: str) -> None:
    events = make_events(60, per_day=4, first_day=date(2025, 3, 1))  # 1 to 15 March
    events_without_rollups(db, events)
    runner = CliRunner()
    done = runner.invoke(
        app, ["--db", db, "backfill", "-a", "7", "--since", "2025-03-01", "--until", "2025-03-05"]
    )
    assert done.exit_code == EXIT_OK, done.output
    with open_rollups(db, clock=fixed_clock) as rollups:
        in_range = len(rollups.rows(7, date(2025, 3, 3), date(2025, 3, 10)))
        assert 0 < in_range < len(rollups.rows(7))
    plan = runner.invoke(
        app,
        [
            "--db",
            db,
            "backfill",
            "-a",
            "7",
            "--since",
            "2025-03-03",
            "--until",
            "2025-03-10",
            "--dry-run",
        ],
    )
    assert plan.exit_code == EXIT_OK, plan.output
    assert re.search(rf"rollup rows replaced +│ +{in_range} ", plan.stderr), plan.stderr
    assert "dry run: nothing written" in plan.stderr


# -- set-timezone: in process, the process signalling itself once a chunk has committed ---------


def signal_after_chunks(
    monkeypatch: pytest.MonkeyPatch, signals: Sequence[int], after: int = 1
) -> None:
    """Each of `signals` sent to this process once `after` chunks of days have committed."""
    chunks = 0
    rebuild_chunk = Backfill._rebuild_chunk

    def chunk_then_signal(self: Backfill, *args: Any) -> Any:
        nonlocal chunks
        stats = rebuild_chunk(self, *args)
        chunks += 1
        if chunks == after:
            for signum in signals:
                os.kill(os.getpid(), signum)
        return stats

    monkeypatch.setattr(Backfill, "_rebuild_chunk", chunk_then_signal)


def test_an_interrupted_zone_change_keeps_the_zone_and_says_the_rebuild_finishes_it(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = make_events(2_000, per_day=10, first_day=date(2024, 1, 1))  # 200 days
    events_without_rollups(db, events)
    signal_after_chunks(monkeypatch, [signal.SIGTERM])
    runner = CliRunner()
    result = runner.invoke(app, ["--db", db, "set-timezone", "7", "Asia/Kolkata"])
    assert result.exit_code == EXIT_INTERRUPTED, result.output
    err = result.stderr
    assert "interrupted by SIGTERM" in err
    assert re.search(
        r"^committed: account 7: time zone Asia/Kolkata set; rebuilt 31 of [\d,]+ day\(s\), "
        r"through 2024-01-3\d$",
        err,
        re.MULTILINE,
    ), err
    assert "not done: the days after those; the rollups are not marked current" in err
    assert continuation(err)[len(MODULE) :] == ["--db", db, "rebuild", "--account", "7"]
    with open_rollups(db, clock=fixed_clock) as rollups:
        settings = rollups.account(7)
        assert (settings.timezone, settings.rollup_timezone) == ("Asia/Kolkata", None)
    monkeypatch.undo()
    finished = runner.invoke(app, continuation(err)[len(MODULE) :])
    assert finished.exit_code == EXIT_OK, finished.output
    with open_rollups(db, clock=fixed_clock) as rollups:
        assert rollups.account(7).rollup_timezone == "Asia/Kolkata"
        assert rollups.verify(7).clean


def test_a_zone_change_stopped_at_once_says_what_it_committed(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second signal mid-rebuild: the chunk under way rolls back; the zone stays set."""
    events = make_events(2_000, per_day=10, first_day=date(2024, 1, 1))
    events_without_rollups(db, events)
    signal_after_chunks(monkeypatch, [signal.SIGINT, signal.SIGINT], after=2)
    result = CliRunner().invoke(app, ["--db", db, "set-timezone", "7", "Asia/Kolkata"])
    assert result.exit_code == EXIT_INTERRUPTED, result.output
    assert "interrupted by SIGINT (again, at once" in result.stderr
    assert "committed: account 7: time zone Asia/Kolkata set; rebuilt 31 of" in result.stderr
    with open_rollups(db, clock=fixed_clock) as rollups:
        assert rollups.account(7).timezone == "Asia/Kolkata"


def test_a_zone_change_interrupted_before_it_committed_has_changed_nothing(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_without_rollups(db, make_events(200, per_day=10, first_day=date(2024, 1, 1)))
    set_timezone = Rollups.set_timezone

    def signal_first(self: Rollups, *args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # at once, before anything is written
        return set_timezone(self, *args, **kwargs)

    monkeypatch.setattr(Rollups, "set_timezone", signal_first)
    result = CliRunner().invoke(app, ["--db", db, "set-timezone", "7", "Asia/Kolkata"])
    assert result.exit_code == EXIT_INTERRUPTED, result.output
    assert "committed: nothing" in result.stderr
    assert "not done: the zone change" in result.stderr
    assert continuation(result.stderr)[len(MODULE) :] == [
        "--db", db, "set-timezone", "7", "Asia/Kolkata",
    ]  # fmt: skip
    with open_rollups(db, clock=fixed_clock) as rollups:
        assert rollups.account(7).timezone == PARIS
