"""The system clock, the only place the library reads the current time."""

from __future__ import annotations

from datetime import UTC, datetime


def system_clock() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(UTC)
