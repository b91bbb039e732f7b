"""`rollups capture install | remove | status`: the triggers that log the host's own writes to
`reporting_events` into the library's change log."""

from __future__ import annotations

from typing import Annotated

import typer

from reporting_rollups.adapters.cli.app import EXIT_CODES, app, command, open_database, state_of
from reporting_rollups.adapters.cli.options import choice
from reporting_rollups.adapters.cli.output import write_json
from reporting_rollups.adapters.cli.status import capture_line
from reporting_rollups.adapters.cli.sync import print_catch_up
from reporting_rollups.application.ports import CaptureStatus

capture_app = typer.Typer(
    help=(
        "Change capture: triggers on reporting_events that log every row the host application "
        "inserts, updates or deletes, for the rollups to follow (never installed by migrate)."
    ),
    epilog=EXIT_CODES,
    no_args_is_help=True,
)
app.add_typer(capture_app, name="capture")

FormatOption = Annotated[
    str, typer.Option("--format", help="table (one line) or json.", metavar="FORMAT")
]


def _show(ctx: typer.Context, found: CaptureStatus, output: str) -> None:
    state = state_of(ctx)
    if output == "json":
        write_json(found.as_dict())
        return
    state.out.print(capture_line(found))


def _format(output: str) -> str:
    return choice(output, ("table", "json"), "--format")


@command("install", group=capture_app)
def install(
    ctx: typer.Context,
    output: FormatOption = "table",
    catch_up: Annotated[
        bool,
        typer.Option(
            "--catch-up",
            help="Then fold the raw rows the host wrote before (as `rollups sync --catch-up`).",
        ),
    ] = False,
) -> None:
    """Create (or replace) the capture triggers, in one transaction (idempotent)."""
    chosen = _format(output)
    state = state_of(ctx)
    with open_database(state) as rollups:
        found = rollups.capture.install()
        if catch_up:
            print_catch_up(state.err if chosen == "json" else state.out, rollups.catch_up())
        _show(ctx, found, chosen)


@command("remove", group=capture_app)
def remove(ctx: typer.Context, output: FormatOption = "table") -> None:
    """Drop the capture triggers (idempotent); the change log is kept."""
    chosen = _format(output)
    with open_database(state_of(ctx)) as rollups:
        _show(ctx, rollups.capture.remove(), chosen)


@command("status", group=capture_app)
def status(ctx: typer.Context, output: FormatOption = "table") -> None:
    """Whether the capture triggers are installed, and how many changes wait."""
    chosen = _format(output)
    with open_database(state_of(ctx), migrate=False) as rollups:
        _show(ctx, rollups.capture.status(), chosen)
