"""The security suite runs in production mode (tests/support/production.py: authentication on,
on both database kinds, one trusted issuer whose keys are generated for the session), its route
suites in every reference form the world can be written in."""

from __future__ import annotations

import pytest

from tests.security.world import REFERENCE_FORMS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The route suites run in every reference form on SQLite, and in the literal form on
    PostgreSQL too (the property test in test_reference_forms.py covers every form on both)."""
    kept = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("reference_form", "literal") != "literal" and params.get("database_url") == "postgresql":
            continue
        kept.append(item)
    items[:] = kept


@pytest.fixture(params=REFERENCE_FORMS)
def reference_form(request: pytest.FixtureRequest) -> str:
    """How the world's resources name their patient (tests/security/world.py)."""
    form: str = request.param
    return form
