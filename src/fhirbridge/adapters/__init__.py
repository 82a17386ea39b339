"""Outbound formats: each a module with a pure mapping from validated FHIR resources to the
target, its tables in ``mappings/`` (data a region can change without touching code), and one
registry (:mod:`.registry`).  Adding a format means adding a module and a mapping file."""
