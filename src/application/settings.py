"""Account settings use cases: the reporting time zone and the read-path switch."""

from __future__ import annotations

import attrs

from reporting_rollups.application.backfill import Backfill, BackfillResult, check_generation
from reporting_rollups.application.ports import AccountSettings, Progress, UnitOfWorkFactory
from reporting_rollups.domain.errors import SealedDaysError
from reporting_rollups.domain.timezones import parse_timezone


@attrs.frozen
class AccountSettingsService:
    """Sets an account's zone (invalidating rollups built in another) and rebuilds them."""

    uow_factory: UnitOfWorkFactory
    backfill: Backfill

    def get(self, account_id: int) -> AccountSettings:
        """The account's settings."""
        with self.uow_factory(read_only=True) as uow:
            return uow.accounts.get(account_id)

    def set_timezone(
        self,
        account_id: int,
        timezone: str | None,
        *,
        rebuild: bool = True,
        progress: Progress | None = None,
        drop_sealed_history: bool = False,
    ) -> BackfillResult | None:
        """Set (or with None clear) the reporting time zone.

        Rollups built in another zone are deleted at once, so they are never read as if they were
        in the new one; reports come from raw events until a rebuild completes. With `rebuild`, the
        account's rollups are rebuilt now (`rebuild()` does it later). An account with sealed
        days (`purge`) cannot have them rebuilt in another zone: `SealedDaysError`, unless
        `drop_sealed_history` accepts that their rollups are deleted for good.
        """
        if timezone is not None:
            parse_timezone(timezone)
        with self.uow_factory() as uow:
            settings = uow.accounts.lock_exclusive(account_id)
            if settings.timezone != timezone:
                horizon = uow.retention.horizon(account_id)
                if horizon is not None and not drop_sealed_history:
                    raise SealedDaysError(
                        account_id,
                        horizon,
                        f"changing the zone to {timezone!r} would delete their rollups for good "
                        "(no raw events are left to rebuild them); accept that explicitly "
                        "(drop_sealed_history, --drop-sealed-history) or keep the zone",
                    )
                uow.retention.seal(account_id, None)
                uow.rollups.clear_account(account_id)
                uow.ledger.clear_account(account_id)
                settings = attrs.evolve(
                    settings,
                    timezone=timezone,
                    rollup_timezone=None,
                    generation=settings.generation + 1,
                )
                uow.accounts.save(settings)
                uow.commit()
        if timezone is None or not rebuild or settings.rollup_timezone == timezone:
            return None
        return self.rebuild(account_id, progress)

    def rebuild(self, account_id: int, progress: Progress | None = None) -> BackfillResult:
        """Rebuild every day of the account, through today, then mark its rollups current.

        `ZoneChangedError` (nothing marked current) when the zone changes while it runs.
        """
        plan = self.backfill.plan(account_id, through_today=True)
        result = self.backfill.run(plan, progress)
        with self.uow_factory() as uow:
            settings = uow.accounts.lock_exclusive(account_id)
            check_generation(plan, settings)
            uow.accounts.save(attrs.evolve(settings, rollup_timezone=plan.timezone))
            uow.commit()
        return result

    def enable_read_path(self, account_id: int, enabled: bool = True) -> AccountSettings:
        """Serve this account's reports from rollups when they can answer (off by default)."""
        with self.uow_factory() as uow:
            settings = attrs.evolve(
                uow.accounts.lock_exclusive(account_id), read_path_enabled=bool(enabled)
            )
            uow.accounts.save(settings)
            uow.commit()
        return settings
