"""Typed lists sent to PostgreSQL as binary arrays, encoded in bulk.

The hot-path statements of `adapters.postgres.statements` take each column of a batch as one array
(`unnest`). psycopg's generic list dumper inspects every list and dumps it element by element in
Python; the dumpers here know the element type (`TypedArray` subclasses) and build the binary
array format (`array_send`: a header, then each element as its length and its bytes) with one
`struct.pack` over the whole list, or from one encoded piece per distinct value.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from typing import Any, ClassVar, Final

import psycopg
from psycopg import pq
from psycopg.abc import AdaptContext
from psycopg.adapt import Dumper
from psycopg.postgres import types as pg_types

from reporting_rollups.adapters.sql.tables import EVENT_FIELDS
from reporting_rollups.domain.events import Event

#: One-dimensional array header: dimensions (1), has nulls, element oid, length, lower bound.
_HEADER: Final = ">iiiii"
_EMPTY: Final = struct.Struct(">iii")  # dimensions (0), has nulls, element oid
_NULL: Final = struct.pack(">i", -1)
_INT8: Final = struct.Struct(">iq")
_DATE: Final = struct.Struct(">ii")
_LENGTH: Final = struct.Struct(">i")
_SIZES: Final = {"q": 8, "d": 8}  # bytes of a packed element, per struct code
_DATE_EPOCH: Final = date(2000, 1, 1).toordinal()
_TIMESTAMP_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def _text(value: str) -> bytes:
    data = value.encode()
    return _LENGTH.pack(len(data)) + data


class TypedArray(list[Any]):
    """A list sent as a binary PostgreSQL array of one fixed element type (None is NULL).

    Subclasses set `element` (the PostgreSQL type) and how elements are encoded: `code`, a
    fixed-size `struct` code (the list is packed in one call), and/or `piece`, which encodes one
    value with its length (each distinct value is encoded once: for low-cardinality columns, and
    only for types whose equal values have one encoding, so not floats: 0.0 == -0.0).
    """

    element: ClassVar[str] = "text"
    code: ClassVar[str] = ""
    #: With `code` too: use `piece` when the list holds NULLs (columns with NULLs, agents and
    #: inboxes, have few distinct values).
    pieces_when_null: ClassVar[bool] = False

    @staticmethod
    def piece(value: Any) -> bytes:
        """One value with its length."""
        return _text(value)

    def values(self) -> Sequence[Any]:
        """The values to pack with `code` (a conversion of the elements, None kept)."""
        return self

    def encode(self, oid: int) -> bytes:
        """The list in the binary array format, for element type `oid`."""
        count = len(self)
        if not count:
            return _EMPTY.pack(0, 0, oid)
        has_null = None in self
        code = self.code
        if code and not (has_null and self.pieces_when_null):
            if has_null:
                return self._pack_with_nulls(oid, count)
            flat: list[Any] = [_SIZES[code]] * (2 * count)
            flat[1::2] = self.values()
            return struct.pack(_HEADER + ("i" + code) * count, 1, 0, oid, count, 1, *flat)
        pieces = {value: self.piece(value) for value in set(self) if value is not None}
        pieces[None] = _NULL
        head = struct.pack(_HEADER, 1, has_null, oid, count, 1)
        return head + b"".join(map(pieces.__getitem__, self))

    def _pack_with_nulls(self, oid: int, count: int) -> bytes:
        size, pair = _SIZES[self.code], "i" + self.code
        codes: list[str] = []
        flat: list[Any] = [1, 1, oid, count, 1]
        for value in self.values():
            if value is None:
                codes.append("i")
                flat.append(-1)
            else:
                codes.append(pair)
                flat.append(size)
                flat.append(value)
        return struct.pack(_HEADER + "".join(codes), *flat)


class Int8Array(TypedArray):
    """bigint[] (cast to integer[] in SQL where the column is an integer)."""

    element = "int8"
    code = "q"
    pieces_when_null = True

    @staticmethod
    def piece(value: Any) -> bytes:
        return _INT8.pack(8, value)


class Float8Array(TypedArray):
    """double precision[]."""

    element = "float8"
    code = "d"


class TextArray(TypedArray):
    """text[] (UTF-8)."""

    element = "text"


class DateArray(TypedArray):
    """date[]."""

    element = "date"

    @staticmethod
    def piece(value: Any) -> bytes:
        return _DATE.pack(4, value.toordinal() - _DATE_EPOCH)


class TimestampArray(TypedArray):
    """timestamp (without time zone)[] of UTC instants, from aware datetimes."""

    element = "timestamp"
    code = "q"

    def values(self) -> Sequence[Any]:
        epoch, unit = _TIMESTAMP_EPOCH, _MICROSECOND
        return [None if value is None else (value - epoch) // unit for value in self]


def _dumper(array: type[TypedArray]) -> type[Dumper]:
    info = pg_types[array.element]

    class TypedArrayDumper(Dumper):
        format = pq.Format.BINARY

        def __init__(self, cls: type, context: AdaptContext | None = None) -> None:
            super().__init__(cls, context)
            self.oid = info.array_oid

        def dump(self, obj: TypedArray) -> bytes:
            return obj.encode(info.oid)

    return TypedArrayDumper


_DUMPERS: Final = [
    (array, _dumper(array))
    for array in (Int8Array, Float8Array, TextArray, DateArray, TimestampArray)
]


def register_array_dumpers(connection: psycopg.Connection[Any]) -> None:
    """Teach a psycopg connection to dump the `TypedArray` classes."""
    for array, dumper in _DUMPERS:
        connection.adapters.register_dumper(array, dumper)


#: The array type of each event column the library writes (`adapters.sql.tables.EVENT_COLUMNS`).
EVENT_ARRAYS: Final[Mapping[str, type[TypedArray]]] = {
    "id": Int8Array,
    "name": TextArray,
    "account_id": Int8Array,
    "created_at": TimestampArray,
    "value": Float8Array,
    "value_in_business_hours": Float8Array,
    "user_id": Int8Array,
    "inbox_id": Int8Array,
    "conversation_id": Int8Array,
    "updated_at": TimestampArray,
    "event_start_time": TimestampArray,
    "event_end_time": TimestampArray,
}
_CONTENT_ARRAYS: Final = {name: EVENT_ARRAYS[name] for name in EVENT_FIELDS}


def event_arrays(events: Sequence[Any], *, times: bool = False) -> dict[str, TypedArray]:
    """The events' content fields as arrays, by field name (with `times`, their `TIME_FIELDS`
    too)."""
    arrays = EVENT_ARRAYS if times else _CONTENT_ARRAYS
    return {name: array(map(attrgetter(name), events)) for name, array in arrays.items()}


def have_times(events: Iterable[Event]) -> bool:
    """Whether some of `events` has a `TIME_FIELDS` value (the batch needs their arrays)."""
    return any(
        event.updated_at is not None
        or event.event_start_time is not None
        or event.event_end_time is not None
        for event in events
    )


def key_arrays(keys: Sequence[Sequence[Any]]) -> dict[str, TypedArray]:
    """Rollup keys' columns as arrays, by column name (the enums are `str`: sent as they are)."""
    columns: list[tuple[Any, ...]] = list(zip(*keys, strict=True)) or [()] * 5
    account_id, day, dimension_type, dimension_id, metric = columns
    return {
        "account_id": Int8Array(account_id),
        "date": DateArray(day),
        "dimension_type": TextArray(dimension_type),
        "dimension_id": Int8Array(dimension_id),
        "metric": TextArray(metric),
    }


__all__ = [
    "EVENT_ARRAYS",
    "DateArray",
    "Float8Array",
    "Int8Array",
    "TextArray",
    "TimestampArray",
    "TypedArray",
    "event_arrays",
    "have_times",
    "key_arrays",
    "register_array_dumpers",
]
