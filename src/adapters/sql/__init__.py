"""What the SQLite and PostgreSQL backends share (SQLAlchemy Core): the tables and their
migrations, the session every statement runs through (error translation), row mapping, the
aggregation generated from the metric registry, the report queries, and the store operations
whose SQL is the same on both."""
