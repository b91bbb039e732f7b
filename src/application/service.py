"""`Rollups`: the embedding API, one object with every use case."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from types import TracebackType
from typing import Self

import attrs

from reporting_rollups.application.backfill import Backfill, BackfillResult
from reporting_rollups.application.catch_up import CatchUp, CatchUpResult
from reporting_rollups.application.live import LiveRollup, RecordResult, RetractResult
from reporting_rollups.application.ports import (
    AccountSettings,
    ChangeCapture,
    Progress,
    RollupRow,
    UnavailableCapture,
    UnitOfWorkFactory,
)
from reporting_rollups.application.reports import Reports
from reporting_rollups.application.settings import AccountSettingsService
from reporting_rollups.application.sync import Sync, SyncResult
from reporting_rollups.application.verify import Mismatch, Verify
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
        default=attrs.Factory(lambda self: Reports(self.uow_factory), takes_self=True)
    )
    #: Applies captured changes of the host's writes (`sync()`).
    syncer: Sync = attrs.field(
        default=attrs.Factory(
            lambda self: Sync(self.uow_factory, self.backfiller.clock), takes_self=True
        )
    )
    _closed: bool = False

    def record(self, events: Iterable[Event]) -> RecordResult:
        """Store events and fold each new one into the rollups exactly once (one transaction)."""
        return self.live.record(events)

    def catch_up(self, progress: Progress | None = None) -> CatchUpResult:
        """Fold the raw rows the host wrote that the library never saw (before change capture
        was installed): every zoned account's rows without an applied mark, by rebuilding the
        days they fall on. Idempotent."""
        return CatchUp(self.uow_factory, self.backfiller).run(progress)

    def sync(self, stop: Callable[[], bool] = lambda: False) -> SyncResult:
        """Apply what change capture logged of the host's own inserts, updates and deletes
        (one pass over every account with changes; each change exactly once). `stop` is asked
        between transactions: a daemon's signal handler ends the pass after the current batch."""
        return self.syncer.run(stop)

    def retract(self, event_ids: Iterable[int]) -> RetractResult:
        """Remove raw events and take their contributions back exactly once."""
        return self.live.retract(event_ids)

    def set_timezone(
        self,
        account_id: int,
        timezone: str | None,
        *,
        rebuild: bool = True,
        progress: Progress | None = None,
    ) -> BackfillResult | None:
        """Set the account's IANA reporting zone (None clears it); rebuilds its rollups."""
        return self.settings.set_timezone(account_id, timezone, rebuild=rebuild, progress=progress)

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
    ) -> list[Mismatch]:
        """Rows where rollups and raw aggregation differ; empty when exact. Reads one snapshot
        and takes no lock: writers of the account proceed meanwhile."""
        return self.verifier(account_id, since, until, progress)

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
