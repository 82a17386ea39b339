"""String normalisation for search (R4 search.html#string): case- and accent-insensitive."""

from __future__ import annotations

import unicodedata

INDEXED_LENGTH = 200
"""Indexed values are cut to this many characters, at write and at query time alike, so that
index rows stay within PostgreSQL's B-tree limit whatever a client sends."""


def indexed(value: str | None) -> str | None:
    return None if value is None else value[:INDEXED_LENGTH]


_SWEDISH_LAST = str.maketrans({"å": "{", "ä": "|", "æ": "|", "ö": "}", "ø": "}", "ü": "y"})


def swedish_sort_key(value: str) -> str:
    """A key that sorts as a Swedish reader expects: a-z, then å, ä, ö (``_sort`` on strings)."""
    lowered = " ".join(value.casefold().split()).translate(_SWEDISH_LAST)
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(c for c in decomposed if not unicodedata.combining(c))[:INDEXED_LENGTH]


def normalize_string(value: str) -> str:
    """Lower case, accents removed, white space collapsed: ``Åsa  Öberg`` -> ``asa oberg``."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())
