"""The library's exceptions: one base class, one subclass per kind of failure."""

from __future__ import annotations


class RollupError(Exception):
    """Base class of every error the library raises on purpose."""


#: Longest representation of a value shown in a message (the error keeps the value itself).
SHOWN_LENGTH = 120


def shown(value: object, limit: int = SHOWN_LENGTH) -> str:
    """`repr(value)` for a message: cut to `limit` characters, and never failing (an int with
    more digits than Python turns into text is described by its size)."""
    if isinstance(value, int) and value.bit_length() > 10_000:
        text = f"<int of {value.bit_length()} bits>"
    else:
        try:
            text = repr(value)
        except Exception:  # a message must not fail on a hostile __repr__
            text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class InvalidEventError(RollupError, ValueError):
    """An event field holds a value the model does not accept."""

    def __init__(self, field: str, value: object, event_id: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.event_id = event_id
        self.reason = reason
        super().__init__(f"event {shown(event_id)}: field {field!r} = {shown(value)}: {reason}")


class InvalidTimezoneError(RollupError, ValueError):
    """A reporting time zone is not a valid IANA zone name."""

    def __init__(self, value: object, reason: str) -> None:
        self.value = value
        super().__init__(f"reporting_timezone {value!r}: {reason}")


class InvalidRangeError(RollupError, ValueError):
    """A date range or another request argument is malformed."""


class AccountNotConfiguredError(RollupError):
    """The account has no reporting time zone, so it has no rollups."""

    def __init__(self, account_id: int, action: str) -> None:
        self.account_id = account_id
        super().__init__(f"account {account_id} has no reporting_timezone; set one before {action}")


class EventConflictError(RollupError):
    """An event id was sent again with different content."""

    def __init__(self, event_id: int, differences: list[str]) -> None:
        self.event_id = event_id
        self.differences = differences
        super().__init__(
            f"event {event_id}: id already stored with different content "
            f"({', '.join(differences)}); events are immutable, retract it first"
        )


class ZoneChangedError(RollupError):
    """The account's reporting zone changed while a backfill or rebuild of it ran: the days it
    had built were cleared, so its work is void. Nothing is marked current; run it again."""

    def __init__(self, account_id: int, timezone: str | None) -> None:
        self.account_id = account_id
        self.timezone = timezone
        super().__init__(
            f"account {account_id}: reporting_timezone changed (now {timezone!r}) while its "
            "rollups were being rebuilt; run the backfill or rebuild again"
        )


class SealedDaysError(InvalidRangeError):
    """The request would rewrite or check local days before the account's retention horizon:
    their raw events were purged, their rollups are history (sealed)."""

    def __init__(self, account_id: int, horizon: object, what: str) -> None:
        self.account_id = account_id
        self.horizon = horizon
        super().__init__(
            f"account {account_id}: days before {horizon} are sealed (their raw events were "
            f"purged; their rollups are kept as history): {what}"
        )


class ConfigurationError(RollupError):
    """The library was configured wrongly (bad database URL, unknown backend...)."""


class JobRunningError(ConfigurationError):
    """A fleet job another process (or thread) is running: one runner per job at a time."""

    def __init__(self, job_id: int, kind: str) -> None:
        self.job_id = job_id
        super().__init__(
            f"job {job_id} ({kind} --all) is being run by another process: wait for it to "
            "finish (`rollups jobs`), or stop it and run this command again"
        )


class StorageError(RollupError):
    """The storage backend failed (unreachable, permission denied, missing migration...)."""
