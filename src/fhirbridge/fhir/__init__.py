"""FHIR R4 knowledge: the official definitions, JSON, instants, references, outcomes, bundles."""
