"""`rollups ingest`: record events from files through the live path.

Without --skip-invalid every input is validated first (nothing is written if a line is bad), then
recorded in a second pass; standard input is spooled so that it can be read twice. Validation
rejects whatever the write pass would: every value is checked by building its `Event`, and an id
repeated with other content is found across batches and files, not only within a batch. Only a
conflicting write by another process between the two passes can still stop the second one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Annotated

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
from reporting_rollups.adapters.cli.checks import ErrorList, SeenIds, check_batch
from reporting_rollups.adapters.cli.sources import EventSource
from reporting_rollups.adapters.cli.tables import integer, label_table, progress_bar
from reporting_rollups.adapters.event_files.streams import batched
from reporting_rollups.application.service import Rollups


@attrs.define
class _IngestTotals:
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    rolled_up: int = 0
    skipped: int = 0
    invalid: int = 0


def _byte_progress(
    state: State, description: str, total: int | None
) -> tuple[RichProgress, TaskID]:
    progress = progress_bar(state.err, "bytes")
    task = progress.add_task(description, total=total)
    return progress, task


def _validate(
    state: State,
    rollups: Rollups,
    sources: Sequence[EventSource],
    batch_size: int,
    errors: ErrorList,
) -> int:
    """First pass: parse every line (building its `Event`, which checks every value) and check
    ids against every earlier line of the input and against the database."""
    lines = 0
    seen = SeenIds()
    try:
        for source in sources:
            progress, task = _byte_progress(state, f"checking {escape(source.name)}", source.size)
            with progress, source.lines() as (reader, parsed):
                for batch in batched(parsed, batch_size):
                    lines += len(batch)
                    _events, bad = check_batch(rollups, batch, source.name, seen)
                    errors.add(bad)
                    progress.update(task, completed=reader.bytes_read)
    finally:
        seen.close()
    return lines


def _record(
    state: State,
    rollups: Rollups,
    sources: Sequence[EventSource],
    batch_size: int,
    errors: ErrorList,
    *,
    skip_invalid: bool,
) -> _IngestTotals:
    """Second pass (or the only one with --skip-invalid): record the events batch by batch."""
    totals = _IngestTotals()
    for source in sources:
        progress, task = _byte_progress(state, f"recording {escape(source.name)}", source.size)
        with progress, source.lines() as (reader, parsed):
            for batch in batched(parsed, batch_size):
                events, bad = check_batch(rollups, batch, source.name)
                if bad and not skip_invalid:
                    for error in bad:
                        state.err.print(f"  {error}", markup=False, soft_wrap=True)
                    raise CliInputError(
                        f"{len(bad)} bad line(s) found while recording (stored with other "
                        f"content by another writer since the check?): {source.name}:"
                        f"{bad[0].line}; "
                        f"{integer(totals.read)} events were recorded, nothing from "
                        f"{source.name}:{batch[0].line} on"
                    )
                for error in errors.add(bad):
                    progress.console.print(f"  skipped {error}", markup=False, soft_wrap=True)
                totals.invalid += len(bad)
                if events:
                    result = rollups.record(events)
                    totals.read += len(events)
                    totals.stored += result.stored
                    totals.duplicates += result.duplicates
                    totals.rolled_up += result.rolled_up
                    totals.skipped += result.skipped
                progress.update(task, completed=reader.bytes_read)
    return totals


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
    ] = 1000,
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
) -> None:
    """Record events from files through the live path (idempotent: re-sent ids are skipped).

    \b
    Fields: id, name, account_id, created_at (ISO 8601 with a zone);
    optional: value, value_in_business_hours, user_id, inbox_id, conversation_id.
    """
    state = state_of(ctx)
    if files.count("-") > 1:
        raise CliInputError("standard input (-) can be read only once")
    errors = ErrorList(max_errors)
    started = time.perf_counter()
    with contextlib.ExitStack() as cleanup:
        sources: list[EventSource] = []
        for name in files:  # every input is checked before the database is opened
            sources.append(EventSource.of(name, spool_stdin=not skip_invalid))
            cleanup.callback(sources[-1].close)
        rollups = cleanup.enter_context(open_database(state))
        if not skip_invalid:
            lines = _validate(state, rollups, sources, batch_size, errors)
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
        totals = _record(state, rollups, sources, batch_size, errors, skip_invalid=skip_invalid)
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
