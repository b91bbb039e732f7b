"""The accepted ranges of an event's fields: the one place that states them.

`Event` rejects anything outside them with `InvalidEventError`, so every adapter stores exactly
the same events; the SQL aggregations and `EventStore.span` use the same numbers to ignore raw
rows a host wrote outside them (they contribute nothing, like unknown names).

- **Ids**: `id` at most 2⁶³−1 (the reference's BIGINT), `account_id`, `user_id`, `inbox_id` and
  `conversation_id` at most 2³¹−1 (its INTEGER columns); all positive.
- **Instants**: `MIN_CREATED_AT <= created_at < MAX_CREATED_AT` (1900-01-01 to 2200-01-01 UTC,
  end excluded). Every UTC offset a zone has ever had is under 24 hours, so the local day of any
  accepted instant, and the bounds of that day and the next, are far inside what `datetime`
  represents (years 1 to 9999) in every zone; and a report or backfill over all the accepted
  days stays bounded (300 years, about 110,000 days). Local dates outside `MIN_LOCAL_DATE`
  (1899-12-31) to `MAX_LOCAL_DATE` (2200-01-01) hold no accepted instant: asking for one is an
  `InvalidRangeError` (`domain.timezones.local_day`).
- **Values**: `value` and `value_in_business_hours` are finite with `abs(v) <= MAX_ABS_VALUE`
  (1e9 seconds, about 31.7 years), or None. Sums of 2⁵³ such values stay finite (about 9e24),
  and integers up to the bound convert to float exactly.
- **Names**: a non-empty, not blank string of at most `MAX_NAME_LENGTH` (255) characters, without
  NUL characters and encodable as UTF-8 (no lone surrogates). 255 characters are at most 1,020
  UTF-8 bytes, well inside the ~2,700 bytes a PostgreSQL btree index entry may hold (the
  reference indexes `name`, also with `account_id` and `created_at`), and the length a Rails
  `string` column gets on databases that limit it; PostgreSQL text cannot hold NUL at all.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

#: Largest event id: the reference schema's `reporting_events.id` is a BIGINT.
MAX_EVENT_ID: Final = 2**63 - 1
#: Largest account, user, inbox or conversation id: those columns are INTEGER in the reference.
MAX_REFERENCE_ID: Final = 2**31 - 1
#: First accepted `created_at` (inclusive).
MIN_CREATED_AT: Final = datetime(1900, 1, 1, tzinfo=UTC)
#: End of the accepted `created_at` range (exclusive).
MAX_CREATED_AT: Final = datetime(2200, 1, 1, tzinfo=UTC)
#: First and last local dates that can hold an accepted instant in some zone (every UTC offset
#: is under a day): the dates a backfill, verify or report may ask for.
MIN_LOCAL_DATE: Final = (MIN_CREATED_AT - timedelta(days=1)).date()
MAX_LOCAL_DATE: Final = MAX_CREATED_AT.date()
#: Largest magnitude of `value` and `value_in_business_hours`, in seconds (about 31.7 years).
MAX_ABS_VALUE: Final = 1e9
#: Longest event name, in characters (at most 4 UTF-8 bytes each).
MAX_NAME_LENGTH: Final = 255
