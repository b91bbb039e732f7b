"""Database URLs: which backend a URL names, and how to show it without its password."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import attrs

from domain.errors import ConfigurationError

Backend = Literal["memory", "sqlite", "postgres"]

_SCHEMES: dict[str, Backend] = {
    "memory": "memory",
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "postgresql+psycopg": "postgres",
    "postgres": "postgres",
}


def redact(url: str) -> str:
    """The URL with any password replaced by '***' (safe for messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


@attrs.frozen
class DatabaseURL:
    """A parsed database URL."""

    url: str
    backend: Backend

    @classmethod
    def parse(cls, url: str) -> DatabaseURL:
        """Recognise memory://, sqlite:///path and postgresql://... URLs."""
        if not isinstance(url, str) or "://" not in url:
            raise ConfigurationError(
                f"database URL {redact(str(url))!r} is malformed; use memory://, "
                "sqlite:///path/to.db or postgresql://user@host:5432/dbname"
            )
        scheme = url.split("://", 1)[0].lower()
        backend = _SCHEMES.get(scheme)
        if backend is None:
            raise ConfigurationError(
                f"database URL {redact(url)!r}: unsupported scheme {scheme!r}; use memory://, "
                "sqlite:///path/to.db or postgresql://user@host:5432/dbname"
            )
        if backend == "sqlite" and not url.startswith(("sqlite:///", "sqlite://")):
            raise ConfigurationError(f"database URL {redact(url)!r}: use sqlite:///path/to.db")
        return cls(url, backend)

    def __str__(self) -> str:
        return redact(self.url)
