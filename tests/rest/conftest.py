"""A private PostgreSQL server, for the tests that stop and start it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import REQUIRE_POSTGRES
from tests.support.postgres import ThrowawayPostgres, find_binaries


@pytest.fixture
def private_postgres() -> Iterator[ThrowawayPostgres]:
    """A durable cluster of the test's own (a commit is acknowledged once it is on disk), so
    that stopping it never disturbs the suite's shared server."""
    if find_binaries() is None:
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL server binaries are not installed", pytrace=False)
        pytest.skip("PostgreSQL server binaries are not installed")
    server = ThrowawayPostgres(durable=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()
