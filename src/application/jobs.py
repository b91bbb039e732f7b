"""Fleet jobs as the library keeps them (`JobStore`, on `UnitOfWork.jobs`): see
`application.fleet` for the runs."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

import attrs


@attrs.frozen
class Job:
    """A fleet run as the library's tables keep it."""

    id: int
    kind: str
    arguments: str  #: canonical JSON of the run's arguments (`job_arguments`)
    started_at: datetime
    finished_at: datetime | None = None  #: None until every account ran without an error
    accounts_done: int = 0  #: accounts recorded as finished

    @property
    def finished(self) -> bool:
        """Whether the job is done (it is then never resumed)."""
        return self.finished_at is not None


class JobStore(Protocol):
    """Fleet jobs (`reporting_rollup_jobs`) and the accounts each finished
    (`reporting_rollup_job_accounts`). Times are aware UTC."""

    def start(self, kind: str, arguments: str, at: datetime) -> Job:
        """Create an unfinished job."""
        ...

    def get(self, job_id: int) -> Job | None:
        """The job, or None. No lock."""
        ...

    def unfinished(self, kind: str, arguments: str) -> Job | None:
        """The newest unfinished job of that kind and arguments, or None. No lock."""
        ...

    def recent(self, limit: int) -> list[Job]:
        """Every unfinished job and the `limit` newest finished ones, newest first. No lock."""
        ...

    def accounts(self, job_id: int) -> dict[int, int | None]:
        """The accounts the job finished, with their mismatches (verify; else None)."""
        ...

    def account_done(
        self, job_id: int, account_id: int, at: datetime, mismatches: int | None
    ) -> None:
        """Record that the job finished the account (idempotent)."""
        ...

    def finish(self, job_id: int, at: datetime) -> None:
        """Mark the job finished."""
        ...

    def forget(self, account_id: int) -> None:
        """Delete the account's records in every job (`Rollups.forget`)."""
        ...


class JobLocks(Protocol):
    """At most one runner per fleet job, across processes."""

    def hold(self, job_id: int) -> AbstractContextManager[bool]:
        """Hold the job for the block: True when the caller now runs it alone, False when
        another process or thread holds it. Released at the end of the block, and by the
        operating system or the server when the holding process dies."""
        ...
