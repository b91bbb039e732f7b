"""Streams of `rollups ingest`: counting the bytes read, spooling standard input to read it twice,
cutting events into batches, and reading them ahead in a thread."""

from __future__ import annotations

import contextlib
import itertools
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from typing import IO, Final, TypeVar

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


#: How long the reading thread waits for room before it looks whether it should stop (seconds).
_POLL: Final = 0.05


class _Failed:
    """What the reading thread raised, passed to the consumer to raise there."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END: Final = object()


@contextlib.contextmanager
def read_ahead(items: Iterable[T], depth: int = 2) -> Iterator[Iterator[T]]:
    """`items`, produced by a thread at most `depth` ahead of the consumer: parsing the next
    batch overlaps the work done with this one wherever that releases the GIL (a database
    call). What the thread raises is raised by the consumer at that item. Leaving the block
    (an interruption included) stops the thread and waits for it, so that the source may be
    closed after it."""
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def offer(item: object) -> bool:
        while not stopped.is_set():
            try:
                slots.put(item, timeout=_POLL)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
        except BaseException as error:  # handed to the consumer
            offer(_Failed(error))
            return
        offer(_END)

    def consume() -> Iterator[T]:
        while True:
            item = slots.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]  # only the items of `items` are put besides

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stopped.set()
        thread.join()


__all__ = ["CountingReader", "batched", "read_ahead", "spool"]
