"""Who runs a fleet job (`application.jobs.JobLocks`) on memory and SQLite: a lock per job in
this process, and for an SQLite file also an exclusive `flock` of a file beside it, which the
operating system releases when the holding process dies (a SIGKILL leaves nothing to clean)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: the in-process lock only
    fcntl = None  # type: ignore[assignment]


class InProcessJobLocks:
    """Job locks among the threads of one process (a memory database is never shared with
    another process)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held: set[int] = set()

    @contextlib.contextmanager
    def hold(self, job_id: int) -> Iterator[bool]:
        with self._guard:
            if job_id in self._held:
                held = False
            else:
                self._held.add(job_id)
                held = True
        try:
            yield held
        finally:
            if held:
                with self._guard:
                    self._held.discard(job_id)


class FileJobLocks:
    """Job locks across the processes using one SQLite file: an exclusive, non-blocking
    `flock` of ``<database>-rollups-job-<id>.lock``, deleted on release (a holder checks, once
    locked, that the path is still its file, so that a file deleted meanwhile is not held)."""

    def __init__(self, database: str | Path) -> None:
        self.database = Path(database)
        self._threads = InProcessJobLocks()

    def path(self, job_id: int) -> Path:
        """The lock file of the job."""
        return self.database.with_name(f"{self.database.name}-rollups-job-{job_id}.lock")

    @contextlib.contextmanager
    def hold(self, job_id: int) -> Iterator[bool]:
        with self._threads.hold(job_id) as held:
            if not held or fcntl is None:
                yield held
                return
            descriptor = self._lock(self.path(job_id))
            try:
                yield descriptor is not None
            finally:
                if descriptor is not None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path(job_id))
                    os.close(descriptor)

    @staticmethod
    def _lock(path: Path) -> int | None:
        """An open descriptor of `path` holding its lock, or None when another holds it."""
        while True:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                return None
            try:
                same = os.stat(path).st_ino == os.fstat(descriptor).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return descriptor
            os.close(descriptor)  # the holder deleted it meanwhile: lock the new file


__all__ = ["FileJobLocks", "InProcessJobLocks"]
