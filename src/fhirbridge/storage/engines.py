"""Opening the database a ``FHIRBRIDGE_DATABASE_URL`` names, on the engine it names.

The one place that knows both engines: everything else sees :class:`~fhirbridge.storage.
database.Database` and :class:`~fhirbridge.storage.database.Connection` only.
"""

from __future__ import annotations

from fhirbridge.storage.database import Database


async def open_database(
    url: str, *, pool_size: int = 16, read_threads: int = 4, statement_timeout_ms: int = 30_000
) -> Database:
    """Open the database a ``FHIRBRIDGE_DATABASE_URL`` names (schema must be migrated)."""
    from fhirbridge.storage.urls import parse_database_url

    target = parse_database_url(url)
    if target.kind == "postgresql":
        from fhirbridge.storage.postgres import PostgresDatabase

        assert target.postgres_dsn is not None
        return await PostgresDatabase.open(
            target.postgres_dsn, pool_size=pool_size, statement_timeout_ms=statement_timeout_ms, name=target.describe()
        )
    from fhirbridge.storage.sqlite import SqliteDatabase

    assert target.sqlite_path is not None
    return SqliteDatabase(target.sqlite_path, read_threads=read_threads)
