"""Backfill and rebuild: replace local days' rollups with the aggregation of their raw events."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo

import attrs

from reporting_rollups.application.changes import drain
from reporting_rollups.application.ports import (
    AccountSettings,
    ChangesArrived,
    Clock,
    Progress,
    RebuildStats,
    UnitOfWorkFactory,
    iter_chunks,
)
from reporting_rollups.domain.errors import (
    AccountNotConfiguredError,
    InvalidRangeError,
    SealedDaysError,
    StorageError,
    ZoneChangedError,
)
from reporting_rollups.domain.timezones import LocalDay, local_date, local_days, parse_timezone

#: Tries of one backfill chunk while host writes of the account stay open (`ChangesArrived`),
#: pausing RETRY_PAUSE_SECONDS, doubled after each try up to MAX_RETRY_PAUSE_SECONDS (about
#: 30 s in all before giving up).
CHUNK_ATTEMPTS: Final = 20
RETRY_PAUSE_SECONDS: Final = 0.01
MAX_RETRY_PAUSE_SECONDS: Final = 2.0


@attrs.frozen
class BackfillPlan:
    """What a backfill will cover (nothing written yet)."""

    account_id: int
    timezone: str
    since: date | None  #: None when the account has no raw events and no range was given
    until: date | None
    first_event: date | None  #: local date of the account's first and last raw events
    last_event: date | None
    #: the account's timezone generation the plan was made in: every chunk checks it
    generation: int = 0
    #: whether the account's rollups were marked current in its zone (`rebuild` marks them):
    #: if not, reports keep reading raw events after this backfill, until a `rebuild()`
    rollups_current: bool = False

    @property
    def days(self) -> int:
        """Number of local days covered."""
        if self.since is None or self.until is None:
            return 0
        return (self.until - self.since).days + 1


@attrs.frozen
class BackfillResult:
    """What a backfill did."""

    plan: BackfillPlan
    events: int  #: raw events aggregated
    rows: int  #: rollup rows written

    @property
    def rollups_current(self) -> bool:
        """Whether reports can be served from the rollups (see `BackfillPlan.rollups_current`)."""
        return self.plan.rollups_current


def check_range(since: date | None, until: date | None) -> None:
    """`InvalidRangeError` unless since and until are dates with since <= until."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
            raise InvalidRangeError(f"{name} = {value!r}: must be a datetime.date")
    if since is not None and until is not None and since > until:
        raise InvalidRangeError(f"since {since} is after until {until}")


def check_unsealed(
    account_id: int, horizon: date | None, since: date | None, until: date | None, what: str
) -> None:
    """`SealedDaysError` when an explicit range reaches days before the account's retention
    horizon (their raw events were purged: they can be neither rebuilt nor checked)."""
    if horizon is None:
        return
    for name, day in (("since", since), ("until", until)):
        if day is not None and day < horizon:
            raise SealedDaysError(account_id, horizon, f"{what} with {name} {day} is refused")


class Planned(Protocol):
    """Work planned for an account in one of its zone generations (a backfill, a purge)."""

    @property
    def account_id(self) -> int: ...

    @property
    def generation(self) -> int: ...


def check_generation(plan: Planned, settings: AccountSettings) -> None:
    """`ZoneChangedError` when the account's zone changed since `plan` was made (A -> B -> A
    included: the days built before the change were cleared by it)."""
    if settings.generation != plan.generation:
        raise ZoneChangedError(plan.account_id, settings.timezone)


@attrs.frozen
class Backfill:
    """Rebuilds account-days from raw events, one atomic transaction per chunk of days."""

    uow_factory: UnitOfWorkFactory
    clock: Clock
    chunk_days: int = 31
    #: how a retry waits (injected: tests pass a recorder)
    pause: Callable[[float], None] = time.sleep

    def plan(
        self,
        account_id: int,
        since: date | None = None,
        until: date | None = None,
        *,
        through_today: bool = False,
    ) -> BackfillPlan:
        """The range a backfill covers: by default the first local day with raw events up to
        yesterday in the account's zone. With `through_today` (a full rebuild), every day with
        raw events or rollup rows, through today: rows left on days whose raw events are all
        gone are emptied too."""
        check_range(since, until)
        with self.uow_factory(read_only=True) as uow:
            settings = uow.accounts.get(account_id)
            span = uow.events.span(account_id)
            stored = uow.rollups.date_span(account_id) if through_today else None
            horizon = uow.retention.horizon(account_id)
        if settings.timezone is None:
            raise AccountNotConfiguredError(account_id, "a backfill")
        check_unsealed(account_id, horizon, since, until, "a backfill or rebuild")
        zone = parse_timezone(settings.timezone)
        first = local_date(span[0], zone) if span else None
        last = local_date(span[1], zone) if span else None
        today = local_date(self.clock(), zone)
        explicit_since = since is not None
        if until is None:
            ends = [today, last or today, *(stored[1:] if stored else ())]
            until = max(ends) if through_today else today - timedelta(days=1)
        if since is None:
            starts = [day for day in (first, stored[0] if stored else None) if day is not None]
            since = min(starts, default=None)
            if since is not None and horizon is not None and since < horizon:
                since = horizon  # sealed days are history: never rebuilt
        if since is None or since > until:
            if explicit_since:
                raise InvalidRangeError(f"since {since} is after until {until}")
            since = until = None
        return BackfillPlan(
            account_id,
            settings.timezone,
            since,
            until,
            first,
            last,
            settings.generation,
            settings.rollup_timezone == settings.timezone,
        )

    def run(self, plan: BackfillPlan, progress: Progress | None = None) -> BackfillResult:
        """Carry out a plan. Each chunk of days is replaced atomically; a failure leaves the
        chunk as it was and raises."""
        if plan.since is None or plan.until is None:
            return BackfillResult(plan, 0, 0)
        zone: ZoneInfo = parse_timezone(plan.timezone)
        days = local_days(plan.since, plan.until, zone)
        events = rows = done = 0
        for chunk in iter_chunks(days, self.chunk_days):
            stats = self._rebuild_chunk(plan, zone, chunk)
            events += stats.events
            rows += stats.rows
            done += len(chunk)
            if progress is not None:
                progress(done, len(days), chunk[-1].date)
        return BackfillResult(plan, events, rows)

    def _rebuild_chunk(
        self, plan: BackfillPlan, zone: ZoneInfo, chunk: Sequence[LocalDay]
    ) -> RebuildStats:
        """Rebuild one chunk in one transaction, under the account's exclusive lock and holding
        the host's writes of it (`ChangeLog.hold_writers`: a host commit of the account waits
        for this one), after applying the account's captured changes (the rebuild then starts
        from a state that includes every change it can see). Retried, with growing pauses,
        while a host transaction that wrote the account is open."""
        for attempt in range(1, CHUNK_ATTEMPTS + 1):
            try:
                with self.uow_factory() as uow:
                    check_generation(plan, uow.accounts.lock_exclusive(plan.account_id))
                    horizon = uow.retention.horizon(plan.account_id)  # a purge meanwhile
                    check_unsealed(plan.account_id, horizon, chunk[0].date, None, "a backfill")
                    if not uow.changes.hold_writers(plan.account_id):
                        raise ChangesArrived(plan.account_id)  # a host write still open
                    drain(uow, plan.account_id, {plan.account_id: zone}, self.clock())
                    stats = uow.rebuild_days(plan.account_id, chunk)
                    uow.commit()
                return stats
            except ChangesArrived:
                if attempt == CHUNK_ATTEMPTS:
                    raise StorageError(
                        f"account {plan.account_id}: host writes of the account stayed open "
                        f"while days from {chunk[0].date} were to be rebuilt ({CHUNK_ATTEMPTS} "
                        "attempts); retry later"
                    ) from None
                self.pause(min(RETRY_PAUSE_SECONDS * 2 ** (attempt - 1), MAX_RETRY_PAUSE_SECONDS))
        raise AssertionError("unreachable")
