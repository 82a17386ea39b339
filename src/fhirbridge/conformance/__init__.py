"""fhirbridge's own conformance resources (``profiles/``): loaded at start, served read-only,
and used by validation (profiles, value sets, invariants)."""
