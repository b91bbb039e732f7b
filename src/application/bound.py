"""`BoundRollups`: the use cases that fit in one transaction, run inside the host's own
(`Rollups.using(connection)`), so that the host's writes and the rollups commit or roll back
together.

Each call is one or more units of work nested in the host's transaction (savepoints on SQL):
the library never commits or rolls back that transaction, and an error leaves it usable for
the host to roll back. Reads see the host's uncommitted writes. The library's locks keep their
global order within a call (`application.ports.LOCK_ORDER`) and are held until the host's
transaction ends; locks the host took before (its own rows, or an earlier call's accounts) are
the host's to order. Use cases that commit chunk by chunk (`backfill`, `rebuild`, purges, fleet
runs) are not here: run them on `Rollups` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import TYPE_CHECKING

import attrs

from reporting_rollups.application.live import RecordResult, RetractResult
from reporting_rollups.application.ports import AccountSettings, Progress, RollupRow
from reporting_rollups.application.reports import Reports
from reporting_rollups.application.sync import SyncResult
from reporting_rollups.application.verify import VerifyResult
from reporting_rollups.domain.errors import ConfigurationError
from reporting_rollups.domain.events import Event

if TYPE_CHECKING:  # service imports this module
    from reporting_rollups.application.service import Rollups

#: Why `set_timezone(..., rebuild=True)` is not offered inside the host's transaction.
REBUILD_OUTSIDE: str = (
    "set_timezone(..., rebuild=True) rebuilds chunk by chunk, each chunk committed: it cannot "
    "run inside the host's transaction. Pass rebuild=False here, then call rollups.rebuild("
    "account_id) once the host has committed"
)


@attrs.frozen
class BoundRollups:
    """`Rollups`' one-transaction use cases on the host's connection (see the module). The
    methods say the same as `Rollups`' own; get one from `rollups.using(connection)`."""

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
