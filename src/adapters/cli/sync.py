"""`rollups sync`: apply what change capture logged of the host's own writes (one pass)."""

from __future__ import annotations

import time

import typer

from reporting_rollups.adapters.cli.app import command, open_database, state_of
from reporting_rollups.adapters.cli.tables import integer


@command()
def sync(ctx: typer.Context) -> None:
    """Apply the host's captured inserts, updates and deletes to the rollups, exactly once
    (one pass over every account with changes; see `rollups capture`)."""
    state = state_of(ctx)
    with open_database(state) as rollups:
        started = time.perf_counter()
        result = rollups.sync()
        elapsed = time.perf_counter() - started
    lag = "" if result.lag_seconds is None else f" (oldest {result.lag_seconds:.1f}s old)"
    state.out.print(
        f"applied {integer(result.applied)}, retracted {integer(result.retracted)}, "
        f"consumed {integer(result.consumed)} change(s) in {elapsed:.2f}s; "
        f"{integer(result.pending)} pending{lag}"
    )
