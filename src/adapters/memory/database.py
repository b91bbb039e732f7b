"""The state of an in-memory database: what every in-memory store reads and writes."""

from __future__ import annotations

import threading
from datetime import date, datetime

import attrs

from reporting_rollups.application.ports import AccountSettings, Job
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import MetricContribution, RollupKey
from reporting_rollups.domain.projection import Member


@attrs.define
class InMemoryDatabase:
    """The state behind every in-memory store, and the lock a unit of work holds for its life."""

    events: dict[int, dict[int, Event]] = attrs.field(factory=dict)  #: account -> id -> event
    event_accounts: dict[int, int] = attrs.field(factory=dict)  #: event id -> account
    #: event id -> when it was stored, for the events stored without `updated_at` (the time an
    #: SQL store writes in that column; an entry of a removed event is never read)
    written: dict[int, datetime] = attrs.field(factory=dict)
    applied: dict[int, int] = attrs.field(factory=dict)  #: applied event id -> account
    rollups: dict[int, dict[RollupKey, MetricContribution]] = attrs.field(factory=dict)
    members: dict[int, dict[Member, int]] = attrs.field(factory=dict)
    accounts: dict[int, AccountSettings] = attrs.field(factory=dict)
    horizons: dict[int, date] = attrs.field(factory=dict)  #: account -> retention horizon
    windows: dict[int | None, int] = attrs.field(factory=dict)  #: account (None: default) -> days
    jobs: dict[int, Job] = attrs.field(factory=dict)  #: fleet jobs by id
    #: job id -> account id -> mismatches (verify; else None) of the accounts it finished
    job_accounts: dict[int, dict[int, int | None]] = attrs.field(factory=dict)
    lock: threading.RLock = attrs.field(factory=threading.RLock)
