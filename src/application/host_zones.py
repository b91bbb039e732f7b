"""Zones from the host: apply the reporting zones a host keeps for its accounts (Chatwoot:
`accounts.settings->>'reporting_timezone'`) with the rules of `set_timezone`.

A pass reads every host account's zone value, page by page in account order, and changes only
the accounts whose resolved zone differs from the library's: each change is
`AccountSettingsService.set_timezone(account, zone, rebuild=True)`, so rollups built in the old
zone are deleted before anything reads them and the account is rebuilt in the new one.
"""

from __future__ import annotations

import logging
from typing import Final, Protocol

import attrs

from reporting_rollups.application.ports import Progress, UnitOfWorkFactory
from reporting_rollups.application.settings import AccountSettingsService
from reporting_rollups.domain.errors import (
    ConfigurationError,
    InvalidTimezoneError,
    SealedDaysError,
    ZoneChangedError,
)
from reporting_rollups.domain.limits import MAX_REFERENCE_ID
from reporting_rollups.domain.rails_zones import resolve_zone

log = logging.getLogger(__name__)

#: Host accounts read at a time.
ZONES_PER_PAGE: Final = 1_000


class HostZones(Protocol):
    """Where the host keeps its accounts' reporting zones."""

    def zones(self, after: int, limit: int) -> list[tuple[int, str | None]]:
        """Up to `limit` (account id, the host's raw zone value) of the accounts whose id is
        above `after`, smallest id first. No lock."""
        ...


@attrs.frozen
class ZoneRejection:
    """A host account whose zone value names no zone: its zone and rollups were left alone."""

    account_id: int
    value: str  #: the host's value, as read
    reason: str


@attrs.define
class ZoneSyncResult:
    """What one pass over the host's zones did."""

    changed: list[int]  #: accounts whose zone was set to the host's
    rebuilt: int  #: of those, the accounts rebuilt in their new zone
    rejected: list[ZoneRejection]  #: accounts whose host value names no zone


@attrs.frozen
class ZoneSync:
    """Applies the host's zones to the library's accounts.

    A value is an IANA zone name, or a Rails one ("Eastern Time (US & Canada)") mapped to its
    IANA zone (`domain.rails_zones`). A blank value (None, or only whitespace, as Rails'
    `blank?`: "no reporting zone configured") leaves the account alone: it does not clear a
    zone the operator set with `rollups timezone`, which would delete the account's rollups.
    Any other value is a `ZoneRejection` (one warning logged), and the account keeps its zone
    and rollups. Accounts whose zone already equals the host's are not touched, even when their
    rollups are not current (a rebuild that did not finish): `rebuild` is the operator's.
    """

    source: HostZones
    settings: AccountSettingsService
    uow_factory: UnitOfWorkFactory

    def run(self, progress: Progress | None = None) -> ZoneSyncResult:
        """One pass over every host account; `progress` follows each rebuild."""
        result = ZoneSyncResult([], 0, [])
        after = 0
        while page := self.source.zones(after, ZONES_PER_PAGE):
            check_page(page, after, ZONES_PER_PAGE)
            wanted = self._wanted(page, result)
            with self.uow_factory(read_only=True) as uow:
                current = {
                    account_id: uow.accounts.get(account_id).timezone for account_id in wanted
                }
            for account_id, zone in wanted.items():
                if zone != current[account_id]:
                    self._change(result, account_id, zone, progress)
            after = page[-1][0]
        if result.changed:
            log.info("zones from the host: %d accounts changed zone", len(result.changed))
        return result

    def _change(
        self, result: ZoneSyncResult, account_id: int, zone: str, progress: Progress | None
    ) -> None:
        try:
            rebuilt = self.settings.set_timezone(account_id, zone, rebuild=True, progress=progress)
        except ZoneChangedError as error:  # the zone was set; whoever changed it since rebuilds
            log.info("zones from the host: %s", error)
            rebuilt = None
        except SealedDaysError as error:  # sealed history is never dropped on the host's word
            self._reject(result, ZoneRejection(account_id, zone, str(error)))
            return
        result.changed.append(account_id)
        if rebuilt is not None:
            result.rebuilt += 1

    def _wanted(self, page: list[tuple[int, str | None]], result: ZoneSyncResult) -> dict[int, str]:
        """The IANA zone each account of the page should have (blank values left out); the
        accounts whose value names none are rejected."""
        wanted: dict[int, str] = {}
        for account_id, value in page:
            problem: str | None = None
            try:
                zone = host_zone(value)
            except InvalidTimezoneError as error:
                zone, problem = None, str(error)
            if zone is None and problem is None:  # blank: no zone configured
                continue
            if account_id > MAX_REFERENCE_ID:  # ids are above 0 (`after` starts there)
                problem = f"account id outside 1 to {MAX_REFERENCE_ID}, the ids events can have"
            if zone is not None and problem is None:
                wanted[account_id] = zone
            else:
                self._reject(result, ZoneRejection(account_id, str(value), problem or ""))
        return wanted

    @staticmethod
    def _reject(result: ZoneSyncResult, rejection: ZoneRejection) -> None:
        log.warning(
            "zones from the host: account %d keeps its zone and rollups: %s",
            rejection.account_id,
            rejection.reason,
        )
        result.rejected.append(rejection)


def host_zone(value: str | None) -> str | None:
    """The IANA zone a host's value names (IANA or Rails name); None for a blank value (None,
    or only white space, as Rails' `blank?`: no zone configured, the account is left alone).
    `InvalidTimezoneError` for anything else."""
    if value is None or not value.strip():
        return None
    return resolve_zone(value)


def all_zones(source: HostZones) -> dict[int, str | None]:
    """Every host account's raw zone value, page by page."""
    found: dict[int, str | None] = {}
    after = 0
    while page := source.zones(after, ZONES_PER_PAGE):
        check_page(page, after, ZONES_PER_PAGE)
        found.update(page)
        after = page[-1][0]
    return found


def check_page(page: list[tuple[int, str | None]], after: int, limit: int) -> None:
    """`ConfigurationError` unless a source's page pages as `HostZones.zones` says (otherwise a
    pass might not end, or might see an account twice)."""
    ids = [account_id for account_id, _ in page]
    if len(ids) > limit or ids[0] <= after or ids != sorted(set(ids)):
        raise ConfigurationError(
            f"the host's zone source returned account ids {ids[:3]}... for ids above {after} "
            f"(at most {limit}): it must return ids above it, ascending, at most that many"
        )
