"""FHIR operations (R4 operations.html): ``$name`` endpoints beside the RESTful interactions."""
