"""Storage: the schema, the two database engines, and FHIR-shaped SQL on top of them."""
