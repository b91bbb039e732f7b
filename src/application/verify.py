"""Parity check: compare stored rollups with the aggregation of raw events."""

from __future__ import annotations

from datetime import date

import attrs

from reporting_rollups.application.backfill import check_range
from reporting_rollups.application.ports import Progress, UnitOfWorkFactory, iter_chunks
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
class Verify:
    """Compares rollups with raw aggregation, a chunk of days at a time, all in one read-only
    unit of work.

    A raw event and its contribution commit in one transaction, so one snapshot is a consistent
    state: verify takes no lock, and writers of the account (live `record()` calls, backfills)
    proceed while it runs; what they commit meanwhile is not in its snapshot.
    """

    uow_factory: UnitOfWorkFactory
    chunk_days: int = 31

    def __call__(
        self,
        account_id: int,
        since: date | None = None,
        until: date | None = None,
        progress: Progress | None = None,
    ) -> list[Mismatch]:
        """The mismatches of local days [since, until] (default: every day with raw events or
        rollups), sorted by key; `progress(done, total, last_day)` after each chunk of days."""
        check_range(since, until)
        with self.uow_factory(read_only=True) as uow:
            settings = uow.accounts.get(account_id)
            if settings.timezone is None:
                raise AccountNotConfiguredError(account_id, "verifying its rollups")
            zone = parse_timezone(settings.timezone)
            span = uow.events.span(account_id)
            stored_span = uow.rollups.date_span(account_id)
            bounds = [local_date(instant, zone) for instant in span or ()]
            bounds += list(stored_span or ())
            if not bounds:
                return []
            first = since if since is not None else min(bounds)
            last = until if until is not None else max(bounds)
            days = local_days(first, last, zone)
            mismatches: list[Mismatch] = []
            done = 0
            for chunk in iter_chunks(days, self.chunk_days):
                expected = uow.events.aggregate(account_id, chunk)
                actual = dict(uow.rollups.rows(account_id, chunk[0].date, chunk[-1].date))
                for key in sorted(expected.keys() | actual.keys()):
                    want, have = expected.get(key, ZERO), actual.get(key, ZERO)
                    if not want.matches(have):
                        mismatches.append(Mismatch(key, want, have))
                done += len(chunk)
                if progress is not None:
                    progress(done, len(days), chunk[-1].date)
        return mismatches
