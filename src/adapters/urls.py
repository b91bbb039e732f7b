"""Database URLs: which backend a URL names, and how to show it without its password."""

from __future__ import annotations

import re
from typing import Literal

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


_PASSWORD_PARAMETER = re.compile(r"((?:^|[?&;\s])password=)[^&;\s]*", re.IGNORECASE)


def redact(url: str) -> str:
    """The URL with any password replaced by '***' (safe for messages and logs).

    Covers ``scheme://user:pw@host``, the same without a scheme, and ``password=`` query
    parameters. Errs on the side of hiding: anything between the first ':' and the last '@' of
    the part after the scheme goes.
    """
    scheme, separator, rest = url.partition("://") if "://" in url else ("", "", url)
    userinfo, at, host = rest.rpartition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.split(':', 1)[0]}:***@{host}"
    rest = _PASSWORD_PARAMETER.sub(r"\1***", rest)
    return f"{scheme}{separator}{rest}"


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
