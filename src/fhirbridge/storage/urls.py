"""``FHIRBRIDGE_DATABASE_URL``: which engine, and the forms each driver wants."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True)
class DatabaseTarget:
    """A parsed database URL: ``sqlite`` with a file path, or ``postgresql`` with a DSN."""

    kind: Literal["sqlite", "postgresql"]
    sqlalchemy_url: str
    sqlite_path: Path | None = None
    postgres_dsn: str | None = None

    def describe(self) -> str:
        """The URL without its password, for logs."""
        if self.kind == "sqlite":
            return f"sqlite:///{self.sqlite_path}"
        parts = urlsplit(self.postgres_dsn or "")
        host = parts.hostname or ""
        netloc = f"{parts.username}@{host}" if parts.username else host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(("postgresql", netloc, parts.path, "", ""))


def parse_database_url(url: str) -> DatabaseTarget:
    """Accept ``sqlite:///relative.db``, ``sqlite:////absolute.db`` and PostgreSQL URLs
    (``postgresql://``, ``postgres://``, with or without a ``+driver``)."""
    scheme, _, rest = url.partition("://")
    base_scheme = scheme.split("+", 1)[0].lower()
    if base_scheme == "sqlite":
        if not rest.startswith("/"):
            raise ValueError(f"SQLite URLs look like sqlite:///path/to/file.db, not {url!r}")
        path = Path(rest[1:]).expanduser()
        if str(path) in ("", ":memory:"):
            raise ValueError("An in-memory SQLite database cannot be shared between connections; give a file")
        path = path.resolve()
        return DatabaseTarget("sqlite", f"sqlite:///{path}", sqlite_path=path)
    if base_scheme in ("postgresql", "postgres"):
        dsn = f"postgresql://{rest}"
        return DatabaseTarget("postgresql", f"postgresql+asyncpg://{rest}", postgres_dsn=dsn)
    raise ValueError(f"Unsupported database URL scheme {scheme!r}; use sqlite:/// or postgresql://")
