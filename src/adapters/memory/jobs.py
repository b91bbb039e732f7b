"""In-memory `JobStore`: fleet jobs and the accounts each finished."""

from __future__ import annotations

from datetime import datetime

import attrs

from reporting_rollups.adapters.memory.database import InMemoryDatabase
from reporting_rollups.adapters.memory.journal import JournalledStore
from reporting_rollups.application.ports import Job


@attrs.frozen
class JobTables:
    """The job tables of an in-memory database."""

    jobs: dict[int, Job]
    accounts: dict[int, dict[int, int | None]]  #: job id -> account id -> mismatches


def job_tables(db: InMemoryDatabase) -> JobTables:
    """The job tables of `db`."""
    return JobTables(db.jobs, db.job_accounts)


class InMemoryJobStore(JournalledStore):
    """Fleet jobs in memory."""

    @property
    def _tables(self) -> JobTables:
        return job_tables(self.db)

    def _job(self, job: Job) -> Job:
        return attrs.evolve(job, accounts_done=len(self._tables.accounts.get(job.id, {})))

    def start(self, kind: str, arguments: str, at: datetime) -> Job:
        jobs = self._tables.jobs
        job = Job(max(jobs, default=0) + 1, kind, arguments, at)
        self.journal.set(jobs, job.id, job)
        return job

    def get(self, job_id: int) -> Job | None:
        job = self._tables.jobs.get(job_id)
        return None if job is None else self._job(job)

    def unfinished(self, kind: str, arguments: str) -> Job | None:
        found = [
            job
            for job in self._tables.jobs.values()
            if (job.kind, job.arguments) == (kind, arguments) and not job.finished
        ]
        return self._job(max(found, key=lambda job: job.id)) if found else None

    def recent(self, limit: int) -> list[Job]:
        jobs = sorted(self._tables.jobs.values(), key=lambda job: -job.id)
        finished = [job.id for job in jobs if job.finished][:limit]
        return [self._job(job) for job in jobs if not job.finished or job.id in finished]

    def accounts(self, job_id: int) -> dict[int, int | None]:
        return dict(self._tables.accounts.get(job_id, {}))

    def account_done(
        self, job_id: int, account_id: int, at: datetime, mismatches: int | None
    ) -> None:
        done = self.journal.child(self._tables.accounts, job_id)
        if account_id not in done:
            self.journal.set(done, account_id, mismatches)

    def finish(self, job_id: int, at: datetime) -> None:
        jobs = self._tables.jobs
        self.journal.set(jobs, job_id, attrs.evolve(jobs[job_id], finished_at=at))

    def forget(self, account_id: int) -> None:
        for done in self._tables.accounts.values():
            if account_id in done:
                self.journal.delete(done, account_id)
