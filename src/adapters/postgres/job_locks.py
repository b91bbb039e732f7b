"""Who runs a fleet job (`application.jobs.JobLocks`) on PostgreSQL: a session-level advisory
lock on (`JOB_LOCK_CLASS`, job id), tried without waiting, on a connection held (in autocommit,
so no transaction stays open) for the run. The server releases it when that connection ends:
a runner killed or cut off leaves the job to the next one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Final

from sqlalchemy import func, select

from reporting_rollups.adapters.sql.database import SqlDatabase

#: The first key of the job advisory locks.
JOB_LOCK_CLASS: Final = 0x52524A42  # "RRJB"


class PostgresJobLocks:
    """Job locks across every process using the database."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    @contextlib.contextmanager
    def hold(self, job_id: int) -> Iterator[bool]:
        with self.database.errors("holding the job's lock"):
            connection = self.database.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            )
        try:
            with self.database.errors("holding the job's lock"):
                held = bool(
                    connection.scalar(select(func.pg_try_advisory_lock(JOB_LOCK_CLASS, job_id)))
                )
            try:
                yield held
            finally:
                if held:
                    with contextlib.suppress(Exception):  # a lost connection released it
                        connection.scalar(select(func.pg_advisory_unlock(JOB_LOCK_CLASS, job_id)))
        finally:
            with contextlib.suppress(Exception):
                connection.close()


__all__ = ["JOB_LOCK_CLASS", "PostgresJobLocks"]
