"""`rollups demo`: the synthetic history job of `adapters.demo`, on the chosen database."""

from __future__ import annotations

from typing import Annotated

import typer

from reporting_rollups.adapters.cli.app import (
    DEFAULT_DB,
    EXIT_MISMATCH,
    command,
    open_database,
    state_of,
)
from reporting_rollups.adapters.cli.demo_job import run_demo
from reporting_rollups.adapters.urls import redact


@command()
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
    state = state_of(ctx)
    with open_database(state) as rollups:
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
