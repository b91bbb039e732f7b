"""The `rollups` command line: ingest, backfill, report, verify and a demo, on any database URL.

Data (reports, rows, summaries) goes to stdout; progress bars, plans, warnings and errors go to
stderr. Errors are one line (`error: ...`) with the exit codes listed in `EXIT_CODES`.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Any, Final, ParamSpec, TypeVar

import attrs
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress as RichProgress
from rich.progress import TaskID
from rich.table import Table

from adapters import open_rollups
from adapters.cli_tables import (
    integer,
    make_console,
    progress_bar,
    summary_table,
    timeseries_table,
)
from adapters.event_files import (
    STDIN_NAME,
    CountingReader,
    EventFileError,
    EventFormat,
    ParsedLine,
    batched,
    format_for,
    parse_events,
    spool,
)
from adapters.urls import DatabaseURL, redact
from application.backfill import BackfillPlan, BackfillResult
from application.ports import AccountSettings, Progress
from application.reports import ReportMetric, SummaryReport, TimeseriesReport
from application.service import Rollups
from domain.errors import RollupError, StorageError
from domain.events import Event
from domain.timezones import local_date, parse_timezone

#: Exit statuses.
EXIT_OK: Final = 0
EXIT_MISMATCH: Final = 1
EXIT_USAGE: Final = 2
EXIT_DATABASE: Final = 3
EXIT_INTERRUPTED: Final = 130

EXIT_CODES: Final = (
    "Exit codes: 0 ok; 1 verify found mismatches; 2 usage or input error (bad option, date, "
    "zone, metric, file line, unknown account); 3 database error (unreachable, permissions, "
    "schema); 130 interrupted."
)
DEFAULT_DB: Final = "sqlite:///rollups.db"
#: Backfills longer than this ask for a second thought.
LONG_BACKFILL_DAYS: Final = 730

P = ParamSpec("P")
R = TypeVar("R")


class CliInputError(RollupError, ValueError):
    """A command-line argument is malformed (a date, a format name, an unknown account...)."""


@attrs.define
class _State:
    """Per-invocation settings shared by the commands."""

    url: str
    out: Console
    err: Console


app = typer.Typer(
    name="rollups",
    help=(
        "Exact daily rollups of reporting events (Chatwoot's reporting_events): ingest events, "
        "backfill and rebuild, report, verify, or run the demo."
    ),
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
report_app = typer.Typer(
    help="Summaries and time series, served from rollups or raw events (the source is shown).",
    epilog=EXIT_CODES,
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")


# -- plumbing ---------------------------------------------------------------------------------


def _fail(code: int, message: object) -> typer.Exit:
    text = " ".join(str(message).split("\n")).strip()
    make_console(stderr=True).print(f"[bold red]error:[/] {escape(text)}")
    return typer.Exit(code)


def _database_error(error: Exception) -> str:
    first = str(error).strip().splitlines()
    return f"database error: {first[0] if first else type(error).__name__}"


def _driver_errors() -> tuple[type[Exception], ...]:
    """Driver exceptions an adapter might let through (translated to exit 3, not a traceback)."""
    found: list[type[Exception]] = []
    with contextlib.suppress(ImportError):
        from sqlalchemy.exc import SQLAlchemyError

        found.append(SQLAlchemyError)
    with contextlib.suppress(ImportError):
        import psycopg

        found.append(psycopg.Error)
    return tuple(found)


def _guard(command: Callable[P, R]) -> Callable[P, R]:
    """Turn library errors into one-line messages and exit codes instead of tracebacks."""

    @functools.wraps(command)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, BrokenPipeError):
            raise
        except StorageError as error:
            raise _fail(EXIT_DATABASE, error) from None
        except RollupError as error:  # ConfigurationError and every input error
            raise _fail(EXIT_USAGE, error) from None
        except KeyboardInterrupt:
            raise _fail(EXIT_INTERRUPTED, "interrupted") from None
        except _driver_errors() as error:
            raise _fail(EXIT_DATABASE, _database_error(error)) from None
        except OSError as error:
            where = f"{error.filename}: " if error.filename else ""
            raise _fail(EXIT_USAGE, f"{where}{error.strerror or error}") from None

    return guarded


def _state(ctx: typer.Context) -> _State:
    state = ctx.find_root().obj
    if not isinstance(state, _State):  # pragma: no cover - the root callback always sets it
        raise CliInputError("internal: missing command-line state")
    return state


def _sqlite_path(url: str) -> Path | None:
    """The file of a sqlite:/// URL (None for other backends)."""
    if DatabaseURL.parse(url).backend != "sqlite":
        return None
    from adapters.sqlite import sqlite_path

    return Path(sqlite_path(url)).expanduser()


@contextlib.contextmanager
def _open(state: _State, *, migrate: bool = True) -> Iterator[Rollups]:
    """The rollups on the state's database; read-only commands do not create a missing one."""
    DatabaseURL.parse(state.url)
    path = _sqlite_path(state.url)
    if not migrate and path is not None and not path.exists():
        raise StorageError(
            f"no database at {path} ({redact(state.url)}); run `rollups migrate`, "
            "`rollups ingest` or `rollups demo` first, or pass --db"
        )
    with open_rollups(state.url, migrate=migrate) as rollups:
        yield rollups


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise CliInputError(f"{option} {value!r}: not a date; use YYYY-MM-DD") from None


def _choice(value: str, choices: Sequence[str], option: str) -> str:
    lowered = value.strip().lower()
    if lowered not in choices:
        raise CliInputError(f"{option} {value!r}: expected one of {', '.join(choices)}")
    return lowered


def _is_known(rollups: Rollups, account_id: int) -> tuple[AccountSettings, bool]:
    settings = rollups.account(account_id)
    if settings != AccountSettings(account_id):
        return settings, True
    with rollups.uow_factory() as uow:
        return settings, uow.events.span(account_id) is not None


def _require_account(rollups: Rollups, account_id: int) -> AccountSettings:
    """The account's settings; `CliInputError` if the database knows nothing of it."""
    settings, known = _is_known(rollups, account_id)
    if not known:
        raise CliInputError(
            f"account {account_id}: unknown (no events and no settings in this database)"
        )
    return settings


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _write_csv(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def _write_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


_FORMATS: Final = ("table", "json", "csv")
AccountOption = Annotated[int, typer.Option("--account", "-a", min=1, help="Account id.")]
SinceOption = Annotated[
    str | None, typer.Option("--since", metavar="DATE", help="First local date, YYYY-MM-DD.")
]
UntilOption = Annotated[
    str | None, typer.Option("--until", metavar="DATE", help="Last local date, YYYY-MM-DD.")
]


@app.callback()
def _root(
    ctx: typer.Context,
    db: Annotated[
        str,
        typer.Option(
            "--db",
            envvar="ROLLUPS_DATABASE_URL",
            metavar="URL",
            help="Database: sqlite:///path.db, postgresql://user@host/db or memory://.",
        ),
    ] = DEFAULT_DB,
) -> None:
    """Exact daily rollups of reporting events."""
    ctx.obj = _State(db, make_console(stderr=False), make_console(stderr=True))


# -- schema and settings ----------------------------------------------------------------------


def _schema(url: str) -> tuple[str | None, set[str]] | None:
    """The library's schema revision and the tables of a SQL database (None for memory://)."""
    if DatabaseURL.parse(url).backend == "memory":
        return None
    import sqlalchemy

    from adapters.migrate import current_revision, engine_for_url

    engine = engine_for_url(url)
    try:
        with engine.connect() as connection:
            return current_revision(connection), set(
                sqlalchemy.inspect(connection).get_table_names()
            )
    finally:
        engine.dispose()


@app.command(epilog=EXIT_CODES)
@_guard
def migrate(ctx: typer.Context) -> None:
    """Create or upgrade the library's tables (a host's existing tables are never altered)."""
    state = _state(ctx)
    where = escape(redact(state.url))
    path = _sqlite_path(state.url)
    fresh = path is not None and not path.exists()
    before: tuple[str | None, set[str]] | None = (None, set()) if fresh else _schema(state.url)
    with _open(state, migrate=True):
        pass
    after = _schema(state.url)
    if before is None or after is None:
        state.out.print(f"{where}: in-memory database, nothing to migrate")
        return
    (old, old_tables), (new, new_tables) = before, after
    if old == new:
        state.out.print(f"{where}: schema up to date (revision {new}, {len(new_tables)} tables)")
        return
    created = sorted(new_tables - old_tables)
    state.out.print(
        f"{where}: schema migrated from {old or 'nothing'} to revision {new}"
        + (f"; created {', '.join(created)}" if created else "")
    )


@app.command("set-timezone", epilog=EXIT_CODES)
@_guard
def set_timezone(
    ctx: typer.Context,
    account: Annotated[int, typer.Argument(min=1, help="Account id.")],
    timezone: Annotated[
        str, typer.Argument(metavar="TZ", help="IANA zone such as Asia/Kolkata, or 'none'.")
    ],
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild/--no-rebuild", help="Rebuild the account's rollups in the new zone now."
        ),
    ] = True,
) -> None:
    """Set (or with 'none' clear) an account's reporting time zone."""
    state = _state(ctx)
    zone: str | None = None if timezone.strip().lower() == "none" else timezone.strip()
    if zone is not None:
        parse_timezone(zone)
    with _open(state) as rollups, _backfill_progress(state.err, "rebuilding") as progress:
        result = rollups.set_timezone(account, zone, rebuild=rebuild, progress=progress)
        settings = rollups.account(account)
    if zone is None:
        state.out.print(f"account {account}: reporting time zone cleared (rollups deleted)")
        return
    state.out.print(f"account {account}: reporting time zone {zone}")
    if result is not None:
        _print_backfill_result(state.out, result)
    elif settings.rollup_timezone != zone:
        state.out.print(
            f"rollups not rebuilt yet: reports come from raw events until "
            f"`rollups rebuild --account {account}`"
        )


@app.command("read-path", epilog=EXIT_CODES)
@_guard
def read_path(
    ctx: typer.Context,
    account: Annotated[int, typer.Argument(min=1, help="Account id.")],
    switch: Annotated[str, typer.Argument(metavar="on|off", help="on or off.")],
) -> None:
    """Serve an account's reports from rollups when they can answer (on), or from raw events."""
    state = _state(ctx)
    enabled = _choice(switch, ("on", "off"), "read-path") == "on"
    with _open(state) as rollups:
        settings = rollups.enable_read_path(account, enabled)
    state.out.print(f"account {account}: read path {'on' if enabled else 'off'}")
    if enabled and (settings.timezone is None or settings.rollup_timezone != settings.timezone):
        state.err.print(
            f"note: account {account}'s rollups are not current "
            f"(zone {settings.timezone or 'not set'}); reports come from raw events until "
            "they are rebuilt"
        )


# -- ingest -----------------------------------------------------------------------------------


@attrs.define
class _Source:
    """One input of `ingest`: a file, or standard input (spooled when it is read twice)."""

    name: str
    format: EventFormat
    path: Path | None
    stream: IO[bytes] | None = None
    owned: bool = False  #: the stream is a spooled copy to close

    @classmethod
    def of(cls, argument: str, *, spool_stdin: bool) -> _Source:
        event_format = format_for(argument)
        if argument == "-":
            stdin = sys.stdin.buffer
            if spool_stdin:
                return cls(STDIN_NAME, event_format, None, spool(stdin), owned=True)
            return cls(STDIN_NAME, event_format, None, stdin)
        path = Path(argument)
        if not path.is_file():
            raise CliInputError(f"{argument}: no such file")
        return cls(argument, event_format, path)

    def close(self) -> None:
        """Drop the spooled copy of standard input, if any."""
        if self.owned and self.stream is not None:
            self.stream.close()

    @property
    def size(self) -> int | None:
        if self.path is not None:
            return self.path.stat().st_size
        if self.stream is not None and self.stream.seekable():
            position = self.stream.tell()
            end = self.stream.seek(0, os.SEEK_END)
            self.stream.seek(position)
            return end
        return None

    @contextlib.contextmanager
    def lines(self) -> Iterator[tuple[CountingReader, Iterator[ParsedLine]]]:
        """The parsed lines (and the byte counter), read from the start."""
        if self.path is not None:
            with self.path.open("rb") as stream:
                reader = CountingReader(stream)
                yield reader, parse_events(reader, self.format, self.name)
            return
        assert self.stream is not None
        if self.stream.seekable():
            self.stream.seek(0)
        reader = CountingReader(self.stream)
        yield reader, parse_events(reader, self.format, self.name)


@attrs.define
class _IngestTotals:
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    rolled_up: int = 0
    skipped: int = 0
    invalid: int = 0


@attrs.define
class _ErrorList:
    """Bad lines: all counted, the first `limit` kept for display (0 keeps all)."""

    limit: int
    shown: list[EventFileError] = attrs.field(factory=list)
    count: int = 0

    def add(self, errors: Sequence[EventFileError]) -> list[EventFileError]:
        """Count errors; return those to show now."""
        self.count += len(errors)
        room = len(errors) if self.limit == 0 else max(self.limit - len(self.shown), 0)
        fresh = list(errors[:room])
        self.shown.extend(fresh)
        return fresh


def _check_batch(
    rollups: Rollups, batch: Sequence[ParsedLine], source: str
) -> tuple[list[Event], list[EventFileError]]:
    """The batch's good events, and its bad lines: unparsable, an id repeated in the batch with
    other content, or an id already stored with other content."""
    errors = [line.error for line in batch if line.error is not None]
    first_seen: dict[int, tuple[Event, int]] = {}
    good: list[tuple[Event, int]] = []
    for parsed in batch:
        event = parsed.event
        if event is None:
            continue
        seen = first_seen.get(event.id)
        if seen is not None and seen[0] != event:
            errors.append(
                EventFileError(
                    source,
                    parsed.line,
                    "id",
                    f"event {event.id} is on line {seen[1]} with other content "
                    f"({', '.join(seen[0].differences(event))})",
                )
            )
            continue
        first_seen.setdefault(event.id, (event, parsed.line))
        good.append((event, parsed.line))
    if good:
        with rollups.uow_factory() as uow:
            stored = {event.id: event for event in uow.events.get(list(first_seen))}
        kept: list[tuple[Event, int]] = []
        for event, line in good:
            existing = stored.get(event.id)
            if existing is not None and existing != event:
                errors.append(
                    EventFileError(
                        source,
                        line,
                        "id",
                        f"event {event.id} is already stored with other content "
                        f"({', '.join(existing.differences(event))}); events are immutable, "
                        "retract it first",
                    )
                )
            else:
                kept.append((event, line))
        good = kept
    errors.sort(key=lambda error: error.line or 0)
    return [event for event, _line in good], errors


def _byte_progress(
    state: _State, description: str, total: int | None
) -> tuple[RichProgress, TaskID]:
    progress = progress_bar(state.err, "bytes")
    task = progress.add_task(description, total=total)
    return progress, task


def _validate(
    state: _State, rollups: Rollups, sources: Sequence[_Source], batch_size: int, errors: _ErrorList
) -> int:
    """First pass: parse every line and check ids against the batch and the database."""
    lines = 0
    for source in sources:
        progress, task = _byte_progress(state, f"checking {escape(source.name)}", source.size)
        with progress, source.lines() as (reader, parsed):
            for batch in batched(parsed, batch_size):
                lines += len(batch)
                _events, bad = _check_batch(rollups, batch, source.name)
                errors.add(bad)
                progress.update(task, completed=reader.bytes_read)
    return lines


def _record(
    state: _State,
    rollups: Rollups,
    sources: Sequence[_Source],
    batch_size: int,
    errors: _ErrorList,
    *,
    skip_invalid: bool,
) -> _IngestTotals:
    """Second pass (or the only one with --skip-invalid): record the events batch by batch."""
    totals = _IngestTotals()
    for source in sources:
        progress, task = _byte_progress(state, f"recording {escape(source.name)}", source.size)
        with progress, source.lines() as (reader, parsed):
            for batch in batched(parsed, batch_size):
                events, bad = _check_batch(rollups, batch, source.name)
                if bad and not skip_invalid:
                    for error in bad:
                        state.err.print(f"  {error}", markup=False, soft_wrap=True)
                    raise CliInputError(
                        f"{len(bad)} bad line(s) found while recording (an id repeated with "
                        f"other content in another batch?): {source.name}:{bad[0].line}; "
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


@app.command(epilog=EXIT_CODES)
@_guard
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
    state = _state(ctx)
    if files.count("-") > 1:
        raise CliInputError("standard input (-) can be read only once")
    errors = _ErrorList(max_errors)
    started = time.perf_counter()
    with contextlib.ExitStack() as cleanup:
        sources: list[_Source] = []
        for name in files:  # every input is checked before the database is opened
            sources.append(_Source.of(name, spool_stdin=not skip_invalid))
            cleanup.callback(sources[-1].close)
        rollups = cleanup.enter_context(_open(state))
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
    table = Table(title=f"Ingested {len(sources)} file(s)", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    for label, value in (
        ("events read", totals.read),
        ("stored", totals.stored),
        ("duplicates (already stored)", totals.duplicates),
        ("rolled up", totals.rolled_up),
        ("skipped (account has no time zone)", totals.skipped),
        ("invalid lines (not written)", totals.invalid),
    ):
        table.add_row(label, integer(value))
    rate = totals.read / elapsed if elapsed > 0 else 0.0
    table.add_row("time", f"{elapsed:.2f}s ({integer(round(rate))} events/s)")
    state.out.print(table)


@app.command(epilog=EXIT_CODES)
@_guard
def retract(
    ctx: typer.Context,
    event_ids: Annotated[list[int], typer.Argument(metavar="EVENT_ID...", help="Event ids.")],
) -> None:
    """Remove raw events and take their contributions out of the rollups (exactly once)."""
    state = _state(ctx)
    with _open(state) as rollups:
        result = rollups.retract(event_ids)
    state.out.print(
        f"retracted {integer(result.retracted)} event(s), "
        f"{integer(result.rolled_back)} taken out of the rollups, "
        f"{integer(result.unknown)} unknown id(s)"
    )
    if result.unknown:
        state.err.print(f"note: {result.unknown} id(s) were not stored")


# -- backfill and rebuild ---------------------------------------------------------------------


@contextlib.contextmanager
def _backfill_progress(console: Console, description: str) -> Iterator[Progress]:
    """A `Progress` callback drawing a bar of days done (and days/s) on `console`."""
    bar = progress_bar(console, "days")
    task = bar.add_task(description, total=None)

    def update(done: int, total: int, last_day: date) -> None:
        bar.update(task, completed=done, total=total, description=f"{description} {last_day}")

    with bar:
        yield update


def _confirm(plan: BackfillPlan) -> bool:
    """Ask before a backfill writes; end of input or Ctrl-C at the prompt is an interruption."""
    question = f"Rebuild {plan.days} day(s) of account {plan.account_id}?"
    try:
        return typer.confirm(question, default=True, err=True)
    except typer.Abort:
        raise KeyboardInterrupt from None


def _plan_table(plan: BackfillPlan) -> Table:
    table = Table(title=f"Backfill plan, account {plan.account_id}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    rows = (
        ("account", str(plan.account_id)),
        ("time zone", plan.timezone),
        ("range", f"{plan.since} to {plan.until}" if plan.since else "-"),
        ("days", integer(plan.days)),
        ("first event", str(plan.first_event or "-")),
        ("last event", str(plan.last_event or "-")),
    )
    for label, value in rows:
        table.add_row(label, value)
    return table


def _print_backfill_result(console: Console, result: BackfillResult, elapsed: float = 0) -> None:
    plan = result.plan
    if plan.since is None:
        console.print(f"account {plan.account_id}: no events to rebuild yet")
        return
    rate = f", {integer(round(result.events / elapsed))} events/s" if elapsed > 0 else ""
    console.print(
        f"account {plan.account_id}: rebuilt {integer(plan.days)} day(s) {plan.since} to "
        f"{plan.until} in {plan.timezone}: {integer(result.events)} events, "
        f"{integer(result.rows)} rollup rows" + (f" in {elapsed:.2f}s{rate}" if elapsed > 0 else "")
    )


@app.command(epilog=EXIT_CODES)
@_guard
def backfill(
    ctx: typer.Context,
    account: AccountOption,
    since: SinceOption = None,
    until: UntilOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan only.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before writing.")] = False,
) -> None:
    """Rebuild local days from raw events (default: first event's day to yesterday)."""
    state = _state(ctx)
    first, last = _parse_date(since, "--since"), _parse_date(until, "--until")
    with _open(state, migrate=not dry_run) as rollups:
        _require_account(rollups, account)
        plan = rollups.backfiller.plan(account, first, last)
        state.err.print(_plan_table(plan))
        if plan.days == 0:
            state.out.print(f"account {account}: nothing to backfill (no events in range)")
            return
        if plan.days > LONG_BACKFILL_DAYS:
            state.err.print(
                f"[yellow]warning:[/] {integer(plan.days)} days is more than "
                f"{LONG_BACKFILL_DAYS}; check the range (--since/--until)"
            )
        if dry_run:
            state.err.print("dry run: nothing written")
            return
        if not yes and _stdin_is_terminal() and not _confirm(plan):
            state.err.print("cancelled: nothing written")
            return
        started = time.perf_counter()
        with _backfill_progress(state.err, "backfilling") as progress:
            result = rollups.backfiller.run(plan, progress)
        _print_backfill_result(state.out, result, time.perf_counter() - started)


@app.command(epilog=EXIT_CODES)
@_guard
def rebuild(ctx: typer.Context, account: AccountOption) -> None:
    """Rebuild all of an account's rollups (through today) and mark them current."""
    state = _state(ctx)
    with _open(state) as rollups:
        _require_account(rollups, account)
        started = time.perf_counter()
        with _backfill_progress(state.err, "rebuilding") as progress:
            result = rollups.rebuild(account, progress)
    _print_backfill_result(state.out, result, time.perf_counter() - started)


# -- reports ----------------------------------------------------------------------------------


def _report_range(
    rollups: Rollups, account: int, since: str | None, until: str | None, timezone: str | None
) -> tuple[date, date]:
    """--since/--until, by default the 30 days ending today in the report's zone."""
    settings = _require_account(rollups, account)
    zone_name = timezone or settings.timezone or "UTC"
    today = local_date(datetime.now(UTC), parse_timezone(zone_name))
    last = _parse_date(until, "--until") or today
    first = _parse_date(since, "--since") or (last - timedelta(days=29))
    return first, last


def _format_option(value: str) -> str:
    return _choice(value, _FORMATS, "--format")


FormatOption = Annotated[
    str, typer.Option("--format", "-f", metavar="table|json|csv", help="Output format.")
]
TimezoneOption = Annotated[
    str | None,
    typer.Option("--timezone", metavar="TZ", help="Report in this zone (default: the account's)."),
]
BusinessHoursOption = Annotated[
    bool, typer.Option("--business-hours", help="Averages over business-hours values.")
]


def _emit_report(state: _State, report: SummaryReport | TimeseriesReport, output: str) -> None:
    if output == "json":
        _write_json(report.as_dict())
        return
    if output == "csv":
        rows: list[dict[str, Any]] = list(report.as_dicts())
        _write_csv([[row[column] for column in report.COLUMNS] for row in rows], report.COLUMNS)
        state.err.print(f"source: {report.source.value}")
        return
    table = summary_table(report) if isinstance(report, SummaryReport) else timeseries_table(report)
    state.out.print(table)


@report_app.command("summary", epilog=EXIT_CODES)
@_guard
def report_summary(
    ctx: typer.Context,
    account: AccountOption,
    dimension: Annotated[
        str,
        typer.Option("--dimension", "-d", metavar="account|agent|inbox", help="Group rows by."),
    ] = "account",
    since: SinceOption = None,
    until: UntilOption = None,
    business_hours: BusinessHoursOption = False,
    timezone: TimezoneOption = None,
    output: FormatOption = "table",
) -> None:
    """Report metrics per account, agent or inbox over a range (default: the last 30 days)."""
    state = _state(ctx)
    output = _format_option(output)
    with _open(state, migrate=False) as rollups:
        first, last = _report_range(rollups, account, since, until, timezone)
        report = rollups.reports.summary(
            account, dimension, first, last, business_hours=business_hours, timezone=timezone
        )
    _emit_report(state, report, output)


@report_app.command("timeseries", epilog=EXIT_CODES)
@_guard
def report_timeseries(
    ctx: typer.Context,
    account: AccountOption,
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            "-m",
            metavar="METRIC",
            help=", ".join(m.value for m in ReportMetric) + ".",
        ),
    ],
    group_by: Annotated[
        str,
        typer.Option("--group-by", "-g", metavar="PERIOD", help="hour, day, week, month or year."),
    ] = "day",
    dimension: Annotated[
        str,
        typer.Option("--dimension", "-d", metavar="account|agent|inbox", help="Whose series."),
    ] = "account",
    dimension_id: Annotated[
        int | None,
        typer.Option("--dimension-id", min=1, help="Agent or inbox id (with --dimension)."),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    business_hours: BusinessHoursOption = False,
    timezone: TimezoneOption = None,
    week_start: Annotated[
        str, typer.Option("--week-start", metavar="DAY", help="First day of a week.")
    ] = "sunday",
    output: FormatOption = "table",
) -> None:
    """One point per period, empty periods included (default range: the last 30 days)."""
    state = _state(ctx)
    output = _format_option(output)
    with _open(state, migrate=False) as rollups:
        first, last = _report_range(rollups, account, since, until, timezone)
        report = rollups.reports.timeseries(
            account,
            metric,
            first,
            last,
            group_by=group_by,
            dimension=dimension,
            dimension_id=dimension_id,
            business_hours=business_hours,
            timezone=timezone,
            week_start=week_start,
        )
    _emit_report(state, report, output)


# -- rows and verify --------------------------------------------------------------------------

#: Columns of `rollups rows`, as in `reporting_events_rollups`.
ROW_COLUMNS: Final = (
    "account_id",
    "date",
    "dimension_type",
    "dimension_id",
    "metric",
    "count",
    "sum_value",
    "sum_value_business_hours",
)


@app.command(epilog=EXIT_CODES)
@_guard
def rows(
    ctx: typer.Context,
    account: AccountOption,
    since: SinceOption = None,
    until: UntilOption = None,
    output: Annotated[
        str, typer.Option("--format", "-f", metavar="json|csv|table", help="Output format.")
    ] = "json",
) -> None:
    """The account's rollup rows as stored (columns of reporting_events_rollups)."""
    state = _state(ctx)
    output = _format_option(output)
    first, last = _parse_date(since, "--since"), _parse_date(until, "--until")
    with _open(state, migrate=False) as rollups:
        _require_account(rollups, account)
        stored = rollups.rows(account, first, last)
    records = [
        (
            key.account_id,
            key.date.isoformat(),
            key.dimension_type.value,
            key.dimension_id,
            key.metric.value,
            value.count,
            value.sum_value,
            value.sum_value_business_hours,
        )
        for key, value in stored
    ]
    if output == "json":
        _write_json([dict(zip(ROW_COLUMNS, record, strict=True)) for record in records])
    elif output == "csv":
        _write_csv(records, ROW_COLUMNS)
    else:
        table = Table(title=f"Rollup rows of account {account}", caption=f"{len(records)} rows")
        for column in ROW_COLUMNS:
            table.add_column(column, justify="left" if column in {"date", "metric"} else "right")
        for record in records:
            table.add_row(*(str(cell) for cell in record))
        state.out.print(table)


@app.command(epilog=EXIT_CODES)
@_guard
def verify(
    ctx: typer.Context,
    account: AccountOption,
    since: SinceOption = None,
    until: UntilOption = None,
    output: Annotated[
        str, typer.Option("--format", "-f", metavar="table|json", help="Output format.")
    ] = "table",
) -> None:
    """Compare the rollups with the aggregation of raw events; exit 1 on any mismatch."""
    state = _state(ctx)
    output = _choice(output, ("table", "json"), "--format")
    first, last = _parse_date(since, "--since"), _parse_date(until, "--until")
    with _open(state, migrate=False) as rollups:
        _require_account(rollups, account)
        mismatches = rollups.verify(account, first, last)
    if output == "json":
        _write_json(
            [
                {
                    **dict(
                        zip(
                            ROW_COLUMNS[:5],
                            (
                                m.key.account_id,
                                m.key.date.isoformat(),
                                m.key.dimension_type.value,
                                m.key.dimension_id,
                                m.key.metric.value,
                            ),
                            strict=True,
                        )
                    ),
                    "expected": m.expected.as_dict(),
                    "actual": m.actual.as_dict(),
                }
                for m in mismatches
            ]
        )
    elif not mismatches:
        state.out.print(f"account {account}: rollups match raw events (0 mismatches)")
    else:
        table = Table(title=f"Account {account}: {len(mismatches)} mismatch(es)")
        for column in ("date", "dimension", "metric", "expected (raw)", "actual (rollups)"):
            table.add_column(column)
        for m in mismatches:
            table.add_row(
                m.key.date.isoformat(),
                f"{m.key.dimension_type.value} {m.key.dimension_id}",
                m.key.metric.value,
                _contribution(m.expected.as_dict()),
                _contribution(m.actual.as_dict()),
            )
        state.out.print(table)
    if mismatches:
        raise typer.Exit(EXIT_MISMATCH)


def _contribution(values: dict[str, float]) -> str:
    return (
        f"count {values['count']:g}, sum {values['sum_value']:g}, "
        f"business {values['sum_value_business_hours']:g}"
    )


# -- demo -------------------------------------------------------------------------------------


@app.command(epilog=EXIT_CODES)
@_guard
def demo(
    ctx: typer.Context,
    events: Annotated[int, typer.Option("--events", "-n", min=0, help="Events to make.")] = 50_000,
    days: Annotated[int, typer.Option("--days", min=1, help="Days of history.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Events per transaction.")
    ] = 1000,
) -> None:
    """Make a realistic synthetic history, record it live, backfill, report and verify."""
    from adapters.demo import run_demo

    state = _state(ctx)
    with _open(state) as rollups:
        outcome = run_demo(
            rollups,
            state.out,
            state.err,
            events=events,
            days=days,
            seed=seed,
            batch_size=batch_size,
            db_option="" if state.url == DEFAULT_DB else f"--db {redact(state.url)} ",
        )
    if outcome.mismatches:
        raise typer.Exit(EXIT_MISMATCH)


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="rollups")
    except BrokenPipeError:  # output piped into `head` and closed early
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_OK)


if __name__ == "__main__":  # pragma: no cover
    main()
