"""`Rollups`: the embedding API, one object with every use case; and `BoundRollups`, its
one-transaction use cases inside the host's own transaction (`Rollups.using`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from types import TracebackType
from typing import Self

import attrs

from reporting_rollups.application.backfill import Backfill, BackfillResult
from reporting_rollups.application.catch_up import CatchUp, CatchUpResult, zoned_accounts
from reporting_rollups.application.fleet import FleetProgress, FleetResult, FleetRun
from reporting_rollups.application.host_zones import HostZones, ZoneSync, ZoneSyncResult
from reporting_rollups.application.live import LiveRollup, RecordResult, RetractResult
from reporting_rollups.application.ports import (
    AccountSettings,
    ChangeCapture,
    JobLocks,
    Progress,
    RollupRow,
    UnavailableCapture,
    UnitOfWorkFactory,
)
from reporting_rollups.application.purge import Purge, PurgePlan, PurgeResult
from reporting_rollups.application.reports import Reports
from reporting_rollups.application.retention import Retention, RetentionSettings
from reporting_rollups.application.scan import Scan, ScanResult
from reporting_rollups.application.settings import AccountSettingsService
from reporting_rollups.application.status import Status, StatusReport
from reporting_rollups.application.sync import Sync, SyncResult
from reporting_rollups.application.verify import Verify, VerifyResult
from reporting_rollups.domain.errors import ConfigurationError
from reporting_rollups.domain.events import Event


@attrs.define
class Rollups:
    """Everything a host does with its rollups. Get one from `adapters.open_rollups(url)`."""

    uow_factory: UnitOfWorkFactory
    live: LiveRollup
    backfiller: Backfill
    settings: AccountSettingsService
    verifier: Verify
    on_close: Callable[[], None] = lambda: None
    on_migrate: Callable[[], None] = lambda: None
    #: Change capture of the host's writes: `rollups.capture.install()`, `.remove()`,
    #: `.status()` (SQL databases only).
    capture: ChangeCapture = attrs.field(
        factory=lambda: UnavailableCapture("no change capture was configured")
    )
    #: The read path: `rollups.reports.summary(...)`, `rollups.reports.timeseries(...)`.
    reports: Reports = attrs.field(
        default=attrs.Factory(
            lambda self: Reports(self.uow_factory, self.backfiller.clock), takes_self=True
        )
    )
    #: Purges old raw events, keeping their rollups (`purge()`).
    purger: Purge = attrs.field(
        default=attrs.Factory(
            lambda self: Purge(self.uow_factory, self.backfiller.clock, self.backfiller.chunk_days),
            takes_self=True,
        )
    )
    #: Applies captured changes of the host's writes (`sync()`).
    syncer: Sync = attrs.field(
        default=attrs.Factory(
            lambda self: Sync(self.uow_factory, self.backfiller.clock), takes_self=True
        )
    )
    #: whether fleet runs (`backfill_all`...) may work on accounts in parallel (PostgreSQL:
    #: one pooled connection each; SQLite serialises writers, memory is one process)
    parallel_accounts: bool = False
    #: one runner per fleet job across processes (the container passes the backend's)
    job_locks: JobLocks | None = None
    #: these rollups on a host's connection (`using`), each unit of work a savepoint in its
    #: open transaction (the container passes the backend's; None: not supported)
    bind: Callable[[object], Rollups] | None = None
    _closed: bool = False

    def record(self, events: Iterable[Event]) -> RecordResult:
        """Store events and fold each new one into the rollups exactly once (one transaction)."""
        return self.live.record(events)

    def using(self, connection: object) -> BoundRollups:
        """The one-transaction use cases (`record`, `retract`, `set_timezone(rebuild=False)`,
        `enable_read_path`, `sync`, `rows`, `reports`, `verify`...) inside the transaction the
        host has open on `connection` (a SQLAlchemy `Connection`; on PostgreSQL also a psycopg 3
        connection): the host's writes and the rollups commit or roll back together, and the
        host does either (`application.bound`). `ConfigurationError` for a backend or object
        that cannot share a transaction, and (at the first call) when none is open."""
        if self.bind is None:
            raise ConfigurationError(
                "using(): these rollups cannot run in a host's transaction (the in-memory "
                "backend has no connection to share); open them on the host's SQL database"
            )
        return BoundRollups(self.bind(connection))

    def catch_up(self, progress: Progress | None = None) -> CatchUpResult:
        """Fold the raw rows the host wrote that the library never saw (before change capture
        was installed): every zoned account's rows without an applied mark, by rebuilding the
        days they fall on. Idempotent."""
        return CatchUp(self.uow_factory, self.backfiller).run(progress)

    def scan(self, progress: Progress | None = None) -> ScanResult:
        """For a host that forbids triggers: find what it inserted, deleted or moved to another
        account without the library seeing it (raw rows without an applied mark; marks without
        a raw row), and rebuild what that changed. Slower than change capture, and blind to an
        update of a row's values in place (see `application.scan`)."""
        return Scan(self.uow_factory, self.backfiller, self.settings).run(progress)

    def apply_host_zones(
        self, source: HostZones, progress: Progress | None = None
    ) -> ZoneSyncResult:
        """Give every account the reporting zone the host keeps for it (`source`, e.g.
        `adapters.host_zones(rollups, "chatwoot")`), IANA or Rails names, with the rules of
        `set_timezone`; values that name no zone are rejected per account (zone and rollups
        left alone); blank values leave the account alone."""
        return ZoneSync(source, self.settings, self.uow_factory).run(progress)

    def sync(self, stop: Callable[[], bool] = lambda: False) -> SyncResult:
        """Apply what change capture logged of the host's own inserts, updates and deletes
        (one pass over every account with changes; each change exactly once). `stop` is asked
        between transactions: a daemon's signal handler ends the pass after the current batch."""
        return self.syncer.run(stop)

    def retract(self, event_ids: Iterable[int], *, account_id: int | None = None) -> RetractResult:
        """Remove raw events and take their contributions back exactly once. With
        `account_id`, only that account's events (an id stored under another account is
        unknown): the retraction then touches that one account only."""
        return self.live.retract(event_ids, account_id=account_id)

    def set_timezone(
        self,
        account_id: int,
        timezone: str | None,
        *,
        rebuild: bool = True,
        progress: Progress | None = None,
        drop_sealed_history: bool = False,
    ) -> BackfillResult | None:
        """Set the account's IANA reporting zone (None clears it); rebuilds its rollups. On an
        account with sealed days (`purge`): `SealedDaysError`, unless `drop_sealed_history`."""
        return self.settings.set_timezone(
            account_id,
            timezone,
            rebuild=rebuild,
            progress=progress,
            drop_sealed_history=drop_sealed_history,
        )

    def fleet(self) -> FleetRun:
        """The runner of one use case over every zoned account as a resumable job."""
        return FleetRun(
            self.uow_factory,
            self.backfiller.clock,
            self.backfiller,
            self.settings,
            self.verifier,
            parallel_ok=self.parallel_accounts,
            locks=self.job_locks,
        )

    def backfill_all(
        self,
        since: date | None = None,
        until: date | None = None,
        *,
        jobs: int = 1,
        resume: int | None = None,
        pause_ms: int = 0,
        progress: FleetProgress | None = None,
    ) -> FleetResult:
        """`backfill` of every zoned account, `jobs` at a time (PostgreSQL), as a job that a
        rerun (or `resume`) continues; `pause_ms` between chunks."""
        return self.fleet()(
            "backfill",
            since=since,
            until=until,
            jobs=jobs,
            resume=resume,
            pause_ms=pause_ms,
            progress=progress,
        )

    def rebuild_all(
        self,
        *,
        jobs: int = 1,
        resume: int | None = None,
        pause_ms: int = 0,
        progress: FleetProgress | None = None,
    ) -> FleetResult:
        """`rebuild` of every zoned account, as `backfill_all`."""
        return self.fleet()(
            "rebuild", jobs=jobs, resume=resume, pause_ms=pause_ms, progress=progress
        )

    def verify_all(
        self,
        since: date | None = None,
        until: date | None = None,
        *,
        jobs: int = 1,
        resume: int | None = None,
        progress: FleetProgress | None = None,
    ) -> FleetResult:
        """`verify` of every zoned account, as `backfill_all` (`FleetResult.mismatched`)."""
        return self.fleet()(
            "verify", since=since, until=until, jobs=jobs, resume=resume, progress=progress
        )

    def forget(self, account_id: int) -> int:
        """Remove everything the library keeps for the account (the host deleted it): its raw
        events, rollup rows, marks, members, pending changes, sync state, retention and
        settings, in one transaction; return how many raw events were deleted."""
        with self.uow_factory() as uow:
            uow.accounts.lock_exclusive(account_id)
            removed = uow.accounts.forget(account_id)
            uow.jobs.forget(account_id)
            uow.commit()
        return removed

    def set_retention(self, days: int | None, account_id: int | None = None) -> None:
        """Set the retention window in days of an account, or (None) the default of every
        account; None removes it. A delete of an event older than its window (`retract`,
        change capture, `sync --scan`) is then a purge: its contribution stays as history and
        the account's horizon advances (`application.retention`)."""
        Retention(self.uow_factory).set_window(days, account_id)

    def retention(self) -> RetentionSettings:
        """The retention windows set."""
        return Retention(self.uow_factory).show()

    def purge_plan(self, account_id: int, before: date) -> PurgePlan:
        """What `purge(before, account_id)` would delete and seal (nothing written)."""
        return self.purger.plan(account_id, before)

    def purge(
        self, before: date, account_id: int | None = None, progress: Progress | None = None
    ) -> list[PurgeResult]:
        """Delete the raw events of the local days before `before` (in each account's zone),
        keep their rollups, and seal those days (the account's retention horizon). One account,
        or (None) every account with a zone; an account without a zone is refused
        (`AccountNotConfiguredError`). Chunk by chunk; rerunning finishes a stopped purge."""
        accounts = (
            [account_id] if account_id is not None else list(zoned_accounts(self.uow_factory))
        )
        return [self.purger.run(self.purger.plan(a, before), progress) for a in accounts]

    def rebuild(self, account_id: int, progress: Progress | None = None) -> BackfillResult:
        """Rebuild all of the account's rollups and mark them current in its zone."""
        return self.settings.rebuild(account_id, progress)

    def enable_read_path(self, account_id: int, enabled: bool = True) -> AccountSettings:
        """Let reports of this account come from rollups (off by default)."""
        return self.settings.enable_read_path(account_id, enabled)

    def account(self, account_id: int) -> AccountSettings:
        """The account's settings."""
        return self.settings.get(account_id)

    def backfill(
        self,
        account_id: int,
        since: date | None = None,
        until: date | None = None,
        progress: Progress | None = None,
    ) -> BackfillResult:
        """Rebuild local days [since, until] from raw events (default: first day with events up
        to yesterday in the account's zone)."""
        return self.backfiller.run(self.backfiller.plan(account_id, since, until), progress)

    def rows(
        self, account_id: int, since: date | None = None, until: date | None = None
    ) -> list[RollupRow]:
        """The account's stored rollup rows (key, value), sorted by key."""
        with self.uow_factory(read_only=True) as uow:
            return uow.rollups.rows(account_id, since, until)

    def verify(
        self,
        account_id: int,
        since: date | None = None,
        until: date | None = None,
        progress: Progress | None = None,
    ) -> VerifyResult:
        """Rows where rollups and raw aggregation differ (`.mismatches`, empty when exact), but
        for the days of captured changes not applied yet (`.pending`, `.lag_seconds`,
        `.pending_days`). Reads one snapshot and takes no lock: writers proceed meanwhile."""
        return self.verifier(account_id, since, until, progress)

    def status(
        self, account_id: int | None = None, host_zones: HostZones | None = None
    ) -> StatusReport:
        """Whether reports can be trusted: per account (every account any table knows, or
        one) its zones, read path, sizes, pending changes and their lag, last sync, whether
        a rebuild is pending, its retention horizon and (with `host_zones`) any conflict with
        the zone the host keeps for it; and whether change capture is installed. No lock."""
        status = Status(self.uow_factory, self.capture, self.backfiller.clock)
        return status(account_id, host_zones)

    def migrate(self) -> None:
        """Create or upgrade the library's tables (idempotent; done on open by default)."""
        self.on_migrate()

    def close(self) -> None:
        """Release connections. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self.on_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def events(self, event_ids: Iterable[int]) -> list[Event]:
        """The stored events among `event_ids` (raw rows that are not valid events left out),
        sorted by id. Reads one snapshot; takes no lock."""
        with self.uow_factory(read_only=True) as uow:
            return uow.events.get(sorted(set(event_ids)))

    def known(self, account_id: int) -> bool:
        """Whether the database knows the account: it has settings other than the defaults, or
        raw events. Accounts are implicit (as in the reference): this only tells a mistyped id."""
        with self.uow_factory(read_only=True) as uow:
            if uow.accounts.get(account_id) != AccountSettings(account_id):
                return True
            return uow.events.has_events(account_id)


#: Why `set_timezone(..., rebuild=True)` is not offered inside the host's transaction.
REBUILD_OUTSIDE: str = (
    "set_timezone(..., rebuild=True) rebuilds chunk by chunk, each chunk committed: it cannot "
    "run inside the host's transaction. Pass rebuild=False here, then call rollups.rebuild("
    "account_id) once the host has committed"
)


@attrs.frozen
class BoundRollups:
    """`Rollups`' one-transaction use cases inside the host's own open transaction, so that the
    host's writes and the rollups commit or roll back together; get one from
    `rollups.using(connection)`. The methods do what `Rollups`' own do.

    Each call is one or more units of work nested in the host's transaction (savepoints): the
    library never commits or rolls back that transaction, and an error leaves it usable for the
    host to roll back. Reads see the host's uncommitted writes. The library's locks keep their
    global order within a call (`application.ports.LOCK_ORDER`) and are held until the host's
    transaction ends; locks taken before (the host's own rows, or an earlier call's accounts)
    are the host's to order. Use cases that commit chunk by chunk (`backfill`, `rebuild`,
    purges, fleet runs) are not here: run them on `Rollups` itself."""

    #: the `Rollups` whose units of work are savepoints in the host's transaction
    rollups: Rollups

    @property
    def reports(self) -> Reports:
        """The read path (`summary`, `timeseries`), reading in the host's transaction."""
        return self.rollups.reports

    def record(self, events: Iterable[Event]) -> RecordResult:
        """`Rollups.record` in the host's transaction."""
        return self.rollups.record(events)

    def retract(self, event_ids: Iterable[int], *, account_id: int | None = None) -> RetractResult:
        """`Rollups.retract` in the host's transaction."""
        return self.rollups.retract(event_ids, account_id=account_id)

    def set_timezone(
        self,
        account_id: int,
        timezone: str | None,
        *,
        rebuild: bool = False,
        drop_sealed_history: bool = False,
    ) -> None:
        """`Rollups.set_timezone` without the rebuild (`rebuild=True` is refused: it commits
        chunk by chunk). The account's rollups are marked for a rebuild, which
        `Rollups.rebuild` does after the host commits."""
        if rebuild:
            raise ConfigurationError(REBUILD_OUTSIDE)
        self.rollups.set_timezone(
            account_id, timezone, rebuild=False, drop_sealed_history=drop_sealed_history
        )

    def enable_read_path(self, account_id: int, enabled: bool = True) -> AccountSettings:
        """`Rollups.enable_read_path` in the host's transaction."""
        return self.rollups.enable_read_path(account_id, enabled)

    def account(self, account_id: int) -> AccountSettings:
        """`Rollups.account`, read in the host's transaction."""
        return self.rollups.account(account_id)

    def sync(self, stop: Callable[[], bool] = lambda: False) -> SyncResult:
        """`Rollups.sync` (one pass) in the host's transaction: it applies the host's own
        captured changes, those of this transaction included."""
        return self.rollups.sync(stop)

    def rows(
        self, account_id: int, since: date | None = None, until: date | None = None
    ) -> list[RollupRow]:
        """`Rollups.rows`, read in the host's transaction."""
        return self.rollups.rows(account_id, since, until)

    def events(self, event_ids: Iterable[int]) -> list[Event]:
        """`Rollups.events`, read in the host's transaction."""
        return self.rollups.events(event_ids)

    def verify(
        self,
        account_id: int,
        since: date | None = None,
        until: date | None = None,
        progress: Progress | None = None,
    ) -> VerifyResult:
        """`Rollups.verify`, read in the host's transaction."""
        return self.rollups.verify(account_id, since, until, progress)
