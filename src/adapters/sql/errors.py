"""Driver errors as library errors: one translator per database (`ErrorTranslator`), used
around everything a SQL unit of work executes. The message names the database (its password
never shown), the failed action and what to do."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

import attrs
import psycopg
from sqlalchemy import exc as sa_exc

from reporting_rollups.domain.errors import RollupError, StorageError

#: What a backend says about one driver error: the library exception class and the sentence
#: (what went wrong; what to do), or None when it has nothing specific to say.
Explanation = tuple[type[RollupError], str]
Explainer = Callable[[BaseException], Explanation | None]

#: Exceptions the translator turns into library errors. Driver errors mostly arrive wrapped by
#: SQLAlchemy; some (raised while a pooled connection is set up) come bare. An int too large for a
#: 64-bit column raises OverflowError in the sqlite3 module.
DRIVER_ERRORS: Final = (sa_exc.SQLAlchemyError, sqlite3.Error, psycopg.Error, OverflowError)


def _no_explanation(_error: BaseException) -> Explanation | None:
    return None


def driver_message(error: BaseException, limit: int = 300) -> str:
    """A driver's message on one line, without SQLAlchemy's statement/parameter appendix, cut
    to `limit` characters."""
    text = str(error).split("\n[SQL:", 1)[0]
    text = re.sub(r"\s*\(Background on this error at:.*", "", text, flags=re.S)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = "; ".join(lines) or type(error).__name__
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."


@attrs.frozen
class ErrorTranslator:
    """Turns driver and SQLAlchemy errors into `StorageError` / `ConfigurationError` whose
    message names the database (password redacted), the failed action and what to do."""

    where: str  #: "SQLite database /path/x.db", "PostgreSQL postgresql://u:***@h/db"
    explain: Explainer = _no_explanation
    secrets: tuple[str, ...] = ()  #: strings never to show (the URL's password)

    @contextmanager
    def __call__(self, action: str) -> Iterator[None]:
        """Translate errors raised inside the block; library errors pass through."""
        try:
            yield
        except RollupError:
            raise
        except DRIVER_ERRORS as error:
            raise self.translate(error, action) from error

    def translate(self, error: BaseException, action: str) -> RollupError:
        """The library exception for `error` raised while doing `action`."""
        original = getattr(error, "orig", None) or error
        explained = self.explain(original)
        if explained is None and isinstance(error, OverflowError):
            explained = (StorageError, f"a number is too large for its column ({error})")
        if explained is None:
            kind: type[RollupError] = StorageError
            detail = driver_message(original)
        else:
            kind, detail = explained
        return kind(self.scrub(f"{self.where}: {action} failed: {detail}"))

    def scrub(self, message: str) -> str:
        """`message` with every secret replaced by '***'."""
        for secret in self.secrets:
            if secret:
                message = message.replace(secret, "***")
        return message
