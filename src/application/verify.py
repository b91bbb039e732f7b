"""Parity check: compare stored rollups with the aggregation of raw events.

Captured host changes not applied yet (`sync`) are not mismatches: the local days their images
fall on are left out of the comparison and reported as pending (how many, since when), so that
a verify under a host's steady load tells a real difference from a lag.
"""

from __future__ import annotations

from datetime import date

import attrs

from reporting_rollups.application.backfill import check_range, check_unsealed
from reporting_rollups.application.ports import (
    Clock,
    DateSpan,
    Progress,
    UnitOfWorkFactory,
    iter_chunks,
)
from reporting_rollups.application.status import age_seconds
from reporting_rollups.domain.errors import AccountNotConfiguredError
from reporting_rollups.domain.metrics import ZERO, MetricContribution, RollupKey
from reporting_rollups.domain.timezones import local_date, local_days, parse_timezone


@attrs.frozen
class Mismatch:
    """A rollup row that differs from what the raw events give (ZERO where a side has no row)."""

    key: RollupKey
    expected: MetricContribution  #: from raw events
    actual: MetricContribution  #: stored


@attrs.frozen
class VerifyResult:
    """What `verify` found: the mismatches of the days it compared, and the captured changes
    that were pending (their days left out)."""

    mismatches: list[Mismatch]  #: sorted by key
    pending: int = 0  #: captured changes of the account not applied yet
    lag_seconds: float | None = None  #: age of the oldest of them; None when none is pending
    pending_days: DateSpan | None = None  #: local days not compared: pending changes change them
    horizon: date | None = None  #: days before it are sealed (purged): never compared
    #: the rollups are not current in the account's zone (a zone change or a rebuild that did
    #: not finish): mismatches are expected until `rebuild` completes
    rebuild_pending: bool = False

    @property
    def clean(self) -> bool:
        """No mismatch and nothing pending: the rollups equal the raw events."""
        return not self.mismatches and not self.pending


@attrs.frozen
class Verify:
    """Compares rollups with raw aggregation, a chunk of days at a time, all in one read-only
    unit of work.

    A raw event and its contribution commit in one transaction, so one snapshot is a consistent
    state: verify takes no lock, and writers of the account (live `record()` calls, backfills)
    proceed while it runs; what they commit meanwhile is not in its snapshot.
    """

    uow_factory: UnitOfWorkFactory
    clock: Clock
    chunk_days: int = 31

    def __call__(
        self,
        account_id: int,
        since: date | None = None,
        until: date | None = None,
        progress: Progress | None = None,
    ) -> VerifyResult:
        """The mismatches of local days [since, until] (default: every day with raw events or
        rollups), sorted by key, but for the days of pending changes; `progress(done, total,
        last_day)` after each chunk of days."""
        check_range(since, until)
        with self.uow_factory(read_only=True) as uow:
            settings = uow.accounts.get(account_id)
            if settings.timezone is None:
                raise AccountNotConfiguredError(account_id, "verifying its rollups")
            zone = parse_timezone(settings.timezone)
            horizon = uow.retention.horizon(account_id)
            check_unsealed(account_id, horizon, since, until, "a verify")
            pending, oldest = uow.changes.pending(account_id)
            changed = uow.changes.pending_span(account_id) if pending else None
            skipped = None
            if changed is not None:
                skipped = DateSpan(*(local_date(instant, zone) for instant in changed))
            mismatches: list[Mismatch] = []
            lag = age_seconds(self.clock(), oldest)
            unbuilt = settings.rollup_timezone != settings.timezone
            result = VerifyResult(mismatches, pending, lag, skipped, horizon, unbuilt)
            span = uow.events.span(account_id)
            stored_span = uow.rollups.date_span(account_id)
            bounds = [local_date(instant, zone) for instant in span or ()]
            bounds += list(stored_span or ())
            if not bounds:
                return result
            first = since if since is not None else min(bounds)
            if since is None and horizon is not None:
                first = max(first, horizon)  # sealed days: history, not compared
            last = until if until is not None else max(bounds)
            if first > last:
                return result
            days = local_days(first, last, zone)
            done = 0
            for chunk in iter_chunks(days, self.chunk_days):
                expected = uow.events.aggregate(account_id, chunk)
                actual = dict(uow.rollups.rows(account_id, chunk[0].date, chunk[-1].date))
                for key in sorted(expected.keys() | actual.keys()):
                    if skipped is not None and skipped.first <= key.date <= skipped.last:
                        continue
                    want, have = expected.get(key, ZERO), actual.get(key, ZERO)
                    if not want.matches(have):
                        mismatches.append(Mismatch(key, want, have))
                done += len(chunk)
                if progress is not None:
                    progress(done, len(days), chunk[-1].date)
        return result
