"""The PostgreSQL backend (psycopg 3): every port, with bulk hot paths (one statement over
`unnest` of binary arrays per write) and row locks that order concurrent writers.

- `engine`: URL checks, the pool, what driver errors mean;
- `statements`, `aggregation`, `arrays`, `driver`: the hand-written SQL and how it is sent;
- `events`, `ledger`, `rollups`, `accounts`: one store per port;
- `unit_of_work`: the transaction, the cross-store operations and the factory.
"""

from reporting_rollups.adapters.postgres.engine import (
    explain_postgres,
    postgres_engine,
    postgres_errors,
    postgres_url,
)
from reporting_rollups.adapters.postgres.unit_of_work import (
    PostgresUnitOfWork,
    PostgresUnitOfWorkFactory,
)

__all__ = [
    "PostgresUnitOfWork",
    "PostgresUnitOfWorkFactory",
    "explain_postgres",
    "postgres_engine",
    "postgres_errors",
    "postgres_url",
]
