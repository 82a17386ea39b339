"""Swedish identifiers and codes (see DOMAIN.md, national interoperability facts)."""
