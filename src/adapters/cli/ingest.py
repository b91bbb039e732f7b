"""`rollups ingest`: record events from files through the live path.

Without --skip-invalid every input is validated first (nothing is written if a line is bad), then
recorded in a second pass; standard input is spooled so that it can be read twice. Validation
rejects whatever the write pass would: every value is checked as building its `Event` checks it
(a line of the common shape without building it, `event_files.fast`), and an id repeated with
other content is found across batches and files, not only within a batch. Only a conflicting
write by another process between the two passes can still stop the second one: `record()` itself
refuses it (`EventConflictError`), and that batch is checked again to list its bad lines. In both
passes a thread parses the next batch while the database works on this one.

Ctrl-C or SIGTERM lets the batch being written commit, then says what was recorded and what was
not (exit 130); the same command continues, skipping the ids already stored.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Annotated, Final, NoReturn, TypeVar

import attrs
import typer
from rich.markup import escape
from rich.progress import Progress as RichProgress
from rich.progress import TaskID

from reporting_rollups.adapters.cli.app import (
    CliInputError,
    State,
    command,
    open_database,
    state_of,
)
from reporting_rollups.adapters.cli.checks import ErrorList, SeenIds, check_batch, check_contents
from reporting_rollups.adapters.cli.interrupts import (
    Stop,
    command_words,
    continue_command,
    interrupted,
    on_interrupt,
    stopping,
)
from reporting_rollups.adapters.cli.sources import EventSource
from reporting_rollups.adapters.cli.tables import integer, label_table, progress_bar
from reporting_rollups.adapters.event_files.lines import EventFileError, ParsedLine
from reporting_rollups.adapters.event_files.streams import CountingReader, batched, read_ahead
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import EventConflictError
from reporting_rollups.domain.events import Event

#: Parsed lines handled together (one transaction when recorded).
Batch = list[ParsedLine]
#: Events per batch unless --batch-size says otherwise.
DEFAULT_BATCH_SIZE: Final = 1000

T = TypeVar("T")


@attrs.define
class _IngestTotals:
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    rolled_up: int = 0
    skipped: int = 0
    invalid: int = 0
    recording: bool = False  #: the write pass has begun
    #: where the committed batches end: the source being recorded (index) and its last line
    source: int = 0
    line: int = 0
    batches: int = 0  #: batches committed
    accounts: set[int] = attrs.Factory(set)


def _byte_progress(
    state: State, description: str, total: int | None
) -> tuple[RichProgress, TaskID]:
    progress = progress_bar(state.err, "bytes")
    task = progress.add_task(description, total=total)
    return progress, task


@contextlib.contextmanager
def _batches(
    lines: Iterator[T], reader: CountingReader, batch_size: int
) -> Iterator[Iterator[tuple[list[T], int]]]:
    """`lines` in batches, each with the bytes read through it, parsed by a thread one batch
    ahead (while the database works on this one)."""
    counted = ((batch, reader.bytes_read) for batch in batched(lines, batch_size))
    with read_ahead(counted) as batches:
        yield batches


def _validate(
    state: State,
    rollups: Rollups,
    sources: Sequence[EventSource],
    batch_size: int,
    errors: ErrorList,
    stop: Stop,
) -> int:
    """First pass: parse every line (checking every value as its `Event` would) and check ids
    against every earlier line of the input and against the database (a signal stops it
    between batches)."""
    lines = 0
    seen = SeenIds()
    try:
        for source in sources:
            progress, task = _byte_progress(state, f"checking {escape(source.name)}", source.size)
            with (
                progress,
                source.contents() as (reader, contents),
                _batches(contents, reader, batch_size) as batches,
            ):
                for batch, done in batches:
                    lines += len(batch)
                    _good, bad = check_contents(rollups, batch, source.name, seen)
                    errors.add(bad)
                    progress.update(task, completed=done)
                    stop.check()
    finally:
        seen.close()
    return lines


def _found_while_recording(
    state: State, bad: Sequence[EventFileError], source: str, batch: Batch, totals: _IngestTotals
) -> NoReturn:
    """Bad lines in a batch of the second pass (written since the check by another process, or
    the file changed): list them and stop, saying what was recorded."""
    for error in bad:
        state.err.print(f"  {error}", markup=False, soft_wrap=True)
    raise CliInputError(
        f"{len(bad)} bad line(s) found while recording (stored with other content by another "
        f"writer since the check?): {source}:{bad[0].line}; {integer(totals.read)} events were "
        f"recorded, nothing from {source}:{batch[0].line} on"
    )


def _record(
    state: State,
    rollups: Rollups,
    sources: Sequence[EventSource],
    batch_size: int,
    errors: ErrorList,
    totals: _IngestTotals,
    stop: Stop,
    *,
    skip_invalid: bool,
) -> _IngestTotals:
    """Second pass (or the only one with --skip-invalid): record the events batch by batch
    into `totals` (a signal stops after the batch being written, see `interrupts`).

    After the first pass a batch is recorded as parsed: `record()` itself refuses an id
    repeated with other content or stored so by another writer since the check
    (`EventConflictError`, nothing of the batch written); the batch is then checked again to
    list its bad lines. With --skip-invalid every batch is checked first."""
    totals.recording = True
    for index, source in enumerate(sources):
        totals.source, totals.line = index, 0
        progress, task = _byte_progress(state, f"recording {escape(source.name)}", source.size)
        with (
            progress,
            source.lines() as (reader, parsed),
            _batches(parsed, reader, batch_size) as batches,
        ):
            for batch, done in batches:
                events = [parsed.result for parsed in batch if isinstance(parsed.result, Event)]
                bad: list[EventFileError] = []
                if skip_invalid or len(events) != len(batch):
                    events, bad = check_batch(rollups, batch, source.name)
                if bad and not skip_invalid:
                    _found_while_recording(state, bad, source.name, batch, totals)
                for error in errors.add(bad):
                    progress.console.print(f"  skipped {error}", markup=False, soft_wrap=True)
                totals.invalid += len(bad)
                if events:
                    try:
                        result = rollups.record(events)
                    except EventConflictError:
                        if skip_invalid:
                            raise
                        _events, bad = check_batch(rollups, batch, source.name)
                        if not bad:  # pragma: no cover - the conflict went away since
                            raise
                        _found_while_recording(state, bad, source.name, batch, totals)
                    totals.read += len(events)
                    totals.stored += result.stored
                    totals.duplicates += result.duplicates
                    totals.rolled_up += result.rolled_up
                    totals.skipped += result.skipped
                    totals.batches += 1
                    totals.accounts.update(event.account_id for event in events)
                totals.line = batch[-1].line
                stop.check()
                progress.update(task, completed=done)
    return totals


def _interrupted(
    ctx: typer.Context, stop: Stop, files: Sequence[str], totals: _IngestTotals
) -> NoReturn:
    """What an interrupted ingest recorded and what it did not; the same command continues."""
    committed = "nothing (interrupted before the first batch was written)"
    left = "every event"
    if totals.recording:
        name, later = files[totals.source], files[totals.source + 1 :]
        committed = (
            f"{integer(totals.read)} events in {integer(totals.batches)} batch(es), of "
            f"{integer(len(totals.accounts))} account(s): {integer(totals.stored)} stored, "
            f"{integer(totals.duplicates)} duplicates (already stored)"
        )
        left = f"{name} from line {totals.line + 1} on" if totals.line else f"all of {name}"
        if totals.line:
            committed += f", through {name}:{totals.line}"
        if later:
            left += f", and {', '.join(later)}"
    again = "with the same standard input " if "-" in files else ""
    resume = continue_command(state_of(ctx), *command_words(ctx))
    interrupted(
        state_of(ctx),
        stop,
        committed,
        left,
        f"continue with: {resume} (the same command {again}is idempotent: the events already "
        "stored are skipped as duplicates)",
    )


@command()
def ingest(
    ctx: typer.Context,
    files: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE",
            help="JSON Lines (.jsonl, .ndjson, .json) or CSV (.csv) files; - reads JSON Lines "
            "from standard input.",
        ),
    ],
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Events per transaction.")
    ] = DEFAULT_BATCH_SIZE,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Record the valid lines and list the bad ones (default: validate every file "
            "first and write nothing if a line is bad).",
        ),
    ] = False,
    max_errors: Annotated[
        int, typer.Option("--max-errors", min=0, help="List at most N bad lines (0: all).")
    ] = 50,
    assume_utc: Annotated[
        bool,
        typer.Option(
            "--assume-utc",
            help="Take a created_at without a zone as UTC, as Chatwoot's exports and dumps "
            "store it (default: such a time is an error).",
        ),
    ] = False,
) -> None:
    """Record events from files through the live path (idempotent: re-sent ids are skipped).

    \b
    Fields: id, name, account_id, created_at (ISO 8601 with a zone, or UTC without one with
    --assume-utc); optional: value, value_in_business_hours, user_id, inbox_id, conversation_id
    (updated_at, event_start_time and event_end_time are accepted and ignored).
    """
    state = state_of(ctx)
    if files.count("-") > 1:
        raise CliInputError("standard input (-) can be read only once")
    errors = ErrorList(max_errors)
    started = time.perf_counter()
    totals = _IngestTotals()
    with contextlib.ExitStack() as cleanup:
        stop = cleanup.enter_context(stopping("batch"))
        cleanup.enter_context(on_interrupt(_interrupted, ctx, stop, files, totals))
        sources: list[EventSource] = []
        for name in files:  # every input is checked before the database is opened
            sources.append(
                EventSource.of(name, spool_stdin=not skip_invalid, assume_utc=assume_utc)
            )
            cleanup.callback(sources[-1].close)
        rollups = cleanup.enter_context(open_database(state))
        if not skip_invalid:
            lines = _validate(state, rollups, sources, batch_size, errors, stop)
            if errors.count:
                for error in errors.shown:
                    state.err.print(f"  {error}", markup=False, soft_wrap=True)
                more = errors.count - len(errors.shown)
                if more:
                    state.err.print(f"  ... and {integer(more)} more")
                raise CliInputError(
                    f"{integer(errors.count)} of {integer(lines)} lines are bad; nothing was "
                    "written (fix them, or use --skip-invalid to record the valid lines)"
                )
        _record(
            state, rollups, sources, batch_size, errors, totals, stop, skip_invalid=skip_invalid
        )
    elapsed = time.perf_counter() - started
    if skip_invalid and errors.count > len(errors.shown):
        state.err.print(f"  ... and {integer(errors.count - len(errors.shown))} more bad lines")
    rate = totals.read / elapsed if elapsed > 0 else 0.0
    counts = (
        ("events read", totals.read),
        ("stored", totals.stored),
        ("duplicates (already stored)", totals.duplicates),
        ("rolled up", totals.rolled_up),
        ("skipped (account has no time zone)", totals.skipped),
        ("invalid lines (not written)", totals.invalid),
    )
    table = label_table(
        f"Ingested {len(sources)} file(s)",
        [
            *((label, integer(value)) for label, value in counts),
            ("time", f"{elapsed:.2f}s ({integer(round(rate))} events/s)"),
        ],
        justify="right",
    )
    state.out.print(table)
