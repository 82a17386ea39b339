"""The mapping tables of the outbound formats (``mappings/*.json``): codes, texts and choices,
kept apart from the code that maps."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import fhirbridge


def mappings_directory() -> Path:
    """``mappings/``: packaged inside the wheel, or the repository's folder."""
    packaged = Path(fhirbridge.__file__).parent / "_mappings"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "mappings"


@cache
def mapping(name: str) -> dict[str, Any]:
    """A mapping table, read once."""
    table: dict[str, Any] = json.loads((mappings_directory() / f"{name}.json").read_text(encoding="utf-8"))
    return table
