"""Streams of `rollups ingest`: counting the bytes read, spooling standard input to read it twice,
and cutting events into batches."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

T = TypeVar("T")


class CountingReader:
    """A binary stream's lines, counting the bytes read (for progress bars)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.bytes_read = 0

    def __iter__(self) -> Iterator[bytes]:
        for raw in self.stream:
            self.bytes_read += len(raw)
            yield raw


def spool(stream: IO[bytes], max_memory: int = 8 * 1024 * 1024) -> IO[bytes]:
    """A rewound temporary copy of a stream (kept in memory up to `max_memory` bytes, then on
    disk), so that standard input can be read twice."""
    copy: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=max_memory)  # noqa: SIM115
    shutil.copyfileobj(stream, copy)
    copy.seek(0)
    return copy


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` items, read lazily."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


__all__ = ["CountingReader", "batched", "spool"]
