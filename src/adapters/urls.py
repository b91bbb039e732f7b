"""Database URLs: which backend a URL names, and how to show it without its password."""

from __future__ import annotations

import re
from typing import Final, Literal
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import attrs

from reporting_rollups.domain.errors import ConfigurationError

Backend = Literal["memory", "sqlite", "postgres"]

_SCHEMES: dict[str, Backend] = {
    "memory": "memory",
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "postgresql+psycopg": "postgres",
    "postgres": "postgres",
}

#: A ``key=value`` parameter of a URL query or of a libpq ``key=value`` string (values may be
#: single-quoted there, with backslash escapes).
_PARAMETER = re.compile(
    r"(?P<lead>^|[?&;\s])(?P<key>[^=?&;\s]+)(?P<eq>\s*=\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'?|[^&;\s]*)"
)


def _is_secret(key: str) -> bool:
    """A parameter whose value is secret: ``password``, ``sslpassword`` (after percent-decoding,
    case-insensitively, so that no spelling slips through)."""
    return "password" in unquote_plus(key).lower()


def _split(url: str) -> tuple[str, str]:
    """(scheme with '://' or '', the rest)."""
    scheme, separator, rest = url.partition("://")
    return (scheme + separator, rest) if separator else ("", url)


def _userinfo_password(rest: str) -> str | None:
    """What `redact` hides of the userinfo: between the first ':' and the last '@'."""
    userinfo, at, _host = rest.rpartition("@")
    if at and ":" in userinfo:
        return userinfo.split(":", 1)[1]
    return None


def redact(url: str) -> str:
    """The URL with every password replaced by '***' (safe for messages and logs).

    Covers ``scheme://user:pw@host``, the same without a scheme, and ``password=`` /
    ``sslpassword=`` parameters (query or libpq ``key=value`` form, any case or percent-encoding
    of the name). Errs on the side of hiding: anything between the first ':' and the last '@' of
    the part after the scheme goes.
    """
    scheme, rest = _split(url)
    if _userinfo_password(rest) is not None:
        userinfo, _at, host = rest.rpartition("@")
        rest = f"{userinfo.split(':', 1)[0]}:***@{host}"

    def hide(match: re.Match[str]) -> str:
        if not _is_secret(match["key"]):
            return match[0]
        return f"{match['lead']}{match['key']}{match['eq']}***"

    return scheme + _PARAMETER.sub(hide, rest)


def password_forms(url: str) -> tuple[str, ...]:
    """Every form in which a password of `url` could appear in a driver's message: as written,
    percent-decoded and percent-encoded; longest first (replace them in this order)."""
    _scheme, rest = _split(url)
    found: set[str] = set()
    raw = _userinfo_password(rest)
    if raw is not None:
        found.add(raw)
        # SQLAlchemy (and libpq) end the password at the first '@' after it.
        found.add(raw.split("@", 1)[0])
    for match in _PARAMETER.finditer(rest):
        if _is_secret(match["key"]):
            value = match["value"]
            found.add(value)
            if value.startswith("'"):
                found.add(re.sub(r"\\(.)", r"\1", value.strip("'")))
    forms: set[str] = set()
    for value in found:
        for decoded in (value, unquote(value), unquote_plus(value)):
            forms.update((decoded, quote(decoded, safe=""), quote_plus(decoded), quote(decoded)))
    return tuple(sorted((form for form in forms if form), key=lambda form: (-len(form), form)))


@attrs.frozen
class DatabaseURL:
    """A parsed database URL (its repr hides the password)."""

    url: str = attrs.field(repr=redact)
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


#: The backend of each SQLAlchemy dialect and driver the library speaks.
_DIALECTS: Final[dict[tuple[str, str], Backend]] = {
    ("postgresql", "psycopg"): "postgres",
    ("sqlite", "pysqlite"): "sqlite",
}


def engine_backend(engine: object) -> Backend:
    """The backend of a host's SQLAlchemy `Engine` (`open_rollups(engine=)`):
    `ConfigurationError` for another object, dialect or driver."""
    from sqlalchemy import Engine  # imported when used: a memory-only host never loads it

    if not isinstance(engine, Engine):
        kind = type(engine)
        raise ConfigurationError(
            f"engine= takes the host's SQLAlchemy Engine, not {kind.__module__}.{kind.__qualname__}"
        )
    dialect = engine.dialect
    backend = _DIALECTS.get((dialect.name, dialect.driver))
    if backend is None:
        raise ConfigurationError(
            f"engine= is {dialect.name}+{dialect.driver}; the library speaks PostgreSQL through "
            "psycopg 3 (postgresql+psycopg://) and SQLite through pysqlite (sqlite:///)"
        )
    return backend
