"""Parity check: compare stored rollups with the aggregation of raw events."""

from __future__ import annotations

from datetime import date

import attrs

from application.backfill import check_range
from application.ports import UnitOfWorkFactory, iter_chunks
from domain.errors import AccountNotConfiguredError
from domain.metrics import ZERO, MetricContribution, RollupKey
from domain.timezones import local_date, local_days, parse_timezone


@attrs.frozen
class Mismatch:
    """A rollup row that differs from what the raw events give (ZERO where a side has no row)."""

    key: RollupKey
    expected: MetricContribution  #: from raw events
    actual: MetricContribution  #: stored


@attrs.frozen
class Verify:
    """Compares rollups with raw aggregation, a chunk of days at a time, each under the account's
    exclusive lock so that concurrent writers cannot make a consistent state look wrong."""

    uow_factory: UnitOfWorkFactory
    chunk_days: int = 31

    def __call__(
        self, account_id: int, since: date | None = None, until: date | None = None
    ) -> list[Mismatch]:
        check_range(since, until)
        with self.uow_factory() as uow:
            settings = uow.accounts.get(account_id)
            if settings.timezone is None:
                raise AccountNotConfiguredError(account_id, "verifying its rollups")
            zone = parse_timezone(settings.timezone)
            span = uow.events.span(account_id)
            stored_span = uow.rollups.date_span(account_id)
        bounds = [local_date(instant, zone) for instant in span or ()] + list(stored_span or ())
        if not bounds:
            return []
        first = since if since is not None else min(bounds)
        last = until if until is not None else max(bounds)
        mismatches: list[Mismatch] = []
        for chunk in iter_chunks(local_days(first, last, zone), self.chunk_days):
            with self.uow_factory() as uow:
                uow.accounts.lock_exclusive(account_id)
                expected = uow.events.aggregate(account_id, chunk)
                actual = dict(uow.rollups.rows(account_id, chunk[0].date, chunk[-1].date))
            for key in sorted(expected.keys() | actual.keys()):
                want, have = expected.get(key, ZERO), actual.get(key, ZERO)
                if not want.matches(have):
                    mismatches.append(Mismatch(key, want, have))
        return mismatches
