"""The secret the report's record keys are made with (:mod:`fhirbridge.report.cellkey`).

``FHIRBRIDGE_REPORT_KEY_SECRET`` when set (the same on every instance); otherwise one the
database holds (``report_secret``), generated at random the first time it is needed (by the
migration that added the keys, or the first write) and kept, so every instance on the database
agrees without configuration.  Whoever reads the database can read it, and could read the
resources themselves: the secret protects against report readers, not database readers.
Changing it changes the keys of records written from then on only; stored keys stay fixed.
"""

from __future__ import annotations

import secrets

from fhirbridge.storage.database import Connection

_READ = "SELECT secret FROM report_secret WHERE id = 1"
_CLAIM = "INSERT INTO report_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING"


async def database_secret(conn: Connection) -> bytes:
    """The database's secret, generated now if it has none (two writers agree on the first)."""
    found = await conn.fetchval(_READ)
    if found is None:
        await conn.execute(_CLAIM, secrets.token_hex(32))
        found = await conn.fetchval(_READ)
    return str(found).encode()
