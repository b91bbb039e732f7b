"""The `rollups` Typer apps, exit codes, error translation and per-invocation state.

Every command is registered with `command`, which puts the exit codes in its help and runs it
under `guard`: library and driver errors become one line on stderr and an exit code.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Final, ParamSpec, TypeVar

import attrs
import typer
from rich.console import Console
from rich.markup import escape

from adapters import open_rollups
from adapters.cli.tables import make_console
from adapters.urls import DatabaseURL, redact
from application.ports import AccountSettings
from application.service import Rollups
from domain.errors import RollupError, StorageError

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

P = ParamSpec("P")
R = TypeVar("R")


class CliInputError(RollupError, ValueError):
    """A command-line argument is malformed (a date, a format name, an unknown account...)."""


@attrs.define
class State:
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
    ctx.obj = State(db, make_console(stderr=False), make_console(stderr=True))


# -- errors -----------------------------------------------------------------------------------


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


def guard(command: Callable[P, R]) -> Callable[P, R]:
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


def command(
    name: str | None = None, *, group: typer.Typer = app
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Register a guarded command on `group` (`rollups` itself by default), exit codes in its help.

    Commands are listed in `--help` in the order they are registered.
    """

    def register(function: Callable[P, R]) -> Callable[P, R]:
        return group.command(name, epilog=EXIT_CODES)(guard(function))

    return register


# -- state and database -----------------------------------------------------------------------


def state_of(ctx: typer.Context) -> State:
    """The invocation's state, set by the root callback."""
    state = ctx.find_root().obj
    if not isinstance(state, State):  # pragma: no cover - the root callback always sets it
        raise CliInputError("internal: missing command-line state")
    return state


def sqlite_file(url: str) -> Path | None:
    """The file of a sqlite:/// URL (None for other backends)."""
    if DatabaseURL.parse(url).backend != "sqlite":
        return None
    from adapters.sqlite import sqlite_path

    return Path(sqlite_path(url)).expanduser()


@contextlib.contextmanager
def open_database(state: State, *, migrate: bool = True) -> Iterator[Rollups]:
    """The rollups on the state's database; read-only commands do not create a missing one."""
    DatabaseURL.parse(state.url)
    path = sqlite_file(state.url)
    if not migrate and path is not None and not path.exists():
        raise StorageError(
            f"no database at {path} ({redact(state.url)}); run `rollups migrate`, "
            "`rollups ingest` or `rollups demo` first, or pass --db"
        )
    with open_rollups(state.url, migrate=migrate) as rollups:
        yield rollups


def _is_known(rollups: Rollups, account_id: int) -> tuple[AccountSettings, bool]:
    settings = rollups.account(account_id)
    if settings != AccountSettings(account_id):
        return settings, True
    with rollups.uow_factory() as uow:
        return settings, uow.events.span(account_id) is not None


def require_account(rollups: Rollups, account_id: int) -> AccountSettings:
    """The account's settings; `CliInputError` if the database knows nothing of it."""
    settings, known = _is_known(rollups, account_id)
    if not known:
        raise CliInputError(
            f"account {account_id}: unknown (no events and no settings in this database)"
        )
    return settings


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="rollups")
    except BrokenPipeError:  # output piped into `head` and closed early
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_OK)
