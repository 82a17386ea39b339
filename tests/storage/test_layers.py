"""The storage layer knows no caller, and the engines stay behind the connection (issue 12).

``fhirbridge.storage`` reads and writes rows: it imports nothing of who is asking (access,
authentication, the REST layer, the contract rules, the audit log).  And no code outside the
two engine modules and their version writers names an engine's connection class: the SQL
dialect is reached through the connection (``conn.dialect``, ``conn.versions``).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "fhirbridge"
CALLER_PACKAGES = ("access", "auth", "rest", "contract", "audit", "adapters", "notifications", "patients")
ENGINE_MODULES = {"sqlite.py", "postgres.py", "versions_sqlite.py", "versions_postgres.py"}
ENGINE_CLASSES = {"SqliteConnection", "PostgresConnection", "SqliteVersions", "PostgresVersions"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_storage_imports_nothing_of_who_is_asking() -> None:
    modules = sorted((SRC / "storage").glob("*.py"))
    assert modules
    for path in modules:
        for name in _imports(path):
            for package in CALLER_PACKAGES:
                assert not name.startswith(f"fhirbridge.{package}"), f"storage/{path.name} imports {name}"


def test_no_code_outside_the_engines_names_an_engine_connection() -> None:
    for path in sorted(SRC.rglob("*.py")):
        if path.parent.name == "storage" and path.name in ENGINE_MODULES:
            continue
        text = path.read_text(encoding="utf-8")
        named = {name for name in ENGINE_CLASSES if name in text}
        assert not named, f"{path.relative_to(SRC)} names {sorted(named)}: reach the engine through the connection"
