"""The `rollups` Typer apps, exit codes, error translation and per-invocation state.

Every command is registered with `command`, which puts the exit codes in its help. Everything the
root command parses and runs goes through `exit_code_for`, the one place that turns an exception
into one `error: ...` line on stderr and an exit code: usage errors, library and driver errors,
interruptions, a closed output pipe (quietly, exit 0) and bugs (`internal error`, exit 3). No
traceback is ever shown.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Final, ParamSpec, TypeVar

import attrs
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli.tables import make_console
from reporting_rollups.adapters.urls import DatabaseURL, redact
from reporting_rollups.application.ports import AccountSettings
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import RollupError, StorageError

#: Exit statuses.
EXIT_OK: Final = 0
EXIT_MISMATCH: Final = 1
EXIT_USAGE: Final = 2
EXIT_DATABASE: Final = 3
EXIT_INTERRUPTED: Final = 130

EXIT_CODES: Final = (
    "Exit codes: 0 ok; 1 verify found mismatches; 2 usage or input error (bad option, date, "
    "zone, metric, file line, unknown account); 3 database error (unreachable, permissions, "
    "schema) or internal error; 130 interrupted."
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


class _RootGroup(TyperGroup):
    """The `rollups` command: its parsing and everything it runs (subcommands, their parsing and
    their output) go through `_guarded`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return _guarded(super().parse_args, ctx, args)

    def invoke(self, ctx: Any) -> Any:
        return _guarded(super().invoke, ctx)


app = typer.Typer(
    name="rollups",
    cls=_RootGroup,
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


def _print_error(message: object) -> None:
    text = " ".join(str(message).split("\n")).strip()
    with contextlib.suppress(OSError, ValueError):  # stderr closed too: nothing left to tell
        make_console(stderr=True).print(f"[bold red]error:[/] {escape(text)}")


def _silence_stdout() -> None:
    """Point standard output at /dev/null: the reader is gone, and Python's final flush of what
    is still buffered must not fail ("Exception ignored ... BrokenPipeError")."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _usage_message(error: typer.TyperException) -> str:
    format_message = getattr(error, "format_message", None)
    message = format_message() if callable(format_message) else str(error)
    ctx = getattr(error, "ctx", None)
    if ctx is None:
        return str(message)
    return f"{message} (see `{ctx.command_path} --help`)"


def exit_code_for(error: BaseException) -> int:
    """The exit code for an exception that reached the command line, after printing its one
    `error: ...` line on stderr (nothing for a closed output pipe)."""
    if isinstance(error, BrokenPipeError):  # output piped into `head` and closed early
        _silence_stdout()
        return EXIT_OK
    if isinstance(error, KeyboardInterrupt | typer.Abort):
        _print_error("interrupted")
        return EXIT_INTERRUPTED
    if type(error).__name__ == "NoArgsIsHelpError":  # `rollups` alone: its help, already shown
        return EXIT_USAGE
    if isinstance(error, typer.TyperException):  # bad option, missing argument, no such command
        _print_error(_usage_message(error))
        return EXIT_USAGE
    if isinstance(error, StorageError):
        _print_error(error)
        return EXIT_DATABASE
    if isinstance(error, RollupError):  # ConfigurationError and every input error
        _print_error(error)
        return EXIT_USAGE
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        _print_error(f"{where}{error.strerror or error}")
        return EXIT_USAGE
    # A bug (driver errors included: every adapter translates its own): one line, no traceback.
    lines = str(error).strip().splitlines()
    _print_error(f"internal error: {type(error).__name__}: {lines[0] if lines else '(no message)'}")
    return EXIT_DATABASE


def _guarded(call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`call(...)` with its output flushed (a closed pipe shows here, not at exit); any exception
    but an exit becomes `exit_code_for`'s exit."""
    try:
        result = call(*args, **kwargs)
        sys.stdout.flush()
        return result
    except typer.Exit:
        raise
    except SystemExit as exit:
        if isinstance(exit.__context__, BrokenPipeError):  # rich's own exit on a closed pipe
            raise typer.Exit(exit_code_for(exit.__context__)) from None
        raise
    except BaseException as error:  # the one place every error is reported
        raise typer.Exit(exit_code_for(error)) from None


def command(
    name: str | None = None, *, group: typer.Typer = app
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Register a command on `group` (`rollups` itself by default), exit codes in its help.

    Commands are listed in `--help` in the order they are registered.
    """

    def register(function: Callable[P, R]) -> Callable[P, R]:
        return group.command(name, epilog=EXIT_CODES)(function)

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
    from reporting_rollups.adapters.sqlite import sqlite_path

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


_UNKNOWN: Final = "no events and no settings in this database"


def require_account(rollups: Rollups, account_id: int) -> AccountSettings:
    """The account's settings; `CliInputError` if the database knows nothing of it
    (`Rollups.known`, the one rule every command uses)."""
    if not rollups.known(account_id):
        raise CliInputError(f"account {account_id}: unknown ({_UNKNOWN})")
    return rollups.account(account_id)


def warn_if_unknown(state: State, rollups: Rollups, account_id: int) -> None:
    """Before a setter: say on stderr when the account is new to the database (a mistyped id?).
    Accounts are implicit, as in the reference, so the setting is made anyway."""
    if not rollups.known(account_id):
        state.err.print(
            f"[yellow]warning:[/] account {account_id} has {_UNKNOWN}; "
            "setting it anyway (a mistyped id?)"
        )


def main() -> None:
    """Console-script entry point."""
    app(prog_name="rollups")
