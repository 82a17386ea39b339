"""String normalisation for search (R4 search.html#string): case- and accent-insensitive."""

from __future__ import annotations

import unicodedata

INDEXED_LENGTH = 200
"""Indexed values are cut to this many characters, at write and at query time alike, so that
index rows stay within PostgreSQL's B-tree limit whatever a client sends."""


def indexed(value: str | None) -> str | None:
    return None if value is None else value[:INDEXED_LENGTH]


def normalize_string(value: str) -> str:
    """Lower case, accents removed, white space collapsed: ``Åsa  Öberg`` -> ``asa oberg``."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())
