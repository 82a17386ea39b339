"""String normalisation for search (R4 search.html#string): case- and accent-insensitive."""

from __future__ import annotations

import unicodedata


def normalize_string(value: str) -> str:
    """Lower case, accents removed, white space collapsed: ``Åsa  Öberg`` -> ``asa oberg``."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())
