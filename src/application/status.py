"""`Rollups.status`: the operator's one place to see whether reports can be trusted: per
account its zones, read path, sizes, pending changes and their lag, last sync and whether a
rebuild is pending; and whether change capture is installed."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import attrs

from reporting_rollups.application.host_zones import HostZones, all_zones, host_zone
from reporting_rollups.application.ports import (
    AccountFigures,
    AccountSettings,
    CaptureStatus,
    ChangeCapture,
    Clock,
    UnitOfWorkFactory,
)
from reporting_rollups.application.read_path import GroupBy, Source, choose_source
from reporting_rollups.domain.errors import ConfigurationError, InvalidTimezoneError


def age_seconds(now: datetime, since: datetime | None) -> float | None:
    """Seconds from `since` to `now` (never negative), None without `since`."""
    return None if since is None else max(0.0, (now - since).total_seconds())


@attrs.frozen
class AccountStatus:
    """One account, as `rollups status` shows it."""

    #: its zone, the zone (and build: `generation`) its rollups are current in, the read path
    settings: AccountSettings
    raw_events: int
    rollup_rows: int
    pending: int  #: captured changes not applied yet
    lag_seconds: float | None  #: age of the oldest of them; None when none is pending
    last_sync: datetime | None  #: when `sync` last applied changes of the account
    horizon: date | None = None  #: retention horizon: days before it are sealed (purged)
    #: with a host zone source: why the host's zone for the account is not the account's (a
    #: value that names no zone, sealed days a zone change would drop); None when they agree
    zone_conflict: str | None = None

    @property
    def account_id(self) -> int:
        """The account."""
        return self.settings.account_id

    @property
    def rebuild_pending(self) -> bool:
        """The account has a zone its rollups are not current in (a zone change or a
        rebuild not finished): reports read raw events until `rollups rebuild` completes."""
        s = self.settings
        return s.timezone is not None and s.rollup_timezone != s.timezone

    @property
    def source(self) -> Source:
        """Where its daily reports in its own zone come from."""
        return choose_source(self.settings, self.settings.timezone or "", GroupBy.DAY)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (instants as ISO strings)."""
        s = self.settings
        return {
            "account_id": s.account_id,
            "timezone": s.timezone,
            "rollup_timezone": s.rollup_timezone,
            "generation": s.generation,
            "read_path_enabled": s.read_path_enabled,
            "source": self.source.value,
            "raw_events": self.raw_events,
            "rollup_rows": self.rollup_rows,
            "pending": self.pending,
            "lag_seconds": self.lag_seconds,
            "last_sync": None if self.last_sync is None else self.last_sync.isoformat(),
            "rebuild_pending": self.rebuild_pending,
            "horizon": None if self.horizon is None else self.horizon.isoformat(),
            "zone_conflict": self.zone_conflict,
        }


@attrs.frozen
class StatusReport:
    """`Rollups.status`: change capture (None where the backend has none) and the accounts."""

    capture: CaptureStatus | None
    accounts: tuple[AccountStatus, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        capture = None if self.capture is None else self.capture.as_dict()
        return {"capture": capture, "accounts": [a.as_dict() for a in self.accounts]}


@attrs.frozen
class Status:
    """Reads the figures in one snapshot, then the capture status (no lock)."""

    uow_factory: UnitOfWorkFactory
    capture: ChangeCapture
    clock: Clock

    def __call__(
        self, account_id: int | None = None, host_zones: HostZones | None = None
    ) -> StatusReport:
        """The account's status, or every account's that any table knows; with `host_zones`,
        each account's conflict with the zone the host keeps for it (`sync --zones-from`)."""
        with self.uow_factory(read_only=True) as uow:
            figures = uow.status.figures(account_id)
        try:
            capture: CaptureStatus | None = self.capture.status()
        except ConfigurationError:
            capture = None
        hosted = {} if host_zones is None else all_zones(host_zones)
        now = self.clock()
        accounts = []
        for found in figures:
            status = self._account(found, now)
            conflict = _conflict(status, hosted.get(status.account_id))
            accounts.append(attrs.evolve(status, zone_conflict=conflict))
        return StatusReport(capture, tuple(accounts))

    @staticmethod
    def _account(figures: AccountFigures, now: datetime) -> AccountStatus:
        return AccountStatus(
            settings=figures.settings,
            raw_events=figures.raw_events,
            rollup_rows=figures.rollup_rows,
            pending=figures.pending,
            lag_seconds=age_seconds(now, figures.oldest_pending),
            last_sync=figures.last_sync,
            horizon=figures.horizon,
        )


def _conflict(status: AccountStatus, value: str | None) -> str | None:
    """Why the host's zone value is not the account's zone, or None (blank values, which
    `ZoneSync` leaves alone, are no conflict)."""
    try:
        zone = host_zone(value)
    except InvalidTimezoneError:
        return f"the host's zone {value!r} names no zone: the account keeps its own"
    if zone is None or zone == status.settings.timezone:
        return None
    if status.horizon is not None:
        return (
            f"the host's zone {value!r} is not applied: the account has sealed days before "
            f"{status.horizon}, which a zone change would drop"
        )
    return f"the host's zone {value!r} is not applied yet (the next `sync --zones-from` does)"
