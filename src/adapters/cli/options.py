"""Options shared by several commands, and the parsing of their values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated

import typer

from reporting_rollups.adapters.cli.app import CliInputError

AccountOption = Annotated[int, typer.Option("--account", "-a", min=1, help="Account id.")]
SinceOption = Annotated[
    str | None, typer.Option("--since", metavar="DATE", help="First local date, YYYY-MM-DD.")
]
UntilOption = Annotated[
    str | None, typer.Option("--until", metavar="DATE", help="Last local date, YYYY-MM-DD.")
]


def parse_date(value: str | None, option: str) -> date | None:
    """An ISO date (None stays None); `CliInputError` naming `option` if it is not one."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise CliInputError(f"{option} {value!r}: not a date; use YYYY-MM-DD") from None


def parse_range(since: str | None, until: str | None) -> tuple[date | None, date | None]:
    """The dates of --since and --until (None where not given)."""
    return parse_date(since, "--since"), parse_date(until, "--until")


def choice(value: str, choices: Sequence[str], option: str) -> str:
    """`value` lower-cased if it is one of `choices`; `CliInputError` naming `option` if not."""
    lowered = value.strip().lower()
    if lowered not in choices:
        raise CliInputError(f"{option} {value!r}: expected one of {', '.join(choices)}")
    return lowered
