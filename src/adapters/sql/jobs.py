"""The SQL `JobStore` (the same on SQLite and PostgreSQL, with the dialect's `insert`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Select, delete, func, or_, select, update

from reporting_rollups.adapters.sql.aggregation import naive_utc
from reporting_rollups.adapters.sql.queries import InsertOf
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.adapters.sql.tables import rollup_job_accounts, rollup_jobs
from reporting_rollups.application.ports import Job

_j, _a = rollup_jobs, rollup_job_accounts


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _jobs() -> Select[Any]:
    done = (
        select(func.count())
        .where(_a.c.job_id == _j.c.id)
        .correlate(_j)
        .scalar_subquery()
        .label("accounts_done")
    )
    return select(
        _j.c.id, _j.c.kind, _j.c.arguments, _j.c.started_at, _j.c.finished_at, done
    ).order_by(_j.c.id.desc())


def _job(row: Row[Any]) -> Job:
    job_id, kind, arguments, started_at, finished_at, done = tuple(row)
    return Job(
        int(job_id), kind, arguments, _aware(started_at) or started_at, _aware(finished_at), done
    )


class SqlJobStore:
    """`reporting_rollup_jobs` and `reporting_rollup_job_accounts`."""

    def __init__(self, session: SqlSession, insert: InsertOf) -> None:
        self.session = session
        self._insert = insert

    def start(self, kind: str, arguments: str, at: datetime) -> Job:
        statement = (
            _j.insert()
            .values(kind=kind, arguments=arguments, started_at=naive_utc(at))
            .returning(_j.c.id)
        )
        row = self.session.rows(statement, doing="starting a job")[0]
        return Job(int(row[0]), kind, arguments, at)

    def get(self, job_id: int) -> Job | None:
        rows = self.session.rows(_jobs().where(_j.c.id == job_id), doing="reading a job")
        return _job(rows[0]) if rows else None

    def unfinished(self, kind: str, arguments: str) -> Job | None:
        query = _jobs().where(
            _j.c.kind == kind, _j.c.arguments == arguments, _j.c.finished_at.is_(None)
        )
        rows = self.session.rows(query.limit(1), doing="reading unfinished jobs")
        return _job(rows[0]) if rows else None

    def recent(self, limit: int) -> list[Job]:
        newest = (
            select(_j.c.id)
            .where(_j.c.finished_at.is_not(None))
            .order_by(_j.c.id.desc())
            .limit(limit)
            .scalar_subquery()
        )
        query = _jobs().where(or_(_j.c.finished_at.is_(None), _j.c.id.in_(newest)))
        return [_job(row) for row in self.session.rows(query, doing="listing jobs")]

    def accounts(self, job_id: int) -> dict[int, int | None]:
        query = select(_a.c.account_id, _a.c.mismatches).where(_a.c.job_id == job_id)
        rows = self.session.rows(query, doing="reading a job's accounts")
        return {int(account_id): mismatches for account_id, mismatches in map(tuple, rows)}

    def account_done(
        self, job_id: int, account_id: int, at: datetime, mismatches: int | None
    ) -> None:
        statement = self._insert(_a).values(
            job_id=job_id, account_id=account_id, finished_at=naive_utc(at), mismatches=mismatches
        )
        statement = statement.on_conflict_do_nothing(index_elements=[_a.c.job_id, _a.c.account_id])
        self.session.execute(statement, doing="recording a job's account")

    def finish(self, job_id: int, at: datetime) -> None:
        statement = update(_j).where(_j.c.id == job_id).values(finished_at=naive_utc(at))
        self.session.execute(statement, doing="finishing a job")

    def forget(self, account_id: int) -> None:
        statement = delete(_a).where(_a.c.account_id == account_id)
        self.session.execute(statement, doing="forgetting an account's jobs")
