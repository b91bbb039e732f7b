"""The SQLite backend: every port on one database file, with hand-written hot paths on the
sqlite3 connection and serialised writers (`BEGIN IMMEDIATE`).

- `engine`: URL checks, pragmas, how transactions begin, what driver errors mean;
- `driver`: the live path's statements and how they run;
- `events`, `ledger`, `rollups`, `accounts`: one store per port;
- `rebuild`: rebuilding days (and `verify`'s aggregation) by index search and projection;
- `unit_of_work`: the transaction, the cross-store operations and the factory.
"""

from reporting_rollups.adapters.sqlite.engine import (
    DEFAULT_BUSY_TIMEOUT_MS,
    explain_sqlite,
    sqlite_engine,
    sqlite_errors,
    sqlite_path,
)
from reporting_rollups.adapters.sqlite.unit_of_work import (
    SQLiteUnitOfWork,
    SQLiteUnitOfWorkFactory,
)

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_MS",
    "SQLiteUnitOfWork",
    "SQLiteUnitOfWorkFactory",
    "explain_sqlite",
    "sqlite_engine",
    "sqlite_errors",
    "sqlite_path",
]
