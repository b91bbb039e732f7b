"""`OneCallRecorder` on PostgreSQL: `record()` of a few new events of one account as one call of
a server-side function (`citus_functions.RECORD`, or `PLAIN_RECORD` on a plain database),
outside any explicit transaction: one round trip, against BEGIN, a statement per step and COMMIT
in a unit of work. On a distributed database Citus delegates the call to the worker holding the
account's shard, which runs it in a transaction of its own and commits it there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import psycopg

from reporting_rollups.adapters.clock import system_clock
from reporting_rollups.adapters.postgres.arrays import (
    Float8Array,
    Int8Array,
    event_arrays,
    key_arrays,
)
from reporting_rollups.adapters.postgres.citus_functions import (
    NOT_ALL_NEW,
    ROW_BY_ROW,
    RoutedFunction,
)
from reporting_rollups.adapters.sql.aggregation import naive_utc
from reporting_rollups.adapters.sql.database import SqlDatabase
from reporting_rollups.application.ports import OneCallOutcome
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import MetricContribution, RollupKey
from reporting_rollups.domain.projection import Member

_NO_CONTRIBUTION: Final = MetricContribution(0, 0.0, 0.0)


class PostgresOneCall:
    """Records one account's few new events with one autocommitted call of `function`
    (`RECORD` on a distributed database, `PLAIN_RECORD` on a plain one)."""

    #: the function writes row by row (Citus's fast path), as the store does up to this size
    max_events: int = ROW_BY_ROW

    def __init__(self, database: SqlDatabase, function: RoutedFunction) -> None:
        self.database = database
        self.call = function.call

    def record_new(
        self,
        events: Sequence[Event],
        timezone: str,
        deltas: Mapping[RollupKey, MetricContribution],
        members: Mapping[Member, int],
    ) -> OneCallOutcome:
        params = _params(events, timezone, deltas, members)
        raw = self.database.engine.raw_connection()
        try:
            # DB-API calls only: the same on SQLAlchemy's adapter of an asyncio connection
            connection: Any = raw.dbapi_connection
            if self.database.ready is not None:
                self.database.ready(connection, False)
            connection.autocommit = True
            try:
                with self.database.errors("recording events"):
                    cursor = connection.cursor()
                    try:
                        cursor.execute(self.call, params)
                        row = cursor.fetchone()
                    except psycopg.Error as error:
                        if error.sqlstate != NOT_ALL_NEW:
                            raise
                        return OneCallOutcome(False, timezone)
                    finally:
                        cursor.close()
            finally:
                if not connection.closed:
                    connection.autocommit = False
        finally:
            raw.close()
        recorded, zone = row
        return OneCallOutcome(bool(recorded), zone)


def _params(
    events: Sequence[Event],
    timezone: str,
    deltas: Mapping[RollupKey, MetricContribution],
    members: Mapping[Member, int],
) -> dict[str, Any]:
    """The call's arguments: the events, then every key of `deltas` and `members` in key order
    (`LOCK_ORDER`) with its deltas (none for a key only members have), then the members in key
    order, each with the position of its key (1-based)."""
    keys = sorted({*deltas, *(key for key, _ in members)})
    contributions = [deltas.get(key, _NO_CONTRIBUTION) for key in keys]
    position = {key: index for index, key in enumerate(keys, start=1)}
    ordered = sorted(members)
    arrays = key_arrays(keys)
    del arrays["account_id"]  # the function's own argument
    return {
        **event_arrays(events, times=True),
        "account": events[0].account_id,
        "now": naive_utc(system_clock()),
        "zone": timezone,
        **arrays,
        "count": Int8Array([c.count for c in contributions]),
        "sum_value": Float8Array([c.sum_value for c in contributions]),
        "sum_value_business_hours": Float8Array(
            [c.sum_value_business_hours for c in contributions]
        ),
        "member_row": Int8Array([position[key] for key, _ in ordered]),
        "member_id": Int8Array([member_id for _, member_id in ordered]),
        "occurrences": Int8Array([members[member] for member in ordered]),
    }


__all__ = ["PostgresOneCall"]
