"""FHIR search (R4 search.html): parameter definitions, index extraction and query compilation."""
