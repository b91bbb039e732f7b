"""`Rollups.purge`: delete old raw events and keep their rollups as history.

A purge deletes an account's raw events of the local days before a date `before` (every event
created before the local midnight that starts `before`, in the account's zone: no day is cut in
two) with their applied marks and the distinct members of those days, keeps their rollup rows,
and records the account's retention horizon `before`: the days before it are sealed. Sealed
days are never rewritten or checked again (backfill, rebuild and verify refuse them; a zone
change refuses to drop them unless told to), and reports keep answering them from rollups.

It runs a chunk of days per transaction, oldest first, under the account's exclusive lock and
after applying its pending captured changes (so what a host wrote before is folded first); the
horizon advances with each chunk, so a purge stopped half-way leaves a consistent, earlier
horizon, and running it again finishes it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import attrs

from reporting_rollups.application.backfill import check_generation
from reporting_rollups.application.changes import drain
from reporting_rollups.application.ports import Clock, Progress, UnitOfWorkFactory, iter_chunks
from reporting_rollups.domain.errors import AccountNotConfiguredError, InvalidRangeError
from reporting_rollups.domain.timezones import local_date, local_day, local_days, parse_timezone


@attrs.frozen
class PurgePlan:
    """What a purge will do (nothing written yet)."""

    account_id: int
    timezone: str
    before: date  #: the new horizon: local days before it are purged and sealed
    events: int  #: raw events (and rows that are no event) created before it
    days: int  #: local days from the first stored one up to the day before `before`
    rollup_rows: int  #: rollup rows of those days, kept
    horizon: date | None  #: the horizon before this purge
    generation: int = 0  #: the zone generation the plan was made in


@attrs.frozen
class PurgeResult:
    """What a purge did."""

    plan: PurgePlan
    events: int  #: raw rows deleted


@attrs.frozen
class Purge:
    """Purges raw events, keeps their rollups, seals their days."""

    uow_factory: UnitOfWorkFactory
    clock: Clock  #: "today", for retention windows of the changes applied first
    chunk_days: int = 31

    def plan(self, account_id: int, before: date) -> PurgePlan:
        """The plan of purging the account's local days before `before`.
        `AccountNotConfiguredError` for an account without a zone (it has no local days)."""
        if not isinstance(before, date) or isinstance(before, datetime):
            raise InvalidRangeError(f"before = {before!r}: must be a datetime.date")
        with self.uow_factory(read_only=True) as uow:
            settings = uow.accounts.get(account_id)
            if settings.timezone is None:
                raise AccountNotConfiguredError(account_id, "purging its raw events by local day")
            zone = parse_timezone(settings.timezone)
            end = local_day(before, zone).start
            events = uow.retention.count_before(account_id, end)
            rows = uow.retention.rows_before(account_id, before)
            horizon = uow.retention.horizon(account_id)
            span = uow.events.span(account_id)
            stored = uow.rollups.date_span(account_id)
        firsts = [d for d in (span and local_date(span.first, zone), stored and stored.first) if d]
        first = min(firsts, default=before)
        days = max(0, (before - first).days)
        return PurgePlan(
            account_id,
            settings.timezone,
            before,
            events,
            days,
            rows,
            horizon,
            settings.generation,
        )

    def run(self, plan: PurgePlan, progress: Progress | None = None) -> PurgeResult:
        """Carry out a plan, a chunk of days per transaction (`progress` after each)."""
        zone = parse_timezone(plan.timezone)
        first = plan.before - timedelta(days=max(plan.days, 1))
        days = local_days(first, plan.before - timedelta(days=1), zone)
        deleted = done = 0
        for chunk in iter_chunks(days, self.chunk_days):
            end = chunk[-1].end
            horizon = chunk[-1].date + timedelta(days=1)
            with self.uow_factory() as uow:
                check_generation(plan, uow.accounts.lock_exclusive(plan.account_id))
                drain(uow, plan.account_id, {plan.account_id: zone}, self.clock())
                deleted += uow.retention.purge(plan.account_id, end)
                uow.retention.drop_members(plan.account_id, horizon)
                uow.retention.advance(plan.account_id, horizon)
                uow.commit()
            done += len(chunk)
            if progress is not None:
                progress(done, len(days), chunk[-1].date)
        return PurgeResult(plan, deleted)
