"""The FHIR REST layer: a route table that mirrors R4 http.html, one module per interaction."""
