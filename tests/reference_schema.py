"""The reference host's reporting tables, exactly as /work/shared/chatwoot/schema.sql defines them
(read at test time), as statements for PostgreSQL or (translated) SQLite."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

SCHEMA_SQL = Path(os.environ.get("ROLLUPS_REFERENCE_SCHEMA", "/work/shared/chatwoot/schema.sql"))
TABLES = ("reporting_events", "reporting_events_rollups")

#: PostgreSQL spellings in the reference DDL -> SQLite's.
_SQLITE = (
    (r"\b(big)?serial PRIMARY KEY\b", "INTEGER PRIMARY KEY"),
    (r"\btimestamp(\(\d+\))? without time zone\b", "TIMESTAMP"),
    (r"\bUSING btree\s*", ""),
    (r"::jsonb\b", ""),
    (r"\bjsonb\b", "TEXT"),
)


def reference_statements(dialect: str, tables: tuple[str, ...] = TABLES) -> list[str]:
    """The CREATE TABLE / CREATE INDEX statements of `tables` in the reference schema."""
    if not SCHEMA_SQL.is_file():
        pytest.skip(f"reference schema {SCHEMA_SQL} not found")
    text = re.sub(r"--[^\n]*", "", SCHEMA_SQL.read_text())
    statements = [part.strip() for part in text.split(";") if part.strip()]
    wanted = [
        statement
        for statement in statements
        if re.match(rf"CREATE (TABLE|(UNIQUE )?INDEX \w+ ON) ({'|'.join(tables)})\b", statement)
    ]
    assert wanted, f"no statements for {tables} in {SCHEMA_SQL}"
    if dialect == "sqlite":
        for pattern, replacement in _SQLITE:
            wanted = [re.sub(pattern, replacement, statement) for statement in wanted]
    return wanted


def reference_index_names(table: str = "reporting_events") -> set[str]:
    """The names of the reference schema's indexes on `table`."""
    return {
        match[1]
        for statement in reference_statements("postgresql", (table,))
        if (match := re.match(r"CREATE (?:UNIQUE )?INDEX (\w+) ON", statement))
    }
