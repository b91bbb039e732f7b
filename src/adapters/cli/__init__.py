"""The `rollups` command line: ingest, backfill, report, verify and a demo, on any database URL.

Data (reports, rows, summaries) goes to stdout; progress bars, plans, warnings and errors go to
stderr. Errors are one line (`error: ...`) with the exit codes listed in `EXIT_CODES`.

`app` holds the commands; each command module registers its own on import, and `rollups --help`
lists them in the order imported below.
"""

# isort: off
from reporting_rollups.adapters.cli import (
    schema,
    settings,
    ingest,
    retract,
    purge,
    retention,
    forget,
    capture,
    sync,
    status,
    backfill,
    fleet,
    rows,
    demo,
    reports,
)

# isort: on
from reporting_rollups.adapters.cli.app import (
    DEFAULT_DB,
    EXIT_CODES,
    EXIT_DATABASE,
    EXIT_INTERRUPTED,
    EXIT_MISMATCH,
    EXIT_OK,
    EXIT_USAGE,
    CliInputError,
    app,
    main,
    report_app,
)
from reporting_rollups.adapters.cli.backfill import LONG_BACKFILL_DAYS
from reporting_rollups.adapters.cli.rows import ROW_COLUMNS

__all__ = [
    "DEFAULT_DB",
    "EXIT_CODES",
    "EXIT_DATABASE",
    "EXIT_INTERRUPTED",
    "EXIT_MISMATCH",
    "EXIT_OK",
    "EXIT_USAGE",
    "LONG_BACKFILL_DAYS",
    "ROW_COLUMNS",
    "CliInputError",
    "app",
    "backfill",
    "capture",
    "demo",
    "fleet",
    "forget",
    "ingest",
    "main",
    "purge",
    "report_app",
    "reports",
    "retention",
    "retract",
    "rows",
    "schema",
    "settings",
    "status",
    "sync",
]
