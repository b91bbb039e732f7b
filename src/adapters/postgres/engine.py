"""The PostgreSQL engine (psycopg 3): URL checks, the pool and its health checks, and what the
driver's errors mean (`explain_postgres`, `postgres_errors`)."""

from __future__ import annotations

import select
import time
from typing import Any, Final

import psycopg
from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc

from reporting_rollups.adapters.postgres.arrays import register_array_dumpers
from reporting_rollups.adapters.sql.errors import ErrorTranslator, Explanation, driver_message
from reporting_rollups.adapters.urls import password_forms, redact
from reporting_rollups.domain.errors import ConfigurationError, StorageError

_SCHEMES: Final = ("postgresql", "postgres", "postgresql+psycopg")
_USAGE: Final = "use postgresql://user:password@host:5432/dbname"

_CONNECT_ADVICE: Final = (
    "check that PostgreSQL is running and that the URL's host and port are right"
)


def explain_postgres(error: BaseException) -> Explanation | None:
    """What a psycopg error means and what to do about it."""
    if not isinstance(error, psycopg.Error):
        return None
    state = error.sqlstate or ""
    message = driver_message(error)
    lowered = message.lower()
    advice: str | None = None
    if (
        state in ("28P01", "28000")
        or "authentication failed" in lowered
        or "no password supplied" in lowered
        or ('role "' in lowered and "does not exist" in lowered)
    ):
        advice = "check the user name and password in the URL (or PGPASSWORD / ~/.pgpass)"
    elif "pg_hba.conf" in lowered:
        advice = "the server refuses this user from this host: check the URL or pg_hba.conf"
    elif state == "3D000" or ('database "' in lowered and "does not exist" in lowered):
        advice = "create the database (createdb NAME) or fix the database name in the URL"
    elif state == "42501" or "permission denied" in lowered:
        advice = (
            "grant the user the privileges it needs (USAGE and CREATE on the schema to migrate; "
            "SELECT, INSERT, UPDATE, DELETE on reporting_events, reporting_events_rollups and "
            "the reporting_rollup_* tables to run), or run `rollups migrate` as the owner and "
            "open with migrate=False"
        )
    elif state in ("42P01", "42703"):
        advice = "the schema is missing or out of date; run `rollups migrate`"
    elif state in ("40P01", "40001"):
        advice = "a concurrent transaction conflicted with this one; retry"
    elif state in ("55P03", "57014"):
        advice = "a lock or statement timeout expired; retry later"
    elif state == "25006":
        advice = "the server is read-only (a standby?); connect to the primary"
    elif state.startswith("53"):
        advice = "the server is out of resources (disk, memory or connections); retry later"
    elif state.startswith("57P") or state.startswith("08"):
        advice = "the connection was lost or the server is restarting; retry"
    elif state == "22003":
        advice = "a number is too large for its column"
    elif isinstance(error, psycopg.OperationalError):
        advice = _CONNECT_ADVICE
    if advice is None:
        return None
    return StorageError, f"{message}; {advice}"


def postgres_url(url: str) -> URL:
    """The SQLAlchemy URL for ``postgresql://`` / ``postgres://`` / ``postgresql+psycopg://``,
    on the psycopg 3 driver. `ConfigurationError` (password redacted) when malformed or when it
    names no database (in the path, or as ``?dbname=`` / ``?service=``)."""
    shown = redact(url)
    scheme = url.split("://", 1)[0].lower() if isinstance(url, str) and "://" in url else ""
    if scheme not in _SCHEMES:
        raise ConfigurationError(f"database URL {shown!r} is not a PostgreSQL URL; {_USAGE}")
    try:
        parsed = make_url("postgresql+psycopg://" + url.split("://", 1)[1])
    except (sa_exc.ArgumentError, ValueError, TypeError):
        raise ConfigurationError(f"database URL {shown!r} is malformed; {_USAGE}") from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ConfigurationError(
            f"database URL {shown!r}: port {parsed.port} is out of range; {_USAGE}"
        )
    if "@" in (parsed.host or ""):
        raise ConfigurationError(
            f"database URL {shown!r} has an '@' after the user name and password; write an '@' "
            f"in the user name or password as %40 (and ':' in the password as %3A); {_USAGE}"
        )
    if not (parsed.database or parsed.query.get("dbname") or parsed.query.get("service")):
        raise ConfigurationError(
            f"database URL {shown!r} names no database (PostgreSQL would pick a default one and "
            f"the library would create its tables there); name the database: {_USAGE}"
        )
    return parsed


#: A pooled connection idle for longer than this is pinged before use (seconds).
IDLE_PING_SECONDS: Final = 10.0


def _on_connect(dbapi_connection: Any, _record: object) -> None:
    register_array_dumpers(dbapi_connection)


def _note_checkin(_dbapi_connection: object, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _has_input(dbapi_connection: Any) -> bool:
    """Whether the server sent something to a connection that is idle in the pool (one
    non-blocking poll of its socket). An idle connection is sent nothing unless the server
    closes it (the FATAL message of `pg_terminate_backend`, a shutdown or an idle timeout, then
    end of file) or reports a parameter change or a notice."""
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None:  # SQLAlchemy's adapter of an asyncio connection: pinged when idle only
        return False
    fd = fileno()
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return bool(select.select([fd], [], [fd], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: object) -> None:
    """Check a pooled connection before use; SQLAlchemy replaces one that fails, so a
    connection the server closed is never handed out. The hot path pays one non-blocking poll
    of the socket; a round trip (``SELECT 1``) is made only when the server sent something
    while the connection sat in the pool, or when it sat there longer than
    `IDLE_PING_SECONDS` (a peer that vanished without closing the socket sends nothing)."""
    if dbapi_connection.closed or dbapi_connection.broken:
        raise sa_exc.DisconnectionError("connection closed")
    checked_in_at = record.info.get("checked_in_at")
    idle = checked_in_at is not None and time.monotonic() - checked_in_at >= IDLE_PING_SECONDS
    if not (idle or _has_input(dbapi_connection)):
        return
    try:
        cursor = dbapi_connection.cursor()  # DB-API calls: the same on the asyncio adapter
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()
    except psycopg.Error as error:
        raise sa_exc.DisconnectionError("stale pooled connection") from error


def postgres_engine(
    url: str, *, pool_size: int = 5, max_overflow: int = 10, asyncio: bool = False
) -> Engine:
    """A pooled engine (psycopg 3; pooled connections are checked before use, see
    `_ping_if_idle`) for a PostgreSQL URL. Nothing is opened until first used. With `asyncio`,
    the synchronous face of an engine on psycopg's asyncio connections, whose every call must
    run under SQLAlchemy's greenlet bridge (`adapters.asyncio`)."""
    parsed = postgres_url(url)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = 10
    if "application_name" not in parsed.query:
        connect_args["application_name"] = "reporting-rollups"
    options: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_recycle": 1800,
        "hide_parameters": True,
        "connect_args": connect_args,
    }
    if asyncio:
        from sqlalchemy.ext.asyncio import create_async_engine

        asynchronous = parsed.set(drivername="postgresql+psycopg_async")
        engine = create_async_engine(asynchronous, **options).sync_engine
    else:
        engine = create_engine(parsed, **options)
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


def postgres_errors(url: str) -> ErrorTranslator:
    """The error translator for a PostgreSQL URL: names the database with its password
    redacted, and scrubs every form of the password from the driver's messages."""
    return ErrorTranslator(f"PostgreSQL {redact(url)}", explain_postgres, password_forms(url))
