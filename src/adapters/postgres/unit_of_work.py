"""PostgreSQL units of work (psycopg 3, READ COMMITTED) and their factory.

`record` costs BEGIN, one statement that locks the accounts, stores the raw events and marks
them applied (`STORE_BATCH`), the members upsert (only for handoffs), the rollup upsert and
COMMIT; a few new events of one account whose zone was seen, one call (`one_call`). A
backfill chunk is a delete and one rebuild statement (`postgres_rebuild_statement`).

Locking. Each account has a row in `reporting_rollup_accounts`:
- live writers and retractions take it FOR SHARE (`lock_shared`): many run at once;
- backfill chunks, `set_timezone` and `rebuild` take it FOR UPDATE (`lock_exclusive`), so
  while a day is being replaced no writer of that account is between its reads and its commit;
- readers (`rows`, reports, `verify`, plans) take no lock: one REPEATABLE READ, READ ONLY
  snapshot (`READ_ONLY_BEGIN`).
Every transaction takes its locks in the global order of `application.ports.LOCK_ORDER`;
`STORE_BATCH` writes nothing unless every account row already exists (otherwise the rows are
created and locked first, step by step). Exclusive holders touch only their account's rows
(every key starts with account_id).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Final, Self

import attrs
import psycopg
from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert as postgresql_insert

from reporting_rollups.adapters.postgres.accounts import PostgresAccountStore
from reporting_rollups.adapters.postgres.aggregation import postgres_rebuild_statement
from reporting_rollups.adapters.postgres.arrays import DateArray, TimestampArray
from reporting_rollups.adapters.postgres.capture import PostgresCapture
from reporting_rollups.adapters.postgres.changes import PostgresChangeLog
from reporting_rollups.adapters.postgres.citus import is_distributed
from reporting_rollups.adapters.postgres.citus_functions import (
    PLAIN_RECORD,
    REBUILD,
    RECORD,
    RoutedFunction,
    ensure_defined,
    ensure_functions,
    is_defined,
    require_functions,
)
from reporting_rollups.adapters.postgres.driver import execute, fetch_one
from reporting_rollups.adapters.postgres.engine import postgres_engine, postgres_errors
from reporting_rollups.adapters.postgres.events import PostgresEventStore
from reporting_rollups.adapters.postgres.host import (
    PsycopgHost,
    borrowing_engine,
    prepare,
    reset_origin,
)
from reporting_rollups.adapters.postgres.job_locks import PostgresJobLocks
from reporting_rollups.adapters.postgres.ledger import PostgresAppliedLedger
from reporting_rollups.adapters.postgres.one_call import PostgresOneCall
from reporting_rollups.adapters.postgres.rollups import PostgresRollupStore
from reporting_rollups.adapters.postgres.statements import DELETE_DAYS
from reporting_rollups.adapters.sql.aggregation import naive_utc
from reporting_rollups.adapters.sql.database import SqlDatabase
from reporting_rollups.adapters.sql.host import Finish, HostConnection, SqlAlchemyHost
from reporting_rollups.adapters.sql.jobs import SqlJobStore
from reporting_rollups.adapters.sql.migrate import lock_migrations
from reporting_rollups.adapters.sql.reports import SqlReportStore
from reporting_rollups.adapters.sql.retention import SqlRetentionStore
from reporting_rollups.adapters.sql.status import SqlStatusStore
from reporting_rollups.adapters.sql.unit_of_work import (
    SqlTransaction,
    SqlUnitOfWorkFactory,
    host_sqlalchemy_connection,
    not_a_connection,
)
from reporting_rollups.application.ports import (
    ChangesArrived,
    RebuildStats,
    StoredBatch,
    UnavailableCapture,
    store_stepwise,
    to_mark,
)
from reporting_rollups.domain.errors import ConfigurationError
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.timezones import LocalDay

#: A read-only unit of work is one snapshot that takes no row lock.
READ_ONLY_BEGIN: Final = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


class PostgresUnitOfWork(SqlTransaction):
    """One PostgreSQL transaction over every store; rolled back unless `commit()` was called."""

    def __init__(
        self, database: SqlDatabase, *, read_only: bool = False, distributed: bool = False
    ) -> None:
        super().__init__(database, read_only=read_only)
        session = self.session
        #: a distributed database (`adapters.postgres.citus`): statements one account each
        self.distributed: Final = distributed
        self.events: Final = PostgresEventStore(session, distributed=distributed)
        self.ledger: Final = PostgresAppliedLedger(session, distributed=distributed)
        self.rollups: Final = PostgresRollupStore(session, distributed=distributed)
        self.accounts: Final = PostgresAccountStore(session, distributed=distributed)
        self.reports: Final = SqlReportStore(session)
        self.changes: Final = PostgresChangeLog(session)
        self.status: Final = SqlStatusStore(session)
        self.retention: Final = SqlRetentionStore(session, postgresql_insert)
        self.jobs: Final = SqlJobStore(session, postgresql_insert)

    def store_batch(self, events: Sequence[Event]) -> StoredBatch:
        """In one round trip when every account row exists (`PostgresEventStore.store_new`);
        events stored before are then held and checked in a second one, and marked."""
        first = self.events.store_new(events)
        if first is None:
            return store_stepwise(events, self.accounts, self.events, self.ledger)
        done, before = first
        if not before:
            return done
        held = self.events.hold(before)
        fresh = self.ledger.mark(to_mark(before, done.settings, held))
        return attrs.evolve(done, fresh=done.fresh | fresh)

    def rebuild_days(self, account_id: int, days: Sequence[LocalDay]) -> RebuildStats:
        """The days' rows and members deleted, then one statement that aggregates, marks and
        writes (`postgres_rebuild_statement`)."""
        if not days:
            return RebuildStats(0, 0)
        session = self.session
        dates = DateArray([day.date for day in days])
        params = {
            "account": account_id,
            "start": naive_utc(days[0].start),
            "end": naive_utc(days[-1].end),
            "starts": TimestampArray([day.start for day in days]),
            "dates": dates,
            "now": session.now(),
        }
        if self.distributed:  # both statements in the routed function, on the account's shard
            statement = REBUILD.call
        else:
            execute(session, DELETE_DAYS, params, doing="rebuilding rollup days")
            statement = postgres_rebuild_statement(session.dialect)
        events, rows, arrived = fetch_one(
            session, statement, params, doing="rebuilding rollup days"
        )
        if arrived:
            raise ChangesArrived(account_id)
        return RebuildStats(int(events), int(rows))


def _prepare_functions(
    database: SqlDatabase, *, migrate: bool
) -> tuple[bool, RoutedFunction | None]:
    """Whether the tables are distributed (Citus), and the function that records a few events
    in one call. Distributed: the routed functions this version lacks are created (`migrate`,
    under the migration lock) or required; the function is `RECORD`. Plain: `PLAIN_RECORD`,
    created if missing (`migrate`, under the lock); without `migrate`, only if the database has
    it (else None: `record()` takes its unit of work)."""
    try:
        with (
            database.errors("preparing the server-side functions"),
            database.engine.connect() as connection,
            connection.begin(),
        ):
            distributed = is_distributed(connection)
            if migrate:
                lock_migrations(connection)
                if distributed:
                    ensure_functions(connection)
                else:
                    ensure_defined(connection, PLAIN_RECORD)
            elif distributed:
                require_functions(connection)
            elif not is_defined(connection, PLAIN_RECORD):
                return False, None
        return distributed, RECORD if distributed else PLAIN_RECORD
    except BaseException:
        database.close()
        raise


#: Why change capture is refused on a distributed database.
CAPTURE_NOT_DISTRIBUTED: Final = (
    "change capture is not supported on a distributed database (Citus): its triggers would run "
    "on the workers, in their own transactions. Follow the host's writes with `rollups sync "
    "--scan` (Rollups.scan) instead"
)


class PostgresUnitOfWorkFactory(SqlUnitOfWorkFactory[PostgresUnitOfWork]):
    """Units of work on a PostgreSQL database, from a connection pool."""

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        migrate: bool = True,
        reference_indexes: bool = False,
        pool_size: int = 5,
        max_overflow: int = 10,
        local_tables: bool = False,
        asyncio: bool = False,
    ) -> Self:
        """Open ``postgresql://...``: create or upgrade the schema (`migrate`), or check that it
        is current. On a database with Citus a fresh schema is created distributed unless
        `local_tables`. Raises `StorageError` when the server cannot be reached. With
        `asyncio`, on psycopg's asyncio connections: every call under the greenlet bridge."""
        engine = postgres_engine(
            url, pool_size=pool_size, max_overflow=max_overflow, asyncio=asyncio
        )
        database = SqlDatabase(engine, postgres_errors(url), READ_ONLY_BEGIN)
        return cls._opened(
            database,
            migrate=migrate,
            reference_indexes=reference_indexes,
            local_tables=local_tables,
        )

    @classmethod
    def from_engine(
        cls,
        engine: Engine,
        *,
        migrate: bool = True,
        reference_indexes: bool = False,
        local_tables: bool = False,
    ) -> Self:
        """`from_url` on the host's own SQLAlchemy engine (psycopg 3) and its pool: the library
        adds no hook to it (it readies each connection it is lent: `ready`) and never
        disposes of it."""
        url = engine.url.render_as_string(hide_password=False)
        database = SqlDatabase(
            engine, postgres_errors(url), READ_ONLY_BEGIN, ready=prepare, owned=False
        )
        return cls._opened(
            database,
            migrate=migrate,
            reference_indexes=reference_indexes,
            local_tables=local_tables,
        )

    @classmethod
    def _opened(
        cls, database: SqlDatabase, *, migrate: bool, reference_indexes: bool, local_tables: bool
    ) -> Self:
        database.prepare(
            migrate=migrate, reference_indexes=reference_indexes, local_tables=local_tables
        )
        distributed, record_function = _prepare_functions(database, migrate=migrate)
        factory = cls(database, functools.partial(PostgresUnitOfWork, distributed=distributed))
        factory.distributed = distributed
        factory.record_function = record_function
        return factory

    def _on(self, database: SqlDatabase) -> Self:
        factory = super()._on(database)
        factory.distributed = self.distributed
        return factory

    def _host_connection(self, connection: object) -> tuple[HostConnection, Finish | None]:
        host = host_sqlalchemy_connection(connection)
        if host is not None:
            return SqlAlchemyHost(host, "postgresql", "psycopg", prepare), reset_origin
        if isinstance(connection, psycopg.Connection):
            return PsycopgHost(connection, self._borrowing_engine), reset_origin
        raise ConfigurationError(
            not_a_connection(connection, "a SQLAlchemy Connection or a psycopg 3 Connection")
        )

    @functools.cached_property
    def _borrowing_engine(self) -> Engine:
        return borrowing_engine()

    #: whether the tables are distributed (Citus: `adapters.postgres.citus`)
    distributed: bool = False
    #: the function that records a few events in one call (`one_call`), if the database has it
    record_function: RoutedFunction | None = None

    @property
    def capture(self) -> PostgresCapture | UnavailableCapture:
        """Change capture on this database's `reporting_events` (refused on a distributed
        one: its triggers would fire on the workers, in their own transactions)."""
        if self.distributed:
            return UnavailableCapture(CAPTURE_NOT_DISTRIBUTED)
        return PostgresCapture(self.database)

    @functools.cached_property
    def one_call(self) -> PostgresOneCall | None:
        """`record()` of one account's few new events in one call of `record_function`
        instead of a unit of work's BEGIN, statements and COMMIT (each a round trip; on a
        distributed database, to a worker)."""
        function = self.record_function
        return None if function is None else PostgresOneCall(self.database, function)

    @functools.cached_property
    def job_locks(self) -> PostgresJobLocks:
        """Who runs a fleet job: advisory locks on this database."""
        return PostgresJobLocks(self.database)
