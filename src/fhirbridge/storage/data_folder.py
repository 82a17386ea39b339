"""The SQLite data folder, checked before anything opens the database.

SQLite writes its ``-wal`` and ``-shm`` files beside the database file, so the folder must be
writable as well as the file.  A folder that cannot be created or written is a configuration
error naming the path, found before the first connection rather than as "unable to open
database file" from deep inside a driver.
"""

from __future__ import annotations

import os
import tempfile

from fhirbridge.config import ConfigurationError
from fhirbridge.storage.urls import parse_database_url

SETTING = "FHIRBRIDGE_DATABASE_URL"


def check_data_folder(database_url: str) -> None:
    """Create the folder of an SQLite database when it is missing and check that the folder and
    the file can be written; a :class:`ConfigurationError` naming the path when not.  Nothing
    to do for PostgreSQL."""
    target = parse_database_url(database_url)
    if target.sqlite_path is None:
        return
    path = target.sqlite_path
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"{SETTING}: the data folder {folder} cannot be created ({exc.strerror})") from None
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".fhirbridge-write-check-")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigurationError(f"{SETTING}: the data folder {folder} cannot be written ({exc.strerror})") from None
    if path.is_dir():
        raise ConfigurationError(f"{SETTING}: {path} is a folder, not a database file")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise ConfigurationError(f"{SETTING}: the database file {path} cannot be read and written")
